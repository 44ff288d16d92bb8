"""Statistics of confirmed runs: mean, std, percentile bootstrap interval, paired gain by seed.

Usage::

    s = summarize([0.41, 0.44, 0.39]); s.mean, s.ci_low, s.ci_high
    g = paired_gain({0: 0.45, 1: 0.47}, {0: 0.41, 1: 0.44}); g.mean, g.win_share, g.n
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

# 10,000 resamples keep the Monte Carlo error of a 95% percentile interval well below the
# seed-to-seed spread of minority F1 (Efron & Tibshirani 1993, ch. 19: B >= 1000 for intervals).
N_RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0

NAN = float("nan")


@dataclass(frozen=True)
class Summary:
    """Mean, sample std (ddof=1) and bootstrap interval of the mean of n finite values.

    With n == 0 everything is NaN; with n == 1 the std and the interval are NaN (degenerate: one
    seed says nothing about the spread), which the tables print as "n=1".
    """

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class PairedGain:
    """Gain of a row over the baseline, paired by seed.

    Attributes:
        n: number of seeds present (and finite) in both the row and the baseline.
        mean: mean of the per-seed differences row - baseline.
        ci_low, ci_high: percentile bootstrap interval of that mean (NaN when n < 2).
        win_share: share of paired seeds on which the row is strictly better (ties do not win).
    """

    n: int
    mean: float
    ci_low: float
    ci_high: float
    win_share: float


def finite(values: Iterable[float | None]) -> np.ndarray:
    """The finite values of ``values`` as float64 (None, NaN and inf dropped)."""
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def bootstrap_ci(
    values: Iterable[float | None],
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean.

    Resamples the n values with replacement ``n_resamples`` times (indices drawn as
    ``Generator.integers(0, n, (n_resamples, n))``, the same draw as ``scipy.stats.bootstrap``),
    and returns the (1-c)/2 and (1+c)/2 percentiles of the resampled means. Seeded: the same
    values give the same interval. NaN, NaN when fewer than two finite values.
    """
    x = finite(values)
    if x.size < 2:
        return NAN, NAN
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (n_resamples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def summarize(values: Iterable[float | None], **bootstrap_kwargs: float) -> Summary:
    """Mean, std (ddof=1) and bootstrap interval of the finite ``values``."""
    x = finite(values)
    if x.size == 0:
        return Summary(0, NAN, NAN, NAN, NAN)
    std = float(np.std(x, ddof=1)) if x.size > 1 else NAN
    low, high = bootstrap_ci(x, **bootstrap_kwargs)
    return Summary(int(x.size), float(x.mean()), std, low, high)


def paired_gain(
    row: Mapping[int, float | None],
    baseline: Mapping[int, float | None],
    **bootstrap_kwargs: float,
) -> PairedGain:
    """Gain of ``row`` over ``baseline``, both keyed by seed; seeds missing on either side drop.

    Args:
        row: seed -> score (e.g. minority F1) of the configuration.
        baseline: seed -> score of the baseline on the same seeds and split.
    """
    seeds = sorted(s for s in row if s in baseline and _is_finite(row[s])
                   and _is_finite(baseline[s]))
    if not seeds:
        return PairedGain(0, NAN, NAN, NAN, NAN)
    diffs = np.array([float(row[s]) - float(baseline[s]) for s in seeds])
    low, high = bootstrap_ci(diffs, **bootstrap_kwargs)
    return PairedGain(len(seeds), float(diffs.mean()), low, high, float(np.mean(diffs > 0)))


def _is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))
