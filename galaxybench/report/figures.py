"""Report figures as PNG files (matplotlib's Agg canvas, no pyplot state, no display needed).

Usage: ``figs = write_figures(exp, board, per_class, out_dir / "figures")`` -> [(path, caption)].

Figures: per-class F1 of baseline vs best, confusion matrices, search progress (objective by trial
order with the best so far), each searched parameter vs the objective, and the images trials wrote
under ``<experiment>/figures`` or ``<experiment>/samples`` (real vs synthetic grids, SR strips).
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

from galaxybench import results as R
from galaxybench.report.experiment import BASELINE_ROW, Experiment
from galaxybench.report.search import STATUS_PRUNED
from galaxybench.report.tables import key_params

log = logging.getLogger(__name__)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_TRIAL_IMAGES = 40  # a long sweep can write hundreds; the report shows the first ones


def plain_text(fig: Figure) -> Figure:
    """Turn off mathtext on every text of ``fig``: labels carry data-derived strings (class and
    row names) in which a ``$`` would otherwise start TeX math and can crash the render."""
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    plain_text(fig).savefig(path, dpi=90)
    return path


def per_class_figure(per_class: pd.DataFrame) -> Figure:
    """Grouped bars: mean test F1 per class, baseline vs best; minority classes starred."""
    fig = Figure(figsize=(max(6.0, 0.7 * len(per_class)), 4.0), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(per_class))
    ax.bar(x - 0.2, per_class["baseline_f1"], 0.4, label=BASELINE_ROW)
    ax.bar(x + 0.2, per_class["best_f1"], 0.4, label=per_class.attrs.get("best_row", "best"))
    labels = [f"{c} *" if m else str(c) for c, m in zip(per_class["class"],
                                                         per_class["minority"], strict=True)]
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8, parse_math=False)
    ax.set_ylabel("test F1 (mean over seeds)")
    ax.set_ylim(0, 1)
    ax.set_title("Per-class F1 (* = scoring minority class)")
    ax.legend()
    return fig


def confusion_figure(matrix: np.ndarray, labels: list[str], title: str) -> Figure:
    """Row-normalized confusion matrix (rows: true class, columns: prediction)."""
    rows = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    fig = Figure(figsize=(6.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=7, parse_math=False)
    ax.set_yticks(ticks, labels, fontsize=7, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="share of true class")
    return fig


def search_progress_figure(records: list[dict[str, Any]]) -> Figure:
    """Validation minority F1 by trial order with the best so far; failed trials as red x."""

    val = np.array([r.get(R.VAL_MINORITY_F1) if r.get("status") == R.STATUS_OK else None
                    for r in records], dtype=float)
    order = np.arange(1, len(records) + 1)
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    done = np.isfinite(val)
    ax.scatter(order[done], val[done], label="trial")
    best = np.fmax.accumulate(np.where(done, val, -np.inf))
    ax.step(order[np.isfinite(best)], best[np.isfinite(best)], where="post", color="C1",
            label="best so far")
    # Pruned trials reported validation scores before ASHA stopped them: shown, not counted.
    pruned = np.array([r.get("status") == STATUS_PRUNED for r in records])
    pruned_val = np.array([r.get(R.VAL_MINORITY_F1) if p else None
                           for r, p in zip(records, pruned, strict=True)], dtype=float)
    if np.isfinite(pruned_val).any():
        keep = np.isfinite(pruned_val)
        ax.scatter(order[keep], pruned_val[keep], facecolors="none", edgecolors="grey",
                   label="pruned (ASHA)")
    bad = ~done & ~pruned
    if bad.any():
        floor = float(np.nanmin(np.concatenate([val, pruned_val]))) if done.any() else 0.0
        ax.scatter(order[bad], np.full(bad.sum(), floor), marker="x", color="red",
                   label="failed / diverged")
    ax.set_xlabel("trial (order finished)")
    ax.set_ylabel("validation minority F1")
    ax.set_title("Search progress")
    ax.legend()
    return fig


def param_figure(records: list[dict[str, Any]], key: str) -> Figure:
    """Validation minority F1 of each ok search trial against one parameter."""
    ok = [r for r in records if r.get("status") == R.STATUS_OK
          and r.get(R.VAL_MINORITY_F1) is not None]
    values = [r["config"].get(key) for r in ok]
    y = np.array([r[R.VAL_MINORITY_F1] for r in ok], dtype=float)
    fig = Figure(figsize=(5.0, 3.5), layout="constrained")
    ax = fig.add_subplot()
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        x = np.array(values, dtype=float)
        ax.scatter(x, y)
        if x.min() > 0 and x.max() / x.min() >= 10:  # learning rates span decades
            ax.set_xscale("log")
    else:
        cats = sorted({str(v) for v in values})
        ax.scatter([cats.index(str(v)) for v in values], y)
        ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right", fontsize=8,
                      parse_math=False)
    ax.set_xlabel(key)
    ax.set_ylabel("validation minority F1")
    ax.set_title(f"{key} vs score")
    return fig


def _matrix(value: Any) -> np.ndarray | None:
    """A square float matrix, or None for anything else (a ragged or malformed entry)."""
    try:
        m = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return m if m.ndim == 2 and m.shape[0] == m.shape[1] and m.size else None


def _confusion(exp: Experiment, row: str) -> np.ndarray | None:
    mats = [_matrix(r.get(R.CONFUSION_MATRIX)) for r in exp.confirmed
            if r.get("row") == row and r.get("status") == R.STATUS_OK]
    mats = [m for m in mats if m is not None]
    mats = [m for m in mats if m.shape == mats[0].shape]
    return np.sum(mats, axis=0) if mats else None  # summed over seeds before normalizing


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "figure"


def copy_trial_images(exp: Experiment, fig_dir: Path) -> list[tuple[Path, str]]:
    """Copy PNGs that trials wrote under figures/ or samples/; non-PNG files are skipped."""
    found = sorted(p for sub in ("figures", "samples") if (exp.path / sub).is_dir()
                   for p in (exp.path / sub).rglob("*.png") if p.is_file())
    out = []
    for src in found[:MAX_TRIAL_IMAGES]:
        with src.open("rb") as fh:
            if fh.read(8) != PNG_MAGIC:
                log.warning("skipping %s: not a PNG file", src)
                continue
        rel = src.relative_to(exp.path).as_posix()
        dst = fig_dir / f"trial_{_safe_name(rel)}"
        shutil.copyfile(src, dst)
        out.append((dst, rel))
    if len(found) > MAX_TRIAL_IMAGES:
        log.info("showing %d of %d trial images", MAX_TRIAL_IMAGES, len(found))
    return out


def write_figures(exp: Experiment, board: pd.DataFrame, per_class: pd.DataFrame,
                  fig_dir: Path) -> list[tuple[Path, str]]:
    """Write every figure under ``fig_dir``; returns (path, caption) in display order."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, str]] = []
    best = per_class.attrs.get("best_row", BASELINE_ROW)
    if len(per_class):
        out.append((_save(per_class_figure(per_class), fig_dir / "per_class_f1.png"),
                    f"Per-class test F1: baseline vs {best}"))
    labels = list(per_class["class"])
    for row in dict.fromkeys((BASELINE_ROW, best)):
        matrix = _confusion(exp, row)
        if matrix is None:
            continue
        names = labels if len(labels) == len(matrix) else [str(i) for i in range(len(matrix))]
        title = f"Confusion matrix: {row} (summed over seeds)"
        out.append((_save(confusion_figure(matrix, names, title),
                          fig_dir / f"confusion_{_safe_name(row)}.png"), title))
    search = exp.phase("search")
    if search:
        out.append((_save(search_progress_figure(search), fig_dir / "search_progress.png"),
                    "Search progress: validation minority F1 by trial, best so far"))
        # key_params keeps constant method keys for the tables; a plot needs variation.
        varying = [k for k in key_params(search)
                   if len({repr(r["config"].get(k)) for r in search}) > 1]
        for key in varying:
            out.append((_save(param_figure(search, key), fig_dir / f"param_{_safe_name(key)}.png"),
                        f"{key} vs validation minority F1"))
    out += copy_trial_images(exp, fig_dir)
    return out
