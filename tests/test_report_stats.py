"""Reference tests of galaxybench.report.stats against scipy and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from galaxybench.report import stats


@pytest.mark.parametrize("values", [[0.47, 0.46, 0.45, 0.40], [0.1, 0.9, 0.35, 0.52, 0.61, 0.2]])
def test_t_interval_matches_scipy(values):
    x = np.array(values)
    ref = scipy.stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    assert stats.t_interval(values) == pytest.approx(ref, rel=1e-12)


def test_t_interval_by_hand():
    # x = 0.40, 0.42, 0.38: mean 0.40, s = 0.02, sem = 0.02 / sqrt(3) = 0.011547;
    # t_{0.975, 2} = 4.302653 (tables), half-width = 0.049683.
    low, high = stats.t_interval([0.40, 0.42, 0.38])
    assert low == pytest.approx(0.40 - 0.049683, abs=1e-6)
    assert high == pytest.approx(0.40 + 0.049683, abs=1e-6)


def test_three_seeds_are_not_the_min_and_max():
    # The percentile bootstrap with n = 3 gave the extremes; the t-interval is much wider.
    low, high = stats.t_interval([0.40, 0.42, 0.38])
    assert low < 0.38 - 0.02 and high > 0.42 + 0.02


def test_two_values_and_constant_data():
    # n = 2: t_{0.975, 1} = 12.7062; mean 0.4, s = 0.2 * sqrt(2), sem = s / sqrt(2) = 0.2
    assert stats.t_interval([0.2, 0.6]) == pytest.approx((0.4 - 2.541241, 0.4 + 2.541241), abs=1e-5)
    assert stats.t_interval([0.4, 0.4, 0.4]) == pytest.approx((0.4, 0.4))
    assert all(math.isnan(v) for v in stats.t_interval([0.4]))


def test_interval_label_names_method_and_n():
    assert stats.interval_label(5) == "95% t-interval, n=5"


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
    assert (g.ci_low, g.ci_high) == stats.t_interval(diffs)
    assert not g.resolved  # [-0.07, +0.16]: includes 0


def test_paired_gain_pairs_by_seed_and_split():
    # the same seed on two different splits are two different pairs; a split the baseline
    # never ran on is not paired
    row = {(1, 10): 0.50, (1, 11): 0.60, (2, 12): 0.55}
    base = {(1, 10): 0.40, (1, 11): 0.45, (2, 99): 0.0}
    g = stats.paired_gain(row, base)
    assert g.n == 2 and g.mean == pytest.approx((0.10 + 0.15) / 2)
    assert not g.resolved  # n = 2: t = 12.7 makes [-0.19, +0.44]
    three = stats.paired_gain({**row, (2, 99): 0.12}, base)
    assert three.n == 3 and three.resolved  # diffs 0.10, 0.15, 0.12: [+0.06, +0.19]


def test_paired_gain_without_common_seeds_is_empty():
    g = stats.paired_gain({1: 0.5}, {2: 0.4})
    assert g.n == 0 and math.isnan(g.mean) and math.isnan(g.win_share)


def test_one_seed_is_shown_as_having_no_interval():
    from galaxybench.report import display

    s = stats.summarize([0.42])
    assert display.interval(s.ci_low, s.ci_high, s.n) == "n=1: no interval"
    assert display.mean_std(s.mean, s.std, s.n) == "0.4200"
    assert display.interval(0.1, 0.2, 3, sign=True) == "[+0.1000, +0.2000]"
