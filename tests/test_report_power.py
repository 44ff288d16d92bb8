"""The minimum detectable effect and the seeds needed, against hand computations."""

from __future__ import annotations

import math

import pytest

from galaxybench.report import power

# Student-t quantiles from a printed table (e.g. Abramowitz & Stegun, table 26.10):
# t_{0.975, 4} = 2.776445, t_{0.80, 4} = 0.940965; t_{0.975, 9} = 2.262157, t_{0.80, 9} = 0.883404.


def test_mde_matches_a_hand_computation_at_n5():
    # (2.776445 + 0.940965) * 0.05 / sqrt(5) = 3.717410 * 0.0223607 = 0.0831238
    assert power.mde(0.05, 5) == pytest.approx(0.0831238, abs=2e-7)


def test_mde_matches_a_hand_computation_at_n10():
    # (2.262157 + 0.883404) * 0.05 / sqrt(10) = 3.145561 * 0.0158114 = 0.0497357
    assert power.mde(0.05, 10) == pytest.approx(0.0497357, abs=2e-7)


def test_seeds_needed_is_the_smallest_n_that_reaches_the_effect():
    # n = 10 gives 0.04973 <= 0.05 (above); n = 9: (2.306004 + 0.888884) * 0.05 / 3 = 0.05325.
    assert power.mde(0.05, 9) == pytest.approx(0.0532481, abs=2e-7)
    assert power.seeds_needed(0.05, 0.05) == 10
    assert power.seeds_needed(0.05, 0.0831238 + 1e-6) == 5


def test_mde_is_about_the_effect_found_with_80_percent_power():
    # The t approximation against the exact power from the noncentral t: a little below 0.8 at
    # few seeds (0.766 at n = 3, 0.791 at n = 5), exact within 0.01 from n = 5 on.
    assert power.exact_power(0.05, 3, power.mde(0.05, 3)) == pytest.approx(0.766, abs=0.001)
    for n in (5, 10, 30):
        assert power.exact_power(0.05, n, power.mde(0.05, n)) == pytest.approx(0.8, abs=0.01)


def test_degenerate_inputs():
    assert math.isnan(power.mde(0.05, 1))
    assert math.isnan(power.mde(float("nan"), 5))
    assert power.mde(0.0, 5) == 0.0
    assert power.seeds_needed(0.0, 0.01) == 2
    assert power.seeds_needed(float("nan"), 0.01) is None
    assert power.seeds_needed(10.0, 1e-6) is None
    with pytest.raises(ValueError):
        power.seeds_needed(0.05, 0.0)
