"""The leaderboard (one row per confirmed configuration, ranked) and the ablation table.

Usage::

    board = leaderboard_table(exp); ablation_table(board); best_row(board)

Failed and diverged trials are never dropped silently: they are counted per row (``n_failed``,
``failures``, ``status``).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from galaxybench import results
from galaxybench.protocol import BOUND_ROWS, ROW_BASELINE, used_flat
from galaxybench.report import stats
from galaxybench.report.experiment import Experiment
from galaxybench.report.tables_common import (
    ABLATIONS,
    FID_LOW_N,
    FID_REAL_REAL,
    MEAN_METRICS,
    QUALITY_N_REAL,
    QUALITY_N_SYNTHETIC,
    _mean,
    _num,
    _ok,
    key_params,
)


def _failures(records: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"seed {r.get('seed')}: {r.get('status')} ({r.get('reason') or 'no reason'})"
        for r in records
        if r.get(results.STATUS) != results.STATUS_OK
    )


def _seeds(records: list[dict[str, Any]]) -> str:
    seeds = sorted({str(r.get("seed")) for r in records})
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(seeds)


def _status(group: list[dict[str, Any]]) -> str:
    """ "ok", or e.g. "1 diverged, 1 failed of 3": what went wrong, never hidden.

    A classifier that never left the class prior is flagged on the row, and so is a row whose
    same-seed baseline was degenerate: its gain then measures the baseline's failure.
    """
    bad = Counter(
        str(r.get(results.STATUS)) for r in group if r.get(results.STATUS) != results.STATUS_OK
    )
    text = (
        "ok"
        if not bad
        else (", ".join(f"{n} {s}" for s, n in sorted(bad.items())) + f" of {len(group)}")
    )
    own = [r for r in group if r.get(results.CLASSIFIER_STATUS) == results.CLASSIFIER_DEGENERATE]
    base = [r for r in group if r.get(results.BASELINE_DEGENERATE)]
    if own:
        text += f"; classifier degenerate on {_seeds(own)}"
    if base:
        text += f"; baseline degenerate on {_seeds(base)}"
    return text


def _compute_seconds(records: list[dict[str, Any]]) -> float:
    """Compute spent by every trial of the row, failed ones included (they cost time too)."""
    total = 0.0
    for r in records:
        t = _num(r.get(results.TIME_TOTAL_S))
        if math.isnan(t):
            t = sum(
                _num(v)
                for v in (r.get(results.STAGE_SECONDS) or {}).values()
                if not math.isnan(_num(v))
            )
        total += t
    return total


def _role(row: str, config: dict[str, Any]) -> str:
    """ "baseline", "upper bound" (true HR images: not a method) or "" for a candidate method."""
    if row == ROW_BASELINE:
        return "baseline"
    return "upper bound" if row in BOUND_ROWS or config.get("upscale.method") == "oracle" else ""


def _used_keys(config: dict[str, Any]) -> set[str]:
    """Keys that can change a row's outcome; the others (cgan.lr of a row without the cGAN, ...)
    show as blank, so a table does not suggest a setting a row never used.

    ``galaxybench.protocol.used_flat``: the rule of ``effective_flat`` applied to the stored flat
    dict, without building a Config (that validates method names against the stage registry,
    which imports torch, and the report must stay free of it).
    """
    return set(used_flat(config))


def _fid_n(records: list[dict[str, Any]]) -> float:
    """Images per set behind the domain FID: the smaller of the real and synthetic sets."""
    ns = [
        min(_num(r.get(QUALITY_N_REAL)), _num(r.get(QUALITY_N_SYNTHETIC)))
        for r in records
        if r.get(results.FID_DOMAIN) is not None
    ]
    ns = [n for n in ns if not math.isnan(n)]
    return float(min(ns)) if ns else math.nan


def _fid_low_n(records: list[dict[str, Any]], n: float) -> bool:
    """The trial's own low-N flag when stored, else N below FID_LOW_N."""
    flags = [r.get("fid_low_n") for r in records if r.get("fid_low_n") is not None]
    if flags:
        return any(bool(f) for f in flags)
    return not math.isnan(n) and n < FID_LOW_N


def pair_key(record: dict[str, Any]) -> tuple[Any, Any]:
    """What pairs a run with the baseline's: its seed and its split seed (None when absent).

    Confirmation runs may draw a fresh split per seed; pairing on both keeps each difference
    between runs on the same training seed and the same test set.
    """
    return record.get("seed"), record["config"].get("data.split_seed")


def row_scores(exp: Experiment, row: str) -> dict[tuple[Any, Any], float]:
    """Pairing key -> test minority F1 of the ok confirmed runs of ``row``."""
    return {
        pair_key(r): _num(r.get(results.MINORITY_F1))
        for r in _ok(exp.confirmed)
        if str(r.get(results.ROW)) == row
    }


