"""What the report tables share: their columns, the ablation rows, and the record helpers.

Usage::

    from galaxybench.report.tables_common import METHOD_KEYS, key_params; key_params(records)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from galaxybench import results
from galaxybench.protocol import (
    ROW_BASELINE,
    ROW_CGAN_OFF,
    ROW_DIHEDRAL,
    ROW_ORACLE,
    ROW_OVERSAMPLE,
    ROW_SRGAN_OFF,
    ROW_WEIGHTED_CE,
    top_row,
)
from galaxybench.report import stats

# Stored by the trial's quality metrics; the keys are declared in results.py.
QUALITY_N_REAL = results.QUALITY_N_REAL
QUALITY_N_SYNTHETIC = results.QUALITY_N_SYNTHETIC
# FID between two disjoint halves of the real training images of the augmented classes: the value
# a perfect generator would get at this N, printed beside the domain FID.
FID_REAL_REAL = results.FID_DOMAIN_REAL_REF
# FID is strongly biased with few images; below this many per set the table flags it.
FID_LOW_N = 50

# Methods first: they say what a row is; then whatever the sweep varied.
METHOD_KEYS = ("upscale.method", "rebalance.method", "classifier.loss", "classifier.augment")
SCALAR_METRICS = (
    results.MINORITY_F1,
    results.MINORITY_F1_DELTA,
    results.MACRO_F1,
    results.ACCURACY,
    results.BALANCED_ACCURACY,
    results.VAL_MINORITY_F1,
    results.N_SYNTHETIC,
    results.PSNR_SRGAN,
    results.PSNR_BICUBIC,
    results.SSIM_SRGAN,
    results.SSIM_BICUBIC,
    results.FID_DOMAIN,
    results.KID_DOMAIN,
    results.BEST_EPOCH,
    results.TIME_TOTAL_S,
)
MEAN_METRICS = (
    results.MACRO_F1,
    results.ACCURACY,
    results.BALANCED_ACCURACY,
    results.PSNR_SRGAN,
    results.PSNR_BICUBIC,
    results.FID_DOMAIN,
)
# (label, row) of the ablation table. "srgan off" is the best config without SRGAN, so cGAN only.
ABLATIONS = (
    ("baseline", ROW_BASELINE),
    ("SRGAN only", ROW_CGAN_OFF),
    ("cGAN only", ROW_SRGAN_OFF),
    ("both (best)", top_row(1)),
    ("oracle", ROW_ORACLE),
    ("oversample", ROW_OVERSAMPLE),
    ("weighted CE", ROW_WEIGHTED_CE),
    ("dihedral", ROW_DIHEDRAL),
)


def _num(value: Any) -> float:
    """A finite float or NaN (None, strings and non-finite values become NaN)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def _ok(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get(results.STATUS) == results.STATUS_OK]


def _mean(records: list[dict[str, Any]], key: str) -> float:
    x = stats.finite(_num(r.get(key)) for r in records)
    return float(x.mean()) if x.size else math.nan


def key_params(records: Iterable[dict[str, Any]]) -> list[str]:
    """Config keys worth a column: the method keys plus every key whose value varies."""
    records = list(records)
    values: dict[str, set[str]] = {}
    for r in records:
        for k, v in r["config"].items():
            values.setdefault(k, set()).add(repr(v))
    varying = sorted(k for k, v in values.items() if len(v) > 1 and k != "seed")
    return [k for k in METHOD_KEYS if k in values] + [k for k in varying if k not in METHOD_KEYS]
