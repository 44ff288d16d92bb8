"""How the headline names rows and writes paired gains ("+0.060 [+0.030, +0.090]").

Usage::

    row_label("oracle"); _gain_text(stats.paired_gain(row, baseline))
"""

from __future__ import annotations

import math
from typing import Any

from galaxybench.protocol import (
    ROW_BASELINE,
    ROW_CGAN_OFF,
    ROW_DIHEDRAL,
    ROW_ORACLE,
    ROW_ORACLE_BEST,
    ROW_ORACLE_REBALANCER,
    ROW_OVERSAMPLE,
    ROW_SRGAN_OFF,
    ROW_WEIGHTED_CE,
    top_row,
)
from galaxybench.report import stats

NA = "n/a"
ORACLE_ROW = ROW_ORACLE
PIPELINE_BOUND_ROW = ROW_ORACLE_BEST  # the spelling the sweep writes (protocol)
# What a row is, in words; rows not listed keep their own name.
ROW_LABELS = {
    ORACLE_ROW: "oracle upscaler (bound on upscaling)",
    PIPELINE_BOUND_ROW: "oracle + best rebalancer (pipeline upper bound)",
    ROW_ORACLE_REBALANCER: "oracle rebalancer (bound on rebalancing)",
    ROW_OVERSAMPLE: "plain oversampling",
    ROW_WEIGHTED_CE: "weighted cross-entropy",
    ROW_DIHEDRAL: "dihedral augmentation",
    ROW_BASELINE: "baseline",
}
# The row of the configuration the search chose, and what its ablation rows are.
SEARCHED_ROW = top_row(1)
ABLATIONS = {
    ROW_SRGAN_OFF: "the searched configuration with bicubic upscaling",
    ROW_CGAN_OFF: "the searched configuration without its cGAN",
}


def row_label(row: str) -> str:
    """What a leaderboard row is, in words ("oracle" -> "oracle upscaler (bound on upscaling)")."""
    return ROW_LABELS.get(row, row)


def is_gan_row(config: dict[str, Any]) -> bool:
    """A row that trains a GAN (SRGAN upscaler or cGAN rebalancer) and is not a bound."""
    return (
        config.get("upscale.method") == "srgan" or config.get("rebalance.method") == "cgan"
    ) and config.get("upscale.method") != "oracle"


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:+.{digits}f}"


def _ci(g: stats.PairedGain) -> str:
    if g.n < 2:
        return f"no interval at n = {g.n}"
    return f"[{_fmt(g.ci_low)}, {_fmt(g.ci_high)}]"


def _gain_text(g: stats.PairedGain) -> str:
    """ "+0.060 [+0.030, +0.090]", or "+0.060, no interval at n = 1"."""
    return f"{_fmt(g.mean)} {_ci(g)}" if g.n >= 2 else f"{_fmt(g.mean)}, {_ci(g)}"


def _at_n(g: stats.PairedGain) -> str:
    """ " (resolved at n = 5)"; "" at n < 2, where the gain text already says there is none."""
    return f" ({'resolved' if g.resolved else 'not resolved'} at n = {g.n})" if g.n >= 2 else ""


def _abs(g: stats.PairedGain) -> stats.PairedGain:
    if g.mean >= 0:
        return g
    return stats.PairedGain(g.n, -g.mean, -g.ci_high, -g.ci_low, 1.0 - g.win_share)
