"""Power of a paired design: the minimum detectable effect and the seeds needed for an effect.

A sweep compares each row with the baseline seed by seed (paired over the confirmation seeds).
With ``n`` seeds and paired differences of sample standard deviation ``s_d``, the smallest true
mean difference that a two-sided test at level alpha finds with probability ``power`` is, by the
t approximation of the paired t-test's power (Chow, Shao & Wang, *Sample Size Calculations in
Clinical Research*, 2nd ed., 2008, section 3.1),

    MDE(n) = (t_{1-alpha/2, n-1} + t_{power, n-1}) * s_d / sqrt(n).

The seeds needed for an effect ``d`` are the smallest ``n >= 2`` with ``MDE(n) <= d`` (found by
iterating over n, since both quantiles depend on it), with ``s_d`` held at its observed value.
``exact_power`` gives the power of the same test from the noncentral t, to check the
approximation.

The captured fraction of a headroom, (row - baseline) / (oracle - baseline), gets Fieller's
interval for a ratio of two correlated means (Fieller 1954, J. R. Stat. Soc. B 16, 175): the set of
ratios rho with (a - rho b)^2 <= t^2 (v11 - 2 rho v12 + rho^2 v22), where a, b are the mean paired
differences and v the variances and covariance of those means. It is a bounded interval exactly
when the denominator's t-interval excludes 0; otherwise the fraction is undefined.

Usage::

    mde(0.05, 5)                  # 0.0831: effects below +0.083 cannot be resolved at n = 5
    seeds_needed(0.05, 0.05)      # 10
    captured_fraction(row, baseline, oracle)   # Ratio(n, value, ci_low, ci_high, defined)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.stats

from galaxybench.report.stats import CONFIDENCE

ALPHA = 0.05  # two-sided: the 95 % t-interval the report prints excludes 0 exactly at this level
POWER = 0.8
METHOD = "paired t, alpha 0.05 two-sided, power 0.8"
# seeds_needed gives up beyond this many seeds (returns None: not resolvable in practice).
MAX_SEEDS = 10_000


def mde_label(n: int | None = None) -> str:
    """The method label printed beside every MDE: "paired t, alpha 0.05 two-sided, power 0.8"."""
    return METHOD if n is None else f"{METHOD}, n={n}"


def mde(sd_diff: float, n: int, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect of a paired comparison over ``n`` seeds (units of the score).

    Args:
        sd_diff: sample standard deviation (ddof=1) of the paired differences, >= 0.
        n: number of pairs (seeds), >= 2.

    Returns:
        ``(t_{1-alpha/2, n-1} + t_{power, n-1}) * sd_diff / sqrt(n)``; NaN when ``sd_diff`` is
        not finite or ``n < 2``.
    """
    if n < 2 or not math.isfinite(sd_diff):
        return float("nan")
    if sd_diff < 0:
        raise ValueError(f"a standard deviation is >= 0, got {sd_diff}")
    df = n - 1
    quantiles = scipy.stats.t.ppf(1 - alpha / 2, df) + scipy.stats.t.ppf(power, df)
    return float(quantiles * sd_diff / math.sqrt(n))


def seeds_needed(
    sd_diff: float, effect: float, *, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """The smallest number of seeds ``n >= 2`` whose MDE is at most ``effect``.

    Args:
        sd_diff: sample standard deviation of the paired differences (ddof=1), >= 0.
        effect: the true mean difference to resolve, > 0 (units of the score).

    Returns:
        n, or None when no ``n <= MAX_SEEDS`` reaches it (or ``sd_diff`` is not finite).
    """
    if effect <= 0:
        raise ValueError(f"the effect to resolve must be > 0, got {effect}")
    if not math.isfinite(sd_diff):
        return None
    for n in range(2, MAX_SEEDS + 1):
        if mde(sd_diff, n, alpha=alpha, power=power) <= effect:
            return n
    return None


def exact_power(sd_diff: float, n: int, effect: float, *, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` for a true mean difference
    ``effect``, from the noncentral t with ``n - 1`` degrees of freedom and noncentrality
    ``effect * sqrt(n) / sd_diff``."""
    df, nc = n - 1, effect * math.sqrt(n) / sd_diff
    crit = scipy.stats.t.ppf(1 - alpha / 2, df)
    return float(scipy.stats.nct.sf(crit, df, nc) + scipy.stats.nct.cdf(-crit, df, nc))


def _paired_keys(*sides: Mapping[Hashable, float | None]) -> list[Hashable]:
    def finite(v: float | None) -> bool:
        return isinstance(v, (int, float)) and math.isfinite(v)

    first, *rest = sides
    keys = [k for k in first if finite(first[k]) and all(k in o and finite(o[k]) for o in rest)]
    return sorted(keys, key=repr)


def paired_differences(
    row: Mapping[Hashable, float | None], baseline: Mapping[Hashable, float | None]
) -> np.ndarray:
    """row - baseline on the keys (seed, split seed) finite on both sides, in key order."""
    keys = _paired_keys(row, baseline)
    return np.array([float(row[k]) - float(baseline[k]) for k in keys], dtype=np.float64)


def paired_sd(
    row: Mapping[Hashable, float | None], baseline: Mapping[Hashable, float | None]
) -> tuple[float, int]:
    """(sample standard deviation (ddof=1) of the paired differences, n); NaN below n = 2."""
    d = paired_differences(row, baseline)
    return (float(np.std(d, ddof=1)) if d.size > 1 else float("nan")), int(d.size)


@dataclass(frozen=True)
class Ratio:
    """A captured fraction: (row - baseline) / (oracle - baseline) over ``n`` shared seeds.

    ``defined`` is False when the headroom's t-interval includes 0 (or n < 2): then ``value``,
    ``ci_low`` and ``ci_high`` are NaN and no ratio is printed.
    """

    n: int
    value: float
    ci_low: float
    ci_high: float
    defined: bool


def captured_fraction(
    row: Mapping[Hashable, float | None],
    baseline: Mapping[Hashable, float | None],
    oracle: Mapping[Hashable, float | None],
    confidence: float = CONFIDENCE,
) -> Ratio:
    """The fraction of the oracle's headroom a row captured, with Fieller's interval.

    Args:
        row, baseline, oracle: pairing key (seed, split seed) -> score; keys missing or not
            finite on any side drop.
    """
    nan = float("nan")
    keys = _paired_keys(row, baseline, oracle)
    n = len(keys)
    if n < 2:
        return Ratio(n, nan, nan, nan, False)
    x = np.array([float(row[k]) - float(baseline[k]) for k in keys])  # the row's gains
    y = np.array([float(oracle[k]) - float(baseline[k]) for k in keys])  # the headroom
    a, b = float(x.mean()), float(y.mean())
    cov = np.cov(x, y, ddof=1) / n  # variances and covariance of the two means
    v11, v22, v12 = float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1])
    t = float(scipy.stats.t.ppf((1 + confidence) / 2, n - 1))
    if b == 0.0 or t * t * v22 >= b * b:  # the headroom's t-interval includes 0
        return Ratio(n, nan, nan, nan, False)
    r, g = a / b, t * t * v22 / (b * b)
    rest = g * (v11 - v12 * v12 / v22) if v22 > 0 else 0.0
    centre = r - (g * v12 / v22 if v22 > 0 else 0.0)
    half = t / abs(b) * math.sqrt(max(v11 - 2 * r * v12 + r * r * v22 - rest, 0.0))
    low, high = (centre - half) / (1 - g), (centre + half) / (1 - g)
    return Ratio(n, r, low, high, True)
