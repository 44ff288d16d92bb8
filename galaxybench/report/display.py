"""Human-readable versions of the report tables (strings), shared by Markdown, HTML and rich.

Usage: ``display_leaderboard(board)`` -> DataFrame of strings, NaN shown as "—".
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from galaxybench import results
from galaxybench.protocol import ROW_BASELINE
from galaxybench.report.stats import interval_label
from galaxybench.report.tables import METHOD_KEYS

DASH = "—"


def number(x: Any, digits: int = 4, *, sign: bool = False) -> str:
    """A float with ``digits`` decimals (a leading + when ``sign``), "—" for None/NaN."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return DASH if x is None else str(x)
    if not math.isfinite(v):
        return DASH
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def interval(low: Any, high: Any, n: Any, *, digits: int = 4, sign: bool = False) -> str:
    """ "[low, high]", or why there is none (one seed gives a degenerate interval)."""
    if number(low) == DASH or number(high) == DASH:
        return "n=1: no interval" if n == 1 else DASH
    return f"[{number(low, digits, sign=sign)}, {number(high, digits, sign=sign)}]"


def interval_note(table: pd.DataFrame, n_col: str = "n") -> str:
    """The method and n of a table's intervals, e.g. "95% t-interval, n=5" (or "n=2-3")."""
    ns = sorted({int(v) for v in table.get(n_col, pd.Series(dtype=float)).dropna() if v > 0})
    if not ns:
        return interval_label()
    n = str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]} (column n)"
    return f"{interval_label()}, n={n}"


def value(x: Any) -> str:
    """A config value: floats in short general form, everything else as text; "—" when unset."""
    if isinstance(x, float):
        return DASH if math.isnan(x) else f"{x:g}"
    return DASH if x is None else str(x)


def mean_std(mean: Any, std: Any, n: Any) -> str:
    """ "mean ± std"; the mean alone with one seed; "—" with none."""
    if number(mean) == DASH:
        return DASH
    return number(mean) if number(std) == DASH else f"{number(mean)} ± {number(std)}"


def wins(share: Any, n: Any) -> str:
    if number(share) == DASH:
        return DASH
    return f"{round(float(share) * int(n))}/{int(n)}"


def row_name(row: Any) -> str:
    """A row as readers should see it ("oracle" -> "oracle upscaler (bound on upscaling)")."""
    from galaxybench.report.headline import row_label

    return row_label(str(row))


def fid(mean: Any, n: Any, low_n: Any, reference: Any = None) -> str:
    """ "12.30 (N=236, low N)"; the real-vs-real reference FID beside it when stored."""
    if number(mean) == DASH:
        return DASH
    text = f"{number(mean, 2)} (N={number(n, 0)}{', low N' if bool(low_n) else ''})"
    if number(reference) != DASH:
        text += f"; real vs real {number(reference, 2)}"
    return text


def display_leaderboard(board: pd.DataFrame) -> pd.DataFrame:
    """The compact leaderboard: row, gain, its interval and n first; ranked as ``board``."""
    out = []
    for _, r in board.iterrows():
        baseline_ref = r[results.ROW] == ROW_BASELINE
        out.append(
            {
                "Rank": str(r["rank"]),
                "Row": row_name(r[results.ROW]),
                "Δ minority F1": "reference"
                if baseline_ref
                else number(r["gain_mean"], 3, sign=True),
                "95% t-CI": DASH
                if baseline_ref
                else interval(
                    r["gain_ci_low"], r["gain_ci_high"], r["gain_n"], digits=3, sign=True
                ),
                "n": str(r["n"]),
                "Wins": DASH if baseline_ref else wins(r["gain_win_share"], r["gain_n"]),
                "Minority F1": number(r["minority_f1_mean"], 3),
                "Status": str(r[results.STATUS]),
            }
        )
    return pd.DataFrame(out)


def display_details(board: pd.DataFrame) -> pd.DataFrame:
    """The wide part of the leaderboard: settings, secondary metrics, FID with its N, compute."""
    params = [c for c in board.columns if "." in c or c in METHOD_KEYS]
    out = []
    for _, r in board.iterrows():
        entry = {"Row": row_name(r[results.ROW])}
        entry.update({k: value(r[k]) for k in params})
        entry.update(
            {
                "Minority F1 ± std": mean_std(r["minority_f1_mean"], r["minority_f1_std"], r["n"]),
                "Minority F1 95% t-CI": interval(
                    r["minority_f1_ci_low"], r["minority_f1_ci_high"], r["n"]
                ),
                "Macro F1": number(r["macro_f1_mean"]),
                "Accuracy": number(r["accuracy_mean"]),
                "Bal. acc.": number(r["balanced_accuracy_mean"]),
                "PSNR SRGAN (dB)": number(r["psnr_srgan_mean"], 2),
                "PSNR bicubic (dB)": number(r["psnr_bicubic_mean"], 2),
                "FID (domain)": fid(
                    r["fid_domain_mean"],
                    r.get("fid_n"),
                    r.get("fid_low_n"),
                    r.get("fid_real_real_mean"),
                ),
                "Compute (s)": number(r["compute_s"], 1),
            }
        )
        out.append(entry)
    return pd.DataFrame(out)


def display_ablation(table: pd.DataFrame) -> pd.DataFrame:
    out = []
    for _, r in table.iterrows():
        out.append(
            {
                "Ablation": str(r["ablation"]),
                "Row": str(r[results.ROW]),
                "n": str(int(r["n"])),
                "Failed": str(int(r["n_failed"])),
                "Minority F1": mean_std(r["minority_f1_mean"], r["minority_f1_std"], r["n"]),
                "95% t-CI": interval(r["minority_f1_ci_low"], r["minority_f1_ci_high"], r["n"]),
                "Δ vs baseline": number(r["gain_mean"], sign=True),
                "Δ 95% t-CI": DASH
                if r[results.ROW] == ROW_BASELINE
                else interval(r["gain_ci_low"], r["gain_ci_high"], r["n"], sign=True),
                "Macro F1": number(r["macro_f1_mean"]),
                "Accuracy": number(r["accuracy_mean"]),
            }
        )
    return pd.DataFrame(out)


def display_per_class(table: pd.DataFrame) -> pd.DataFrame:
    best = table.attrs.get("best_row", "best")
    return pd.DataFrame(
        [
            {
                "Class": str(r["class"]),
                "Minority": "yes" if r["minority"] else "",
                "Test support": number(r["support"], 0 if float(r["support"]).is_integer() else 1)
                if number(r["support"]) != DASH
                else "n/a",
                "Baseline F1": number(r["baseline_f1"]),
                f"{best} F1": number(r["best_f1"]),
                "Δ": number(r["delta"], sign=True),
            }
            for _, r in table.iterrows()
        ]
    )


def display_frame(df: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Any frame as strings: floats rounded, None/NaN as "—"."""
    return (
        df.apply(
            lambda col: col.map(lambda x: number(x, digits) if isinstance(x, float) else value(x))
        ).astype(str)
        if len(df)
        else df.astype(str)
    )
