"""A tabular benchmark of a search space: every grid configuration at every rung, run once.

The continuous dimensions of a space are discretised (``discretise``: log-spaced for loguniform,
evenly spaced for uniform and int, a grid/choice keeps its values unless given new ones), every
configuration of the product climbs the budget ladder once through ``evaluate_trial`` with one
shared stage cache (so each GAN trains once per configuration and a higher rung continues it), and
each (configuration, rung) becomes a row: validation objective, test metrics (full rung only),
compute seconds by stage. Searchers are then replayed on the table at no training cost
(``galaxybench.sweep.replay``), as HPOBench, YAHPO Gym and the NAS-Bench tables are used.

Compute columns are *standalone* costs: a GAN whose checkpoint another configuration of the table
had already trained (the SRGAN is shared by every configuration of one depth) is charged the
seconds its first training took, so a row's cost does not depend on the order the table was built
in; ``measured_seconds`` is what the row really took here. A configuration's cost without a
ladder (``full_budget_seconds``) is its GAN seconds over all rungs (a continued GAN costs its
increment, ``bench/continuation.py``) plus the full rung's classifier and other seconds.

The CSV starts with ``# provenance: {json}`` (space, ladder, discretisation, data fingerprint,
versions, wall time, load average); ``read_table`` reads both back. Ray-free.

This module turns the climbs into rows and builds the table; the schema (``discretise``,
``Table``) is in ``tabular_table``, the runner in ``tabular_pool``, the CSV in ``tabular_csv``
(all re-exported here).

Usage::

    table = build_table(space, {"cgan.lr": 4, "rebalance.threshold": 4}, data, cache_dir="c/")
    write_table(table, "table.csv"); table = read_table("table.csv"); table.best_full()
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from galaxybench import budget, config, results
from galaxybench.errors import ConfigError
from galaxybench.sweep.space import SearchSpace
from galaxybench.sweep.tabular_csv import read_table, write_table
from galaxybench.sweep.tabular_pool import _climb_all, _train_baseline
from galaxybench.sweep.tabular_table import (
    GAN_STAGES,
    STAGES,
    TEST_METRICS,
    Table,
    config_key,
    discretise,
    grid,
)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else math.nan


def _rows(
    params: dict[str, Any],
    records: list[dict[str, Any]],
    first_cost: dict[tuple[str, str, int], float],
) -> list[dict[str, Any]]:
    """Table rows of one configuration, GAN cache hits charged their first training's seconds."""
    rows = []
    for rec in records:
        compute = {s: float(rec["compute"].get(s, 0.0)) for s in STAGES}
        for stage in GAN_STAGES:
            g = rec["gan_epochs"].get(stage)
            if g is not None and g["reached"] == g["start"] and g["start"] > 0:
                compute[stage] = first_cost.get((stage, g["key"], g["reached"]), compute[stage])
        m = rec["metrics"]
        ok = rec[results.STATUS] == results.STATUS_OK
        row = {
            results.CONFIG_ID: config_key(params),
            **params,
            "rung": rec["rung"],
            "budget_fraction": rec["budget_fraction"],
            results.STATUS: rec[results.STATUS],
            "val_objective": _num(m.get(results.OBJECTIVE)) if ok else math.nan,
            **{k: _num(m.get(k)) if ok else math.nan for k in TEST_METRICS},
            **{f"compute_{s}": round(v, 3) for s, v in compute.items()},
            "compute_seconds": round(sum(compute.values()), 3),
            "measured_seconds": rec["measured"],
            "gan_epochs_trained": rec["gan_epochs_trained"],
        }
        rows.append(row)
    return rows


def _first_costs(all_records: list[list[dict[str, Any]]]) -> dict[tuple[str, str, int], float]:
    """(stage, key, epochs reached) -> seconds of the run that really trained to that count."""
    out: dict[tuple[str, str, int], float] = {}
    for records in all_records:
        for rec in records:
            for stage, g in rec["gan_epochs"].items():
                if g["reached"] > g["start"]:
                    out.setdefault(
                        (stage, g["key"], g["reached"]), float(rec["compute"].get(stage, 0.0))
                    )
    return out


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _table_ladder(space: SearchSpace, ladder: Sequence[float] | None) -> tuple[float, ...]:
    """The rungs: ``ladder``, else the space's ``search.ladder``; ConfigError without either."""
    if ladder or space.search.ladder:
        return budget.check_ladder(
            list(ladder) if ladder else list(space.search.ladder), "--ladder"
        )
    raise ConfigError(f"{space.source} has no search.ladder: pass --ladder, e.g. 0.5,1.0")


def _table_meta(
    space: SearchSpace,
    ladder: tuple[float, ...],
    disc: dict[str, list[Any]],
    n_configs: int,
    data: Any,
    data_source: str | None,
    workers: int,
    started: float,
    load_before: list[float] | None,
) -> dict[str, Any]:
    """The table's provenance line: space, ladder, discretisation, data, machine, versions."""
    return {
        "space": space.to_dict(),
        "space_source": space.source,
        "ladder": list(ladder),
        "discretisation": disc,
        "configurations": n_configs,
        "seed": space.search_seed,
        "data_fingerprint": getattr(data, "fingerprint", None),
        "data_source": getattr(data, "source", data_source),
        "workers": workers,
        "wall_seconds": round(time.time() - started, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": _load_average(),
        },
        "provenance": results.provenance(),
        "objective": results.OBJECTIVE,
        "test_objective": results.MINORITY_F1,
        "compute": "standalone seconds per rung (GAN cache hits charged their first "
        "training); measured_seconds is what each row took while built",
    }


def build_table(
    space: SearchSpace,
    levels: dict[str, int] | None,
    data: Any,
    *,
    cache_dir: str | Path,
    ladder: Sequence[float] | None = None,
    values: dict[str, Sequence[Any]] | None = None,
    workers: int = 1,
    data_source: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Table:
    """Run every configuration of the discretised space at every rung once.

    Args:
        ladder: the rungs (default: the space's ``search.ladder``).
        workers: processes (each loads the data itself from ``data_source``, one torch thread
            each); 1 runs in this process on ``data``.
        progress: called with (configurations done, total).
    """
    rungs = _table_ladder(space, ladder)
    disc = discretise(space, levels, values)
    base = {**config.to_flat(space.base_config()), "seed": space.search_seed}
    configs = grid(disc)
    started = time.time()
    load_before = _load_average()
    _train_baseline(base, data, cache_dir)
    records = _climb_all(
        [{**base, **params} for params in configs],
        tuple(rungs),
        str(cache_dir),
        data,
        workers=workers,
        worker_args=(data_source, space.base_config().data, 1),
        progress=progress,
    )
    first = _first_costs(records)
    rows = [
        row
        for params, recs in zip(configs, records, strict=True)
        for row in _rows(params, recs, first)
    ]
    meta = _table_meta(
        space, rungs, disc, len(configs), data, data_source, workers, started, load_before
    )
    return Table(rows, meta)


__all__ = [
    "GAN_STAGES",
    "STAGES",
    "TEST_METRICS",
    "Table",
    "build_table",
    "config_key",
    "discretise",
    "grid",
    "read_table",
    "write_table",
]
