"""The benchmark protocol as data: the baseline, the named rows, the scoring minority set.

Torch-free, so the sweep planner and the report can group and name configurations without
importing any stage. What the rows mean is written down in ``docs/protocol.md``.

Usage::

    from galaxybench.protocol import BASELINE, baseline_config, effective_flat, minority_classes
    minority_classes(np.bincount(labels), MINORITY_FRACTION)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from galaxybench.config import MINORITY_FRACTION, to_flat

if TYPE_CHECKING:
    from galaxybench.config import Config

# The baseline is a configuration, not a code path: bicubic + no rebalancing + plain CE.
BASELINE: dict[str, Any] = {
    "upscale.method": "bicubic",
    "rebalance.method": "none",
    "classifier.loss": "ce",
    "classifier.augment": "none",
}

# Row names of the leaderboard (one place; the sweep writes them, the report reads them).
ROW_BASELINE = "baseline"
ROW_SEARCH = "search"
ROW_SRGAN_OFF = "srgan off"
ROW_CGAN_OFF = "cgan off"
ROW_ORACLE = "oracle"  # true HR with no rebalancing: the bound on what an upscaler can add
ROW_ORACLE_BEST = "oracle + best rebalancer"  # true HR + the best rebalancer: the pipeline's bound


def top_row(rank: int) -> str:
    """The row name of the ``rank``-th best search configuration (1-based): ``top-1``..."""
    return f"top-{rank}"


# The classical rows: one classical change to the baseline each.
CLASSICAL: dict[str, dict[str, Any]] = {
    "oversample": {"rebalance.method": "oversample"},
    "weighted_ce": {"classifier.loss": "weighted_ce"},
    "dihedral": {"classifier.augment": "dihedral"},
}


def baseline_config(cfg: Config) -> Config:
    """``cfg`` with no learned enhancement: bicubic + none + ce + none."""
    return cfg.replace(**BASELINE)


def effective_flat(cfg: Config) -> dict[str, Any]:
    """Flat config without the keys that cannot change the classifier's outcome.

    SRGAN settings matter only with the SRGAN upscaler, cGAN settings only with the cGAN
    rebalancer, the focal gamma only with the focal loss, and quality metrics never. Two configs
    with equal effective keys train the same classifier, so it is cached once.
    """
    flat = to_flat(cfg)
    drop = ["metrics."]
    if cfg.upscale.method != "srgan":
        drop.append("srgan.")
    if cfg.rebalance.method != "cgan":
        drop.append("cgan.")
    if cfg.rebalance.method == "none":
        drop += ["rebalance.threshold", "rebalance.target"]
    if cfg.classifier.loss != "focal":
        drop.append("classifier.focal_gamma")
    return {k: v for k, v in flat.items() if not k.startswith(tuple(drop))}


def minority_classes(counts: np.ndarray, fraction: float = MINORITY_FRACTION) -> list[int]:
    """Classes whose count is below ``fraction`` x the largest count: the scoring minority set.

    The set depends only on the data and ``eval.minority_fraction``, never on
    ``rebalance.threshold``, so it is fixed for a whole sweep.
    """
    counts = np.asarray(counts)
    return [int(c) for c in np.flatnonzero(counts < fraction * counts.max())]
