"""The rebalancing plan's threshold acts over the whole searched range (Galaxy10 DECaLS counts).

Usage: ``pytest tests/test_rebalance_plan.py``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from galaxybench.stages.rebalance_plan import plan_counts
from galaxybench.sweep.space import load_search_space

# Galaxy10 DECaLS images per class (Leung & Bovy's astroNN release).
DECALS = np.array([1081, 1853, 2645, 2027, 334, 2043, 1829, 2628, 1423, 1873])


def _threshold_range(space_name: str) -> tuple[float, float, float]:
    """(low, high, target) of a shipped space's searched threshold and its base target."""
    space = load_search_space(space_name)
    (param,) = [p for p in space.params if p.key == "rebalance.threshold"]
    return float(param.low), float(param.high), space.base_config().rebalance.target


@pytest.mark.parametrize("space_name", ["default", "paper"])
def test_thresholds_more_than_005_apart_give_different_plans(space_name: str) -> None:
    low, high, target = _threshold_range(space_name)
    # A fine grid over the range (both ends included) plus random points, every pair compared.
    rng = np.random.default_rng(0)
    grid = np.concatenate([np.linspace(low, high, 81), rng.uniform(low, high, 40)])
    plans = {float(t): plan_counts(DECALS, float(t), target) for t in grid}
    same = [
        (a, b)
        for a, b in itertools.combinations(sorted(plans), 2)
        if b - a > 0.05 and plans[a] == plans[b]
    ]
    assert not same, f"{space_name}: equal plans for thresholds {same[:3]}"
    # More threshold, more synthetic images: the search sees a monotone knob.
    totals = [sum(plans[t].values()) for t in sorted(plans)]
    assert totals == sorted(totals) and totals[0] < totals[-1]


def test_fill_level_is_max_of_threshold_and_target_by_hand() -> None:
    # threshold 0.8 (2116.0) > target 0.66: classes 0, 1, 4, 5?, ... below 2116 are filled to
    # ceil(0.8 x 2645) = 2116 (the old rule filled only up to 1746 and left 1829..2043 untouched).
    plan = plan_counts(DECALS, 0.8, 0.66)
    below = [c for c, n in enumerate(DECALS) if n < 2116]
    assert plan == {c: 2116 - int(DECALS[c]) for c in below}
    assert sorted(plan) == [0, 1, 3, 4, 5, 6, 8, 9]
    # threshold 0.5 (1322.5) < target 0.8: the target is the fill level, ceil(2116.0) = 2116.
    assert plan_counts(DECALS, 0.5, 0.8) == {0: 2116 - 1081, 4: 2116 - 334}
    # threshold = target: the paper's rule, 0.66 x 2645 = 1745.7 -> 1746.
    goal = math.ceil(0.66 * 2645)
    assert plan_counts(DECALS, 0.66, 0.66) == {0: goal - 1081, 4: goal - 334, 8: goal - 1423}
