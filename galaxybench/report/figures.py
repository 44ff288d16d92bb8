"""Report figures as PNG files (matplotlib's Agg canvas; Optuna's plots through pyplot on Agg).

Usage: ``figs = write_figures(exp, board, per_class, out_dir / "figures")`` -> [ReportFigure].

Figures: per-class F1 of baseline vs best, confusion matrices, the best-epoch histogram, Optuna's
own matplotlib plots of the search study (history, parallel coordinates, slices, importance,
intermediate values; ``optuna.visualization.matplotlib``) and, one seed per row, the images trials
wrote under ``<experiment>/samples`` (real vs synthetic grids, SR strips).
"""

from __future__ import annotations

import logging
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from galaxybench import results
from galaxybench.protocol import ROW_BASELINE
from galaxybench.report.experiment import Experiment
from galaxybench.report.search import MIN_TRIALS_FOR_IMPORTANCE
from galaxybench.report.style import save_figure
from galaxybench.report.trial_figures import render_samples
from galaxybench.samples import SAMPLES_FILE

log = logging.getLogger(__name__)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_SEED_SUFFIX = re.compile(r"_seed\d+$")


@dataclass(frozen=True)
class ReportFigure:
    """A written PNG, its caption and where the page shows it (result, search or sample)."""

    path: Path
    caption: str
    kind: str = "result"


MAX_TRIAL_IMAGES = 40  # a long sweep can write hundreds; the report shows the first ones


def _save(fig: Figure, path: Path) -> Path:
    return save_figure(fig, path)


def per_class_figure(per_class: pd.DataFrame) -> Figure:
    """Grouped bars: mean test F1 per class, baseline vs best; minority classes starred."""
    fig = Figure(figsize=(max(6.0, 0.7 * len(per_class)), 4.0), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(per_class))
    ax.bar(x - 0.2, per_class["baseline_f1"], 0.4, label=ROW_BASELINE)
    ax.bar(x + 0.2, per_class["best_f1"], 0.4, label=per_class.attrs.get("best_row", "best"))
    labels = [
        f"{c} *" if m else str(c)
        for c, m in zip(per_class["class"], per_class["minority"], strict=True)
    ]
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