def _row_entry(
    row: str, group: list[dict[str, Any]], baseline: dict[Any, float], params: list[str]
) -> dict[str, Any]:
    ok = _ok(group)
    minority = stats.summarize(_num(r.get(results.MINORITY_F1)) for r in ok)
    if row == ROW_BASELINE:
        gain = stats.PairedGain(0, math.nan, math.nan, math.nan, math.nan)  # the reference
        delta = 0.0
    else:
        gain = stats.paired_gain(
            {pair_key(r): _num(r.get(results.MINORITY_F1)) for r in ok}, baseline
        )
        delta = _mean(ok, results.MINORITY_F1_DELTA)
    config = (ok or group)[0]["config"]
    n_failed = len(group) - len(ok)
    entry: dict[str, Any] = {
        results.ROW: row,
        "role": _role(row, config),
        results.CONFIG_ID: (ok or group)[0].get(results.CONFIG_ID),
        results.STATUS: _status(group),
        "n": minority.n,
        "n_failed": n_failed,
        "seeds": " ".join(str(s) for s in sorted({r.get("seed") for r in group}, key=str)),
    }
    used = _used_keys(config)
    entry.update({k: config.get(k) if k in used else None for k in params})
    entry.update(
        {
            "minority_f1_mean": minority.mean,
            "minority_f1_std": minority.std,
            "minority_f1_ci_low": minority.ci_low,
            "minority_f1_ci_high": minority.ci_high,
            "minority_f1_delta_mean": delta,
            "gain_mean": gain.mean,
            "gain_ci_low": gain.ci_low,
            "gain_ci_high": gain.ci_high,
            "gain_win_share": gain.win_share,
            "gain_n": gain.n,
        }
    )
    entry.update({f"{k}_mean": _mean(ok, k) for k in MEAN_METRICS})
    entry["fid_n"] = _fid_n(ok)
    entry["fid_low_n"] = _fid_low_n(ok, entry["fid_n"])
    entry["fid_real_real_mean"] = _mean(ok, FID_REAL_REAL)
    entry["compute_s"] = _compute_seconds(group)
    entry["failures"] = _failures(group)
    return entry


def leaderboard_table(exp: Experiment) -> pd.DataFrame:
    """One row per confirmed configuration, ranked by mean ``minority_f1_delta`` (best first).

    The paired gain is recomputed from minority F1 matched by seed against the baseline row; the
    ranking falls back to it where a row stored no delta. Rows whose every seed failed rank last.
    """
    confirmed = exp.confirmed
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in confirmed:
        groups.setdefault(str(r.get(results.ROW)), []).append(r)
    baseline = {
        pair_key(r): _num(r.get(results.MINORITY_F1)) for r in _ok(groups.get(ROW_BASELINE, []))
    }
    params = key_params(confirmed)
    board = pd.DataFrame([_row_entry(row, g, baseline, params) for row, g in groups.items()])
    score = board["minority_f1_delta_mean"].fillna(board["gain_mean"])
    # Ties keep file order (baseline, top-1, top-2, ...): mergesort is stable.
    board = (
        board.assign(_score=score)
        .sort_values(
            ["_score", "minority_f1_mean"],
            ascending=[False, False],
            na_position="last",
            kind="mergesort",
        )
        .drop(columns="_score")
    )
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    return board.reset_index(drop=True)


def best_row(board: pd.DataFrame) -> str:
    """The top-ranked method (not the baseline, not the oracle) with a result, else baseline."""
    candidates = board[(board["role"].fillna("") == "") & (board["n"] > 0)]
    return str(candidates.iloc[0][results.ROW]) if len(candidates) else ROW_BASELINE


def ablation_table(board: pd.DataFrame) -> pd.DataFrame:
    """Baseline, SRGAN only, cGAN only, both, oracle and the classical baselines; not run = n 0."""
    cols = [
        "n",
        "n_failed",
        "minority_f1_mean",
        "minority_f1_std",
        "minority_f1_ci_low",
        "minority_f1_ci_high",
        "gain_mean",
        "gain_ci_low",
        "gain_ci_high",
        "gain_win_share",
        "macro_f1_mean",
        "accuracy_mean",
    ]
    by_row = board.set_index(results.ROW)
    out = []
    for label, row in ABLATIONS:
        if row in by_row.index:
            out.append({"ablation": label, results.ROW: row, **by_row.loc[row, cols].to_dict()})
        else:
            out.append(
                {
                    "ablation": label,
                    results.ROW: f"{row} (not run)",
                    "n": 0,
                    "n_failed": 0,
                    **{c: math.nan for c in cols[2:]},
                }
            )
    return pd.DataFrame(out, columns=["ablation", results.ROW, *cols])
