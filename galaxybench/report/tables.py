"""Report tables as pandas DataFrames: trials, leaderboard, ablations, per-class F1.

Usage::

    board = leaderboard_table(exp); ablation_table(board); per_class_table(exp, board)

Only confirmed runs enter the leaderboard (docs/protocol.md, "Phases"). Failed and diverged
trials are never
dropped silently: they are counted per row (``n_failed``, ``failures``) and listed in trials.csv.

The tables live in ``tables_common`` (columns, ablation rows, record helpers), ``tables_board``
(leaderboard and ablations) and ``tables_classes`` (per-class F1 and trials); this module
re-exports them.
"""

from __future__ import annotations

from galaxybench.report.tables_board import (
    _used_keys as _used_keys,
)
from galaxybench.report.tables_board import (
    ablation_table,
    best_row,
    leaderboard_table,
    pair_key,
    row_scores,
)
from galaxybench.report.tables_classes import (
    class_order,
    class_support,
    per_class_table,
    trials_table,
)
from galaxybench.report.tables_common import (
    ABLATIONS,
    FID_LOW_N,
    FID_REAL_REAL,
    MEAN_METRICS,
    METHOD_KEYS,
    QUALITY_N_REAL,
    QUALITY_N_SYNTHETIC,
    SCALAR_METRICS,
    key_params,
)

__all__ = [
    "ABLATIONS",
    "FID_LOW_N",
    "FID_REAL_REAL",
    "MEAN_METRICS",
    "METHOD_KEYS",
    "QUALITY_N_REAL",
    "QUALITY_N_SYNTHETIC",
    "SCALAR_METRICS",
    "ablation_table",
    "best_row",
    "class_order",
    "class_support",
    "key_params",
    "leaderboard_table",
    "pair_key",
    "per_class_table",
    "row_scores",
    "trials_table",
]
