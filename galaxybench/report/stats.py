"""Statistics of confirmed runs: mean, std, Student-t interval, paired gain over the baseline.

Usage::

    s = summarize([0.41, 0.44, 0.39]); s.mean, s.ci_low, s.ci_high
    g = paired_gain({0: 0.45, 1: 0.47}, {0: 0.41, 1: 0.44}); g.mean, g.win_share, g.n
    interval_label(5)   # "95% t-interval, n=5"

Why a t-interval and not a bootstrap: confirmation runs have a handful of seeds (3 to 10). With
n = 3 the 2.5th/97.5th percentiles of a percentile bootstrap are the sample's min and max, and its
true coverage is far below the nominal 95%. The Student-t interval of the mean,
``mean ± t_{(1+c)/2, n-1} * s / sqrt(n)``, has exact coverage for normal data at any n >= 2 and is
the standard choice for a few paired differences (Student 1908, Biometrika 6, 1).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.stats

CONFIDENCE = 0.95
METHOD = "t-interval"

NAN = float("nan")


def interval_label(n: int | None = None, confidence: float = CONFIDENCE) -> str:
    """The method label printed beside every interval, e.g. "95% t-interval, n=5"."""
    text = f"{round(100 * confidence)}% {METHOD}"
    return text if n is None else f"{text}, n={n}"


@dataclass(frozen=True)
class Summary:
    """Mean, sample std (ddof=1) and t-interval of the mean of n finite values.

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
    """Gain of a row over a reference (the baseline), paired by seed (and split seed).

    Attributes:
        n: number of pairing keys present (and finite) on both sides.
        mean: mean of the per-key differences row - reference.
        ci_low, ci_high: t-interval of that mean (NaN when n < 2).
        win_share: share of pairs on which the row is strictly better (ties do not win).
    """

    n: int
    mean: float
    ci_low: float
    ci_high: float
    win_share: float

    @property
    def resolved(self) -> bool:
        """True when the interval excludes 0: the sign of the difference is resolved."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


def finite(values: Iterable[float | None]) -> np.ndarray:
    """The finite values of ``values`` as float64 (None, NaN and inf dropped)."""
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def t_interval(
    values: Iterable[float | None], confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Student-t interval of the mean of the finite ``values``; (NaN, NaN) below two values.

    ``scipy.stats.t.interval(confidence, n - 1, loc=mean, scale=std/sqrt(n))`` (ddof=1); values
    that are all equal give the zero-width interval (mean, mean), which scipy leaves undefined.
    """
    x = finite(values)
    if x.size < 2:
        return NAN, NAN
    mean = float(x.mean())
    sem = float(np.std(x, ddof=1)) / math.sqrt(x.size)
    if sem == 0.0:
        return mean, mean
    low, high = scipy.stats.t.interval(confidence, x.size - 1, loc=mean, scale=sem)
    return float(low), float(high)


def summarize(values: Iterable[float | None], confidence: float = CONFIDENCE) -> Summary:
    """Mean, std (ddof=1) and t-interval of the mean of the finite ``values``."""
    x = finite(values)
    if x.size == 0:
        return Summary(0, NAN, NAN, NAN, NAN)
    std = float(np.std(x, ddof=1)) if x.size > 1 else NAN
    low, high = t_interval(x, confidence)
    return Summary(int(x.size), float(x.mean()), std, low, high)


def paired_gain(
    row: Mapping[Hashable, float | None],
    baseline: Mapping[Hashable, float | None],
    confidence: float = CONFIDENCE,
) -> PairedGain:
    """Gain of ``row`` over ``baseline``, paired by key; keys missing on either side drop.

    Args:
        row: pairing key -> score (e.g. minority F1) of the configuration. The key is the seed,
            or (seed, split seed) when runs vary the split, so each difference compares runs on
            the same training seed and the same test set.
        baseline: key -> score of the reference on the same keys.
    """
    keys = sorted(
        (k for k in row if k in baseline and _is_finite(row[k]) and _is_finite(baseline[k])),
        key=repr,
    )
    if not keys:
        return PairedGain(0, NAN, NAN, NAN, NAN)
    diffs = np.array([float(row[k]) - float(baseline[k]) for k in keys])
    low, high = t_interval(diffs, confidence)
    return PairedGain(len(keys), float(diffs.mean()), low, high, float(np.mean(diffs > 0)))


def _is_finite(value: float | None) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
