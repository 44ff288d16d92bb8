"""``galaxybench tabulate``: run a search space's discretised grid at every rung into a CSV table.

Usage::

    galaxybench tabulate --space default --levels cgan.lr=4 rebalance.threshold=4 \\
        --values cgan.batch_size=16,32 --ladder 0.5,1.0 --workers 2 --out table.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from galaxybench.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tabulate",
        help="tabular benchmark: every grid config x rung of a space, run once",
        description="Run every configuration of a search space (continuous dimensions "
        "discretised) at every rung of its budget ladder once, in this process "
        "(or a pool of --workers processes), and write configuration x rung -> "
        "validation objective, test metrics and compute seconds as a CSV with its "
        "provenance. Searchers are replayed on it by bench/search_efficiency.py.",
    )
    p.add_argument("--space", default="default", help="built-in search space or YAML file")
    p.add_argument(
        "--levels",
        nargs="*",
        default=[],
        metavar="KEY=N",
        help="points per continuous dimension (default 4), or a subset size of a grid",
    )
    p.add_argument(
        "--values",
        nargs="*",
        default=[],
        metavar="KEY=V1,V2",
        help="explicit values of a dimension (may add one the space does not search)",
    )
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="config overrides on the space's base config",
    )
    p.add_argument(
        "--ladder",
        default=None,
        help="rung fractions, e.g. 0.5,1.0 (default: the space's search.ladder)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes (one torch thread each)")
    p.add_argument("--data", default=None, help="data file or name (default: embedded data)")
    p.add_argument("--cache", default=None, help="stage cache directory (default: a temp dir)")
    p.add_argument("--note", default="", help="a line stored in the CSV under the provenance")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=_tabulate)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for text in items:
        if "=" not in text:
            raise InputError(f"{option} expects KEY=VALUE, got {text!r}")
        key, value = text.split("=", 1)
        out[key.strip()] = value
    return out


def _yaml(text: str) -> Any:
    import yaml

    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _tabulate(args: argparse.Namespace) -> int:
    import tempfile

    from galaxybench.data import load_data
    from galaxybench.sweep.space import load_search_space
    from galaxybench.sweep.tabular import build_table, write_table

    if Path(args.out).is_dir():  # refused now, not after the whole table is built
        raise InputError(
            f"--out {args.out} is a directory; tabulate writes one CSV file, e.g. "
            f"{Path(args.out) / 'table.csv'}"
        )
    space = load_search_space(args.space).with_options(overrides=args.overrides)
    try:
        levels = {k: int(v) for k, v in _pairs(args.levels, "--levels").items()}
    except ValueError:
        raise InputError("--levels expects KEY=N with an integer N") from None
    values = {
        k: [_yaml(x) for x in v.split(",")] for k, v in _pairs(args.values, "--values").items()
    }
    ladder = None
    if args.ladder:
        try:
            ladder = [float(x) for x in args.ladder.split(",")]
        except ValueError:
            raise InputError(
                f"--ladder expects fractions like 0.5,1.0, got {args.ladder!r}"
            ) from None
    if args.workers < 1:
        raise InputError("--workers must be >= 1")
    data = load_data(args.data, space.base_config().data)
    cache = args.cache or tempfile.mkdtemp(prefix="galaxybench-tabulate-")
    started = time.time()

    def progress(done: int, total: int) -> None:
        print(
            f"\r{done}/{total} configurations, {time.time() - started:.0f} s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    table = build_table(
        space,
        levels,
        data,
        cache_dir=cache,
        ladder=ladder,
        values=values,
        workers=args.workers,
        data_source=args.data,
        progress=progress,
    )
    print(file=sys.stderr)
    write_table(table, args.out, note=args.note)
    best = table.best_full()
    print(
        f"{args.out}: {table.meta['configurations']} configurations x {len(table.ladder)} "
        f"rungs in {table.meta['wall_seconds']} s; grid full-budget compute "
        f"{table.grid_full_seconds():.1f} s; best validation objective "
        f"{best['val_objective']:.4f} ({', '.join(f'{k}={best[k]}' for k in table.keys)})"
    )
    return 0