def best_epoch_figure(records: list[dict[str, Any]]) -> Figure | None:
    """Histogram of the best epoch as a share of the classifier's epochs, over ok confirmed runs.

    Runs piling up at 1.0 peaked on their last epoch: they were still learning when stopped.
    """
    share = []
    for r in records:
        best, total = r.get(results.BEST_EPOCH), r["config"].get("classifier.epochs")
        if (
            r.get(results.STATUS) == results.STATUS_OK
            and isinstance(best, (int, float))
            and isinstance(total, (int, float))
            and total > 0
        ):
            share.append(float(best) / float(total))
    if not share:
        return None
    fig = Figure(figsize=(5.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.hist(share, bins=np.linspace(0, 1, 11), edgecolor="white")
    last = sum(s >= 1.0 for s in share)
    ax.set_xlabel("best epoch / classifier epochs")
    ax.set_ylabel("confirmed runs")
    ax.set_title(f"Best epoch: {last} of {len(share)} runs peaked on their last epoch")
    return fig


def optuna_figures(journal: Path | None, fig_dir: Path) -> list[ReportFigure]:
    """Optuna's own matplotlib plots of the search study, read from its journal.

    History, parallel coordinates, slices and intermediate values always (when the study has
    trials); importance only with at least ``MIN_TRIALS_FOR_IMPORTANCE`` COMPLETE trials.
    """
    if journal is None:
        return []
    import matplotlib

    matplotlib.use("Agg", force=False)  # headless; optuna draws through pyplot
    import matplotlib.pyplot as plt
    import optuna
    import optuna.visualization.matplotlib as ovm
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(
            study_name=results.STUDY_NAME, storage=JournalStorage(JournalFileBackend(str(journal)))
        )
        trials = study.get_trials(deepcopy=False)
    except Exception as exc:  # a foreign or truncated journal must not sink the report
        log.warning("search plots unavailable: %s", exc)
        return []
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    plots = [
        ("optuna_history", "Optimisation history (Optuna)", ovm.plot_optimization_history),
        ("optuna_parallel", "Parallel coordinates (Optuna)", ovm.plot_parallel_coordinate),
        ("optuna_slice", "Slices: each parameter vs objective (Optuna)", ovm.plot_slice),
        (
            "optuna_intermediate",
            "Intermediate values reported to the pruner (Optuna)",
            ovm.plot_intermediate_values,
        ),
    ]
    if len(complete) >= MIN_TRIALS_FOR_IMPORTANCE:
        plots.insert(
            3, ("optuna_importance", "Parameter importance (Optuna)", ovm.plot_param_importances)
        )
    out = []
    for name, caption, plot in plots:
        if not complete and name != "optuna_intermediate":
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optuna's ExperimentalWarning on each plot
                axes = plot(study)
        except Exception as exc:  # one plot that cannot be drawn leaves the others
            log.warning("optuna plot %s skipped: %s", name, exc)
            continue
        fig = np.asarray(axes).flat[0].figure
        try:
            out.append(ReportFigure(_save(fig, fig_dir / f"{name}.png"), caption, "search"))
        finally:
            plt.close(fig)
    return out


def search_anytime_figure(exp: Experiment) -> tuple[Figure, str] | None:
    """The search phase's own anytime curve (``report.anytime.sweep_points``) against its compute
    as a fraction of what its configurations cost at full budget without a ladder (estimated,
    ``budget.compute_summary``); None when its rows do not say what they cost."""
    from galaxybench.budget import compute_summary
    from galaxybench.report.anytime import anytime_figure, sweep_points

    rows = exp.phase(results.PHASE_SEARCH)
    points = sweep_points(rows)
    estimate = float(compute_summary(rows).get("exhaustive_full_budget_seconds") or 0.0)
    if not points or estimate <= 0:
        return None
    spent = points[-1][0]
    fig = anytime_figure(
        {"this sweep's search": [points]},
        grid_seconds=estimate,
        reference="full-budget compute of its configurations",
        extend=False,
    )
    caption = (
        f"Anytime curve of the search: best validation objective so far and the test objective of "
        f"that choice against the compute of finished trials ({spent:.0f} s in all; the same "
        f"{len(rows)} configurations at full budget without a ladder: about {estimate:.0f} s, "
        "estimated from the measured seconds per GAN epoch)"
    )
    return fig, caption


def _matrix(value: Any) -> np.ndarray | None:
    """A square float matrix, or None for anything else (a ragged or malformed entry)."""
    try:
        m = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return m if m.ndim == 2 and m.shape[0] == m.shape[1] and m.size else None


def row_confusion(exp: Experiment, row: str) -> tuple[np.ndarray, list[str]] | None:
    """The row's confusion matrices summed over its ok seeds, with its axes' class names.

    Only matrices whose runs name their classes (``class_names``, label order) and agree on them
    are summed; runs from before that key existed are drawn with label numbers, never with names
    taken from a sorted dict, which would put every count under another class's name.
    """
    runs = [
        (m, r.get(results.CLASS_NAMES))
        for r in exp.confirmed
        if r.get(results.ROW) == row and r.get(results.STATUS) == results.STATUS_OK
        for m in [_matrix(r.get(results.CONFUSION_MATRIX))]
        if m is not None
    ]
    if not runs:
        return None
    shape, names = runs[0][0].shape, runs[0][1]
    if not (isinstance(names, list) and len(names) == shape[0]):
        names = None
    mats = [m for m, n in runs if m.shape == shape and (names is None or n == names)]
    labels = [str(n) for n in names] if names else [f"label {i}" for i in range(shape[0])]
    return np.sum(mats, axis=0), labels  # summed over seeds before normalizing


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "figure"


def _sample_caption(folder: str, file: str) -> str:
    """ "top-1: Cigar Shaped Smooth, real training images (top) vs synthetic (bottom), both as
    the trial's upscaler made them" from the file's name."""
    row = _SEED_SUFFIX.sub("", folder) or "trial"
    stem = file.rsplit(".", 1)[0]
    if stem.startswith("real_vs_synthetic_"):
        cls = stem[len("real_vs_synthetic_") :].replace("_", " ")
        return (
            f"{row}: class {cls}, real training images (top) vs synthetic (bottom), "
            "both as the trial's upscaler made them"
        )
    if stem == "sr_strip":
        return f"{row}: LR, bicubic, super-resolved and true HR images"
    return f"{row}: {stem.replace('_', ' ')}"


def _pngs(root: Path) -> list[Path]:
    """The PNG files under ``root``'s figures/ and samples/ folders."""
    return [
        p
        for sub in ("figures", "samples")
        if (root / sub).is_dir()
        for p in (root / sub).rglob("*.png")
        if p.is_file()
    ]


def _first_seeds(folders: list[str]) -> set[str]:
    """Of folders named ``<row>_seed<k>``, the first in sorted order of each row."""
    first: dict[str, str] = {}
    for folder in sorted(folders):
        first.setdefault(_SEED_SUFFIX.sub("", folder), folder)
    return set(first.values())


def copy_trial_images(exp: Experiment, fig_dir: Path) -> list[ReportFigure]:
    """Copy the PNGs trials wrote under samples/ (or figures/), one seed per row.

    Trials write ``samples/<row>_seed<k>/*.png``; the seeds of a row show the same kind of
    images, so only the lowest seed's are kept. Non-PNG files are skipped.
    """
    # Trials save their sample images as arrays (samples/<row>_seed<k>/samples.npz); they are
    # drawn here, into a scratch folder inside the report, never into the experiment.
    drawn = fig_dir / ".samples"
    arrays = sorted(exp.path.glob(f"samples/*/{SAMPLES_FILE}"))
    written = _pngs(exp.path)
    kept = _first_seeds([npz.parent.name for npz in arrays] + [p.parent.name for p in written])
    for npz in arrays:
        if npz.parent.name in kept:  # the other seeds' images would be drawn to be dropped
            render_samples(npz.parent, drawn / "samples" / npz.parent.name)
    # Drawn folders carry the names of the npz folders, so ``kept`` covers them too.
    found = [p for p in sorted(written + _pngs(drawn)) if p.parent.name in kept]
    out = []
    for src in found[:MAX_TRIAL_IMAGES]:
        with src.open("rb") as fh:
            if fh.read(8) != PNG_MAGIC:
                log.warning("skipping %s: not a PNG file", src)
                continue
        root = drawn if src.is_relative_to(drawn) else exp.path
        rel = src.relative_to(root).as_posix()
        dst = fig_dir / f"trial_{_safe_name(rel)}"
        shutil.copyfile(src, dst)
        out.append(ReportFigure(dst, _sample_caption(src.parent.name, src.name), "sample"))
    if len(found) > MAX_TRIAL_IMAGES:
        log.info("showing %d of %d trial images", MAX_TRIAL_IMAGES, len(found))
    shutil.rmtree(drawn, ignore_errors=True)
    return out


def write_figures(
    exp: Experiment, board: pd.DataFrame, per_class: pd.DataFrame, fig_dir: Path
) -> list[ReportFigure]:
    """Write every figure under ``fig_dir``; returns them in display order."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    out: list[ReportFigure] = []
    best = per_class.attrs.get("best_row", ROW_BASELINE)
    if len(per_class):
        out.append(
            ReportFigure(
                _save(per_class_figure(per_class), fig_dir / "per_class_f1.png"),
                f"Per-class test F1: baseline vs {best}",
            )
        )
    for row in dict.fromkeys((ROW_BASELINE, best)):
        confusion = row_confusion(exp, row)
        if confusion is None:
            continue
        matrix, names = confusion
        title = f"Confusion matrix: {row} (summed over seeds)"
        out.append(
            ReportFigure(
                _save(
                    confusion_figure(matrix, names, title),
                    fig_dir / f"confusion_{_safe_name(row)}.png",
                ),
                title,
            )
        )
    epochs = best_epoch_figure(exp.confirmed)
    if epochs is not None:
        out.append(
            ReportFigure(
                _save(epochs, fig_dir / "best_epoch.png"),
                "Best classifier epoch over confirmed runs",
            )
        )
    anytime = search_anytime_figure(exp)
    if anytime is not None:
        out.append(ReportFigure(_save(anytime[0], fig_dir / "anytime.png"), anytime[1], "search"))
    out += optuna_figures(exp.journal, fig_dir)
    out += copy_trial_images(exp, fig_dir)
    return out
