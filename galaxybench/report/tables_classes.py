"""The per-class F1 table (baseline against the best row, in label order) and trials.csv's table.

Usage::

    per_class_table(exp, leaderboard_table(exp)); trials_table(exp).to_csv("trials.csv")
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from galaxybench import results
from galaxybench.protocol import ROW_BASELINE
from galaxybench.report.experiment import Experiment
from galaxybench.report.tables_board import best_row
from galaxybench.report.tables_common import SCALAR_METRICS, _mean, _num, _ok


def class_order(records: Iterable[dict[str, Any]]) -> tuple[list[str], bool]:
    """The class names in label order, and whether that order is known.

    Records store ``class_names`` (label order: the confusion matrix's axes). The per-class dicts
    are keyed by name but were written with sorted keys, so records from before ``class_names``
    existed give the names in their dicts' order and ``False``: such names must never be paired
    with a class-indexed array.
    """
    records = list(records)
    for r in records:
        names = r.get(results.CLASS_NAMES)
        if isinstance(names, list) and names:
            return [str(n) for n in names], True
    found: list[str] = []
    for r in records:
        found += [c for c in (r.get(results.PER_CLASS_F1) or {}) if c not in found]
    return found, False


def _record_support(r: dict[str, Any]) -> dict[str, float] | None:
    """Test images per class name of one run: ``per_class_support``, else the confusion matrix's
    row sums (rows are true classes) named through the run's own ``class_names``."""
    support = r.get(results.PER_CLASS_SUPPORT)
    if isinstance(support, dict) and support:
        return {str(k): float(v) for k, v in support.items()}
    names = r.get(results.CLASS_NAMES)
    if not isinstance(names, list):
        return None  # label order unknown: a row sum cannot be given a name
    try:
        m = np.asarray(r.get(results.CONFUSION_MATRIX), dtype=float)
    except (TypeError, ValueError):
        return None
    if m.ndim != 2 or m.shape != (len(names), len(names)):
        return None
    return {str(n): float(v) for n, v in zip(names, m.sum(axis=1), strict=True)}


def class_support(records: list[dict[str, Any]], classes: list[str]) -> list[float] | None:
    """Mean test images per class, by name, over the runs (a varied split can change them)."""
    per_run = [s for s in map(_record_support, records) if s is not None]
    if not per_run:
        return None
    return [_mean(per_run, c) for c in classes]


def per_class_table(exp: Experiment, board: pd.DataFrame) -> pd.DataFrame:
    """Mean per-class test F1 over the ok seeds of the baseline and of the best row, one row per
    class in label order (``attrs["label_order"]`` says whether that order is known)."""
    best = best_row(board)
    rows = {
        name: _ok(r for r in exp.confirmed if r.get(results.ROW) == name)
        for name in (ROW_BASELINE, best)
    }
    classes, ordered = class_order(rows[ROW_BASELINE] + rows[best])
    minority: set[str] = set()
    for r in rows[ROW_BASELINE] + rows[best]:
        minority |= {str(c) for c in (r.get(results.MINORITY_CLASSES) or [])}
    support = class_support(rows[ROW_BASELINE] + rows[best], classes)
    out = []
    for i, c in enumerate(classes):
        f1 = {
            name: _mean([r.get(results.PER_CLASS_F1) or {} for r in recs], c)
            for name, recs in rows.items()
        }
        out.append(
            {
                "class": c,
                "minority": c in minority,
                "support": support[i] if support is not None else math.nan,
                "baseline_f1": f1[ROW_BASELINE],
                "best_f1": f1[best],
                "delta": f1[best] - f1[ROW_BASELINE],
            }
        )
    table = pd.DataFrame(
        out, columns=["class", "minority", "support", "baseline_f1", "best_f1", "delta"]
    )
    table.attrs["best_row"] = best
    table.attrs["label_order"] = ordered
    return table


def trials_table(exp: Experiment) -> pd.DataFrame:
    """Every trial of every phase, one row each: ids, status, reason, scalar metrics, config."""
    out = []
    for r in exp.records:
        entry: dict[str, Any] = {
            k: r.get(k)
            for k in (
                results.PHASE,
                results.ROW,
                results.TRIAL_ID,
                results.CONFIG_ID,
                "seed",
                results.STATUS,
                results.REASON,
            )
        }
        entry.update({k: _num(r.get(k)) for k in SCALAR_METRICS})
        for key in (results.MINORITY_CLASSES, results.AUGMENTED_CLASSES):
            entry[key] = ";".join(str(c) for c in (r.get(key) or []))
        entry.update(
            {f"per_class_f1.{c}": _num(v) for c, v in (r.get(results.PER_CLASS_F1) or {}).items()}
        )
        entry["data_fingerprint"] = r.get("data_fingerprint")
        entry.update({k: v for k, v in r["config"].items() if k not in entry})
        out.append(entry)
    return pd.DataFrame(out)
