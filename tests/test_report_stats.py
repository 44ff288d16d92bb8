"""Reference tests of galaxybench.report.stats against scipy and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from galaxybench.report import stats


@pytest.mark.parametrize("values", [[0.47, 0.46, 0.45, 0.40], [0.1, 0.9, 0.35, 0.52, 0.61, 0.2]])
def test_bootstrap_interval_matches_scipy_percentile(values):
    ref = scipy.stats.bootstrap((np.array(values),), np.mean, method="percentile",
                                n_resamples=10_000, rng=np.random.default_rng(3))
    low, high = stats.bootstrap_ci(values, seed=3)
    assert low == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert high == pytest.approx(ref.confidence_interval.high, rel=1e-12)


def test_bootstrap_of_two_values_spans_them():
    # Resampled means of {a, b} are a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4, so the 2.5th
    # and 97.5th percentiles are a and b exactly.
    assert stats.bootstrap_ci([0.2, 0.6]) == (0.2, 0.6)


def test_bootstrap_is_seeded_and_constant_data_is_degenerate():
    x = [0.3, 0.5, 0.4, 0.45]
    assert stats.bootstrap_ci(x, seed=1) == stats.bootstrap_ci(x, seed=1)
    assert stats.bootstrap_ci([0.4, 0.4, 0.4]) == pytest.approx((0.4, 0.4))


def test_summarize_mean_std_ddof1_and_drops_missing():
    s = stats.summarize([0.40, None, 0.42, float("nan"), 0.38])
    assert s.n == 3
    assert s.mean == pytest.approx(0.40)
    assert s.std == pytest.approx(0.02)  # sqrt(((0)^2 + 0.02^2 + 0.02^2) / 2)
    assert s.ci_low <= s.mean <= s.ci_high


def test_summarize_one_and_zero_values():
    one = stats.summarize([0.5])
    assert one.n == 1 and one.mean == 0.5
    assert math.isnan(one.std) and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    none = stats.summarize([None])
    assert none.n == 0 and math.isnan(none.mean)


def test_paired_gain_by_hand():
    row = {1: 0.47, 2: 0.46, 3: 0.45, 4: 0.9}  # seed 4 has no baseline: not paired
    base = {1: 0.40, 2: 0.46, 3: 0.38, 5: 0.1}
    g = stats.paired_gain(row, base)
    diffs = [0.47 - 0.40, 0.46 - 0.46, 0.45 - 0.38]
    assert g.n == 3
    assert g.mean == pytest.approx(sum(diffs) / 3)
    assert g.win_share == pytest.approx(2 / 3)  # the tie on seed 2 is not a win
    assert (g.ci_low, g.ci_high) == stats.bootstrap_ci(diffs)


def test_paired_gain_without_common_seeds_is_empty():
    g = stats.paired_gain({1: 0.5}, {2: 0.4})
    assert g.n == 0 and math.isnan(g.mean) and math.isnan(g.win_share)


def test_one_seed_is_shown_as_having_no_interval():
    from galaxybench.report import display

    s = stats.summarize([0.42])
    assert display.interval(s.ci_low, s.ci_high, s.n) == "n=1: no interval"
    assert display.mean_std(s.mean, s.std, s.n) == "0.4200"
    assert display.interval(0.1, 0.2, 3, sign=True) == "[+0.1000, +0.2000]"
