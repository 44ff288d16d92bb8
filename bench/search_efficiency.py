"""Search efficiency on the shipped tabular benchmark: compute to reach the grid's best.

For each searcher (random, grid, TPE, and TPE or random with ASHA or asynchronous Hyperband;
``galaxybench.sweep.replay``, the sweep's own Optuna samplers and Ray Tune schedulers) and each of
``--seeds`` search seeds, the search is replayed on the table with ``--workers`` simulated workers
until it has spent ``--budget`` x the grid's full-budget compute. The figure per searcher is the
cumulative compute at which its best-so-far validation objective first came within 0.01 of the
grid's best, as a fraction of the exhaustive grid's full-budget compute (inf when a seed never got
there), median over seeds. ``ratio`` is the best searcher's median (goal 0.4, stretch 0.2). The
anytime curves (median and IQR over seeds) go to reports/bench/search_efficiency_anytime.png.

A searcher with a scheduler is replayed on the table's own ladder and on every shorter ladder made
of its rungs that still ends at 1 (``Table.sub_ladder``; e.g. 1/3, 1 out of 1/9, 1/3, 1), and is
named with its ladder ("tpe+asha @ 1/3,1"): which ladder to give the space is part of the answer.

Usage: ``python bench/search_efficiency.py [--table benchmarks/default.csv] [--seeds 50]``;
``--smoke``: the reduced 3-rung table on 2 seeds.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_smoke_flag, finish, reports_dir

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.01
GOAL = 0.4


def _median(per: dict, name: str) -> float:
    value = per[name]["median_fraction"]
    return math.inf if value is None else value


def _finite(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


def _label(ladder: tuple[float, ...]) -> str:
    from fractions import Fraction

    return ",".join(str(Fraction(f).limit_denominator(1000)) for f in ladder)


def _runs(table, searchers) -> dict[str, tuple[str, object]]:
    """name -> (searcher, table or sub-ladder table): a scheduler on every ladder of the table's
    rungs that ends at 1 and has at least two rungs; the others once, on the table."""
    from itertools import combinations

    lower = table.ladder[:-1]
    ladders = [(*sub, 1.0) for n in range(len(lower), 0, -1) for sub in combinations(lower, n)]
    out: dict[str, tuple[str, object]] = {}
    for searcher in searchers:
        if "+" not in searcher:
            out[searcher] = (searcher, table)
            continue
        for ladder in ladders:
            variant = table if ladder == table.ladder else table.sub_ladder(ladder)
            out[f"{searcher} @ {_label(ladder)}"] = (searcher, variant)
    return out


def main() -> None:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=str(ROOT / "benchmarks" / "default.csv"))
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--budget",
        type=float,
        default=2.0,
        help="compute per search, in grids' full-budget compute",
    )
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.table, args.seeds = str(ROOT / "benchmarks" / "default-reduced-3rung.csv"), 2

    from galaxybench.report.anytime import anytime_figure
    from galaxybench.sweep.replay import SEARCHERS, compute_to_reach, replay, trials_to_reach
    from galaxybench.sweep.tabular import read_table

    table = read_table(args.table)
    runs = _runs(table, SEARCHERS)
    grid_s = table.grid_full_seconds()
    best = table.best_full()
    target = best["val_objective"] - TOLERANCE
    started = time.perf_counter()
    per: dict[str, dict[str, object]] = {}
    curves = {}
    for name, (searcher, variant) in runs.items():
        reps = [
            replay(
                variant, searcher, seed, workers=args.workers, budget_seconds=args.budget * grid_s
            )
            for seed in range(args.seeds)
        ]
        curves[name] = [r.points for r in reps]
        fractions = [compute_to_reach(r, target) / grid_s for r in reps]
        finite = sorted(f for f in fractions if math.isfinite(f))
        median = statistics.median(fractions)  # inf when more than half the seeds never reached
        per[name] = {
            "median_fraction": round(median, 4) if math.isfinite(median) else None,
            # Quartiles with unreached seeds as inf (None: that quartile never reached).
            "iqr": [
                round(float(x), 4) if math.isfinite(x) else None
                for x in statistics.quantiles(fractions, n=4, method="inclusive")[::2]
            ],
            "seeds_reached": f"{len(finite)}/{len(fractions)}",
            "trials_median": statistics.median(len({e["trial"] for e in r.events}) for r in reps),
            # num_samples that reached the target (median over seeds; None: most never did)
            "trials_to_reach_median": _finite(
                statistics.median(trials_to_reach(r, target) for r in reps)
            ),
        }
    replay_s = time.perf_counter() - started
    # Why a scheduler can (not) help: does rung 1 rank configurations as the full rung does?
    from scipy.stats import spearmanr

    pairs = [
        (rows[0]["val_objective"], rows[-1]["val_objective"])
        for rows in table.lookup().values()
        if len(rows) == len(table.ladder) and math.isfinite(rows[-1]["val_objective"])
    ]
    rho = spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic
    diverged = sum(
        1 for rows in table.lookup().values() if not math.isfinite(rows[-1]["val_objective"])
    )
    # The figure: one line per searcher, a scheduler on the ladder where its median was lowest.
    shown: dict[str, str] = {}
    for name, (kind, _) in runs.items():
        if kind not in shown or _median(per, name) < _median(per, shown[kind]):
            shown[kind] = name
    fig = anytime_figure(
        {name: curves[name] for name in shown.values()},
        log_x=True,
        grid_seconds=grid_s,
        best=best["val_objective"],
        best_test=best["minority_f1"],
        title=f"{Path(args.table).name}: {args.seeds} seeds, {args.workers} simulated workers",
    )
    folder = reports_dir(args.smoke)
    if folder is not None:
        fig.savefig(folder / "search_efficiency_anytime.png", dpi=90)
    ranked = sorted(
        (v["median_fraction"], k) for k, v in per.items() if v["median_fraction"] is not None
    )
    ratio, winner = ranked[0] if ranked else (math.inf, None)
    for name, figures in per.items():
        print(f"{name:28s} {figures}")
    finish(
        "search_efficiency",
        ratio=ratio,
        goal=GOAL,
        smoke=args.smoke,
        best_searcher=winner,
        stretch_goal=0.2,
        table=str(Path(args.table).resolve().relative_to(ROOT))
        if Path(args.table).resolve().is_relative_to(ROOT)
        else args.table,
        table_configurations=table.meta["configurations"],
        table_ladder=list(table.ladder),
        table_reduced="reduced" in Path(args.table).name,
        grid_full_budget_seconds=round(grid_s, 1),
        grid_best_val_objective=round(best["val_objective"], 4),
        tolerance=TOLERANCE,
        seeds=args.seeds,
        workers=args.workers,
        budget_grids=args.budget,
        diverged_configurations=diverged,
        rung1_vs_full_spearman=round(float(rho), 3),
        rung1_vs_full_pairs=len(pairs),
        replay_seconds=round(replay_s, 1),
        load_average=[round(x, 2) for x in os.getloadavg()],
        searchers=per,
    )


if __name__ == "__main__":
    main()
