"""Anytime curves: best-so-far validation objective, and the test objective of the configuration
chosen so far, against cumulative compute, per searcher (median and interquartile band over
search seeds). Torch-free: it reads replay points (``sweep.replay.Replay.points``) or one real
sweep's own points.

A real sweep's own curve (``sweep_points``) orders its search trials by when they finished
(``finished_at``, trial id order for rows without it), adds each trial's compute seconds (every rung
it climbed, or up to the epoch the scheduler stopped it at) as it finishes, and moves the choice to
a trial that finished at full budget with a higher validation objective. Trials still running when
one finishes are not yet counted: the x axis is the compute of finished trials.

Usage::

    curves = {"tpe+asha": [rep.points for rep in replays], ...}
    anytime_figure(curves, grid_seconds=table.grid_full_seconds(), best=0.42).savefig("a.png")
    anytime_figure({"this sweep": [sweep_points(rows)]}, grid_seconds=estimate)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from galaxybench import results

Points = Sequence[tuple[float, float, float]]  # (cumulative seconds, best validation, its test)


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


def sweep_points(rows: Sequence[dict]) -> list[tuple[float, float, float]]:
    """One real search phase as anytime points (see the module docstring): after each finished
    trial, (compute of the trials finished so far, best full-budget validation objective, the
    test objective of that trial). Empty when no row says what it cost."""

    def finished(row: dict) -> tuple[float, str]:  # rows without a time first, by trial id
        at = _number(row.get(results.FINISHED_AT))
        return (at if math.isfinite(at) else 0.0, str(row.get(results.TRIAL_ID, "")))

    order = sorted(rows, key=finished)  # stable: ties keep file order
    if not any(math.isfinite(_number(r.get(results.COMPUTE_SECONDS_TOTAL))) for r in order):
        return []
    spent, best, points = 0.0, (-math.inf, math.nan), []
    for row in order:
        seconds = _number(row.get(results.COMPUTE_SECONDS_TOTAL))
        spent += seconds if math.isfinite(seconds) else 0.0
        value = _number(row.get(results.OBJECTIVE))
        if (
            row.get(results.STATUS) == results.STATUS_OK
            and math.isfinite(value)
            and value > best[0]
        ):
            best = (value, _number(row.get(results.MINORITY_F1)))
        points.append((spent, best[0] if best[0] > -math.inf else math.nan, best[1]))
    return points


def step_values(points: Points, xs: np.ndarray, column: int) -> np.ndarray:
    """The step function of one run sampled at ``xs``: the value of the last point at or before
    each x (NaN before the first point; a search that stopped keeps its last value)."""
    if not points:
        return np.full(xs.shape, np.nan)
    seconds = np.array([p[0] for p in points], dtype=float)
    values = np.array([p[column] for p in points], dtype=float)
    idx = np.searchsorted(seconds, xs, side="right") - 1
    out = np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)
    return out


def band(runs: Sequence[Points], xs: np.ndarray, column: int) -> tuple[np.ndarray, ...]:
    """(25th percentile, median, 75th percentile) over runs at ``xs``. A run without a finished
    configuration yet counts as below every value, and a quantile that falls on (or between) such
    runs is NaN: the median is drawn once half the seeds have a choice. So every quantile of the
    best-so-far validation objective is non-decreasing, as each run's is (ignoring the runs
    without a value instead would let the median drop as late seeds join)."""
    grid = np.vstack([step_values(p, xs, column) for p in runs])
    grid = np.where(np.isnan(grid), -np.inf, grid)
    out = []
    with np.errstate(invalid="ignore"):  # -inf + inf between a missing and a real value: NaN
        for q in (25, 50, 75):
            col = np.percentile(grid, q, axis=0)
            out.append(np.where(np.isfinite(col), col, np.nan))
    return tuple(out)


def anytime_figure(
    curves: dict[str, Sequence[Points]],
    *,
    grid_seconds: float,
    best: float | None = None,
    best_test: float | None = None,
    title: str = "",
    reference: str = "grid's full-budget compute",
    extend: bool = True,
    log_x: bool = False,
) -> Figure:
    """Two panels against compute as a fraction of the exhaustive grid's full-budget compute:
    best-so-far validation objective, and the test objective of the current choice; one median
    line and IQR band per searcher (a single run: its own line); dashed: the grid's best
    (validation, and its test value). ``reference`` names what ``grid_seconds`` is; with
    ``extend`` the lines run on to ``grid_seconds`` (a replay's budget), else they end where the
    runs ended (one real sweep); ``log_x`` spaces compute logarithmically (many searches reach
    their best within a small fraction of the grid)."""
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2, sharex=True)
    end = max((p[-1][0] for runs in curves.values() for p in runs if p), default=grid_seconds)
    stop = max(end, grid_seconds) if extend else end
    if log_x:
        first = min((p[0][0] for runs in curves.values() for p in runs if p), default=stop)
        xs = np.geomspace(max(first, stop * 1e-4), stop, 400)
    else:
        xs = np.linspace(0.0, stop, 400)
    for name, runs in curves.items():
        for ax, column in zip(axes, (1, 2), strict=True):
            lo, med, hi = band(runs, xs, column)
            (line,) = ax.plot(xs / grid_seconds, med, label=f"{name} (n={len(runs)})")
            ax.fill_between(
                xs / grid_seconds, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0
            )
    for ax, ref, label in zip(
        axes,
        (best, best_test),
        ("validation objective (best so far)", "test objective of the choice"),
        strict=True,
    ):
        if ref is not None and math.isfinite(ref):
            ax.axhline(ref, color="k", linestyle="--", linewidth=1, label="grid's best")
        ax.set_xlabel(f"cumulative compute / {reference}")
        if log_x:
            ax.set_xscale("log")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
