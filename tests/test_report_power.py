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


def _fieller_by_roots(x, y, confidence=0.95):
    """Fieller's limits as the roots of (a - rho b)^2 = t^2 (v11 - 2 rho v12 + rho^2 v22)."""
    import numpy as np
    import scipy.stats

    n = len(x)
    a, b = np.mean(x), np.mean(y)
    c = np.cov(x, y, ddof=1) / n
    t2 = scipy.stats.t.ppf((1 + confidence) / 2, n - 1) ** 2
    # (b^2 - t2 v22) rho^2 - 2 (a b - t2 v12) rho + (a^2 - t2 v11) = 0
    roots = np.roots([b * b - t2 * c[1, 1], -2 * (a * b - t2 * c[0, 1]), a * a - t2 * c[0, 0]])
    return sorted(roots.real)


def test_captured_fraction_matches_fiellers_quadratic():
    base = {1: 0.40, 2: 0.42, 3: 0.38, 4: 0.41, 5: 0.39}
    oracle = {1: 0.50, 2: 0.51, 3: 0.49, 4: 0.52, 5: 0.48}  # headroom about +0.10, resolved
    row = {1: 0.45, 2: 0.45, 3: 0.44, 4: 0.45, 5: 0.43}
    got = power.captured_fraction(row, base, oracle)
    x = [row[k] - base[k] for k in base]
    y = [oracle[k] - base[k] for k in base]
    # ratio of the mean differences: 0.044 / 0.10 = 0.44
    assert got.defined and got.n == 5
    assert got.value == pytest.approx(0.044 / 0.100, rel=1e-9)
    low, high = _fieller_by_roots(x, y)
    assert (got.ci_low, got.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert got.ci_low < got.value < got.ci_high


def test_captured_fraction_undefined_when_the_headroom_is_not_resolved():
    from galaxybench.report import stats

    base = {1: 0.40, 2: 0.42, 3: 0.38}
    oracle = {1: 0.45, 2: 0.38, 3: 0.40}  # +0.05, -0.04, +0.02: the interval includes 0
    row = {1: 0.44, 2: 0.44, 3: 0.40}
    assert not stats.paired_gain(oracle, base).resolved
    got = power.captured_fraction(row, base, oracle)
    assert not got.defined and math.isnan(got.value) and got.n == 3


def test_paired_sd_on_shared_keys():
    sd, n = power.paired_sd({1: 0.5, 2: 0.6, 3: None, 4: 0.7}, {1: 0.4, 2: 0.4, 3: 0.4})
    # differences 0.1 and 0.2 on keys 1, 2: sd = 0.0707107
    assert n == 2 and sd == pytest.approx(0.0707107, abs=1e-7)
