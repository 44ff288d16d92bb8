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

Usage::

    table = build_table(space, {"cgan.lr": 4, "rebalance.threshold": 4}, data, cache_dir="c/")
    write_table(table, "table.csv"); table = read_table("table.csv"); table.best_full()
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from galaxybench import budget, config, results
from galaxybench.errors import ConfigError, DataError, close_matches, did_you_mean
from galaxybench.io import atomic_write_text
from galaxybench.signals import die_with_parent, terminate_workers
from galaxybench.sweep.space import SearchSpace

# Stages whose compute columns the table keeps (evaluate_trial's accounting keys).
GAN_STAGES = ("srgan", "cgan")
STAGES = ("srgan", "cgan", "classifier", "other")
TEST_METRICS = (results.MINORITY_F1, results.MINORITY_F1_DELTA, results.MACRO_F1)
_PREFIX = "# provenance: "


def discretise(
    space: SearchSpace,
    levels: dict[str, int] | None = None,
    values: dict[str, Sequence[Any]] | None = None,
) -> dict[str, list[Any]]:
    """The table's value list per searched key.

    Args:
        levels: key -> number of points for a continuous (uniform, loguniform, int) dimension,
            or a subset size for a grid/choice one (evenly spaced over its values); default 4.
        values: key -> explicit values; also adds a dimension the space does not search (each
            value is checked against the base config).
    """
    levels, values = dict(levels or {}), dict(values or {})
    known = set(space.param_keys()) | set(values)
    for key in levels:
        if key not in known:
            raise ConfigError(
                f"--levels {key}: not a searched parameter of {space.source}"
                f"{did_you_mean(close_matches(key, sorted(known)))} "
                f"(searched: {', '.join(space.param_keys())})"
            )
    base = space.base_config()
    out: dict[str, list[Any]] = {}
    for p in space.params:
        n = int(levels.get(p.key, 4))
        if n < 1:
            raise ConfigError(f"--levels {p.key}={n}: needs at least 1 level")
        if p.key in values:
            out[p.key] = list(values.pop(p.key))
        elif p.kind in ("grid", "choice"):
            vals = list(p.values)
            idx = sorted({round(i * (len(vals) - 1) / max(n - 1, 1)) for i in range(n)})
            out[p.key] = vals if n >= len(vals) else [vals[i] for i in idx]
        elif n == 1:
            out[p.key] = [_round((p.low + p.high) / 2, p.kind)]
        elif p.kind == "loguniform":
            lo, hi = math.log(p.low), math.log(p.high)
            out[p.key] = [_round(math.exp(lo + i * (hi - lo) / (n - 1)), p.kind) for i in range(n)]
        else:
            out[p.key] = sorted(
                {_round(p.low + i * (p.high - p.low) / (n - 1), p.kind) for i in range(n)}
            )
    out.update({k: list(v) for k, v in values.items()})
    for key, vals in out.items():
        if not vals:
            raise ConfigError(f"{key}: no values to tabulate")
        for v in vals:
            try:
                config.from_flat({key: v}, base)
            except ConfigError as exc:
                raise ConfigError(f"table value {key}={v!r}: {exc}") from None
    return out


def _round(v: float, kind: str) -> Any:
    """Four significant digits (a table value is written and read back as text)."""
    return round(v) if kind == "int" else float(f"{v:.4g}")


def grid(disc: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every configuration of the discretised space, in product order."""
    keys = list(disc)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*disc.values())]


def config_key(params: dict[str, Any]) -> str:
    """A row's configuration id (stable over a CSV round trip)."""
    return config.stable_hash({k: params[k] for k in sorted(params)})


@dataclass
class Table:
    """Rows of a tabular benchmark and its provenance.

    ``rows`` hold: config_id, one column per key of ``meta["discretisation"]``, rung (1-based),
    budget_fraction, status, val_objective (NaN when the trial did not finish ok), the test
    metrics (full rung only, else NaN), compute_<stage> and compute_seconds (standalone seconds of
    this rung), measured_seconds, gan_epochs_trained.
    """

    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return list(self.meta["discretisation"])

    @property
    def ladder(self) -> tuple[float, ...]:
        return tuple(self.meta["ladder"])

    def configs(self) -> list[dict[str, Any]]:
        """The table's configurations in its row order (one per config_id)."""
        seen: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            seen.setdefault(row[results.CONFIG_ID], {k: row[k] for k in self.keys})
        return list(seen.values())

    def lookup(self) -> dict[str, list[dict[str, Any]]]:
        """config_id -> its rows ordered by rung."""
        out: dict[str, list[dict[str, Any]]] = {}
        for row in sorted(self.rows, key=lambda r: r["rung"]):
            out.setdefault(row[results.CONFIG_ID], []).append(row)
        return out

    def full_budget_seconds(self, config_id: str) -> float:
        """What the configuration costs without a ladder: GANs over every rung (continued,
        so their sum is one full run), then the full rung's classifier and other seconds."""
        rows = self.lookup()[config_id]
        gans = sum(float(r[f"compute_{s}"]) for r in rows for s in GAN_STAGES)
        last = rows[-1]
        return gans + float(last["compute_classifier"]) + float(last["compute_other"])

    def grid_full_seconds(self) -> float:
        """The exhaustive grid at full budget without a ladder (seconds)."""
        return sum(self.full_budget_seconds(cid) for cid in self.lookup())

    def sub_ladder(self, keep: Sequence[float]) -> Table:
        """The table a search on the shorter ladder ``keep`` (a subset of this ladder's rungs,
        ending at 1) would have built: a kept rung's GAN seconds and epochs include the skipped
        rungs since the previous kept one (a GAN continued past a rung it never reported at trains
        the same epochs; continuation is bit-identical, so the values are those of this table),
        while a skipped rung's classifier and other seconds are not paid. A configuration whose
        climb ended (diverged) at a skipped rung ends at the next kept rung with that row's
        status and the seconds spent up to it."""
        keep = budget.check_ladder(list(keep), "sub-ladder")
        index = []
        for f in keep:
            match = [i for i, g in enumerate(self.ladder) if abs(g - f) <= 1e-6]
            if not match:
                raise ConfigError(f"sub-ladder rung {f} is not a rung of the table {self.ladder}")
            index.append(match[0] + 1)  # 1-based rung
        out_rows = []
        for rows in self.lookup().values():
            by_rung = {r["rung"]: r for r in rows}
            prev = 0
            for new_rung, old_rung in enumerate(index, start=1):
                span = [by_rung[k] for k in range(prev + 1, old_rung + 1) if k in by_rung]
                if not span:
                    break
                row = dict(span[-1])
                for stage in GAN_STAGES:
                    row[f"compute_{stage}"] = round(
                        sum(float(r[f"compute_{stage}"]) for r in span), 3
                    )
                row["gan_epochs_trained"] = sum(int(r["gan_epochs_trained"]) for r in span)
                row["compute_seconds"] = round(sum(float(row[f"compute_{s}"]) for s in STAGES), 3)
                row["rung"], row["budget_fraction"] = new_rung, keep[new_rung - 1]
                out_rows.append(row)
                if span[-1]["rung"] != old_rung:  # the climb ended inside the span
                    break
                prev = old_rung
        meta = {**self.meta, "ladder": list(keep), "sub_ladder_of": list(self.ladder)}
        return Table(out_rows, meta)

    def best_full(self) -> dict[str, Any]:
        """The full-rung row with the highest validation objective."""
        full = [
            r
            for r in self.rows
            if r["rung"] == len(self.ladder) and math.isfinite(r["val_objective"])
        ]
        if not full:
            raise DataError("the table has no finished full-budget configuration")
        return max(full, key=lambda r: r["val_objective"])


# --- building ------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(data_source: str | None, data_cfg: Any, threads: int) -> None:
    """A pool worker loads the data once (the parent's arrays are not pickled per task)."""
    from galaxybench.data import load_data

    die_with_parent()  # no worker outlives the command, however it ends

    _WORKER.update(data=load_data(data_source, data_cfg), threads=threads)


def _climb_config(
    cfg_flat: dict[str, Any],
    ladder: tuple[float, ...],
    cache_dir: str,
    data: Any = None,
    threads: int = 1,
) -> list[dict[str, Any]]:
    """One configuration up every rung (stopping at a diverged rung): its raw rung records."""
    from galaxybench.trial import evaluate_trial

    data = data if data is not None else _WORKER["data"]
    threads = threads if data is not None else _WORKER.get("threads", 1)
    cfg = config.from_flat(cfg_flat)
    out = []
    for r, fraction in enumerate(ladder):
        started = time.perf_counter()
        res = evaluate_trial(
            cfg,
            data,
            cache_dir=cache_dir,
            num_threads=threads,
            device="cpu",
            budget_fraction=fraction,
        )
        m = res.metrics
        out.append(
            {
                "rung": r + 1,
                "budget_fraction": fraction,
                results.STATUS: res.status,
                "metrics": {k: m.get(k) for k in (results.OBJECTIVE, *TEST_METRICS)},
                "compute": m.get(results.COMPUTE_SECONDS, {}),
                "gan_epochs": m.get(results.GAN_EPOCHS, {}),
                "gan_epochs_trained": m.get(results.GAN_EPOCHS_TRAINED, 0),
                "measured": round(time.perf_counter() - started, 3),
            }
        )
        if not res.ok:
            break
    return out


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


def _train_baseline(base: dict[str, Any], data: Any, cache_dir: str | Path) -> None:
    """The baseline (for the test delta) is trained once, here, before any timed configuration."""
    from galaxybench.protocol import baseline_config
    from galaxybench.trial import evaluate_trial

    evaluate_trial(
        baseline_config(config.from_flat(base)),
        data,
        cache_dir=str(cache_dir),
        num_threads=1,
        device="cpu",
    )


def _climb_all(
    flats: list[dict[str, Any]],
    ladder: tuple[float, ...],
    cache_dir: str,
    data: Any,
    *,
    workers: int,
    worker_args: tuple[Any, ...],
    progress: Callable[[int, int], None] | None,
) -> list[list[dict[str, Any]]]:
    """Every configuration's climb, in order: in this process, or in ``workers`` spawned ones
    (each initialised with ``worker_args``)."""
    records: list[list[dict[str, Any]]] = []
    if workers <= 1:
        for i, flat in enumerate(flats):
            records.append(_climb_config(flat, ladder, cache_dir, data=data))
            if progress:
                progress(i + 1, len(flats))
        return records
    import multiprocessing

    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=worker_args,
    ) as pool:
        futures = [pool.submit(_climb_config, f, ladder, cache_dir) for f in flats]
        try:
            for i, fut in enumerate(futures):
                records.append(fut.result())
                if progress:
                    progress(i + 1, len(flats))
        except BaseException:  # Ctrl-C or SIGTERM: stop now, not after the queued configs
            terminate_workers(pool)
            raise
    return records


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


# --- CSV -----------------------------------------------------------------------------------------


def write_table(table: Table, path: str | Path, note: str = "") -> None:
    """The CSV: a ``# provenance:`` JSON line, an optional ``# note:`` line, then the rows.
    Parameter cells are JSON (an int stays an int, a float reads back bit-for-bit)."""
    buf = io.StringIO()
    buf.write(_PREFIX + json.dumps(table.meta, default=str, sort_keys=True) + "\n")
    if note:
        buf.write("# note: " + " ".join(note.split()) + "\n")
    fields = list(table.rows[0])
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        writer.writerow({k: json.dumps(row[k]) if k in table.keys else row[k] for k in fields})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buf.getvalue())


_INT = ("rung", "gan_epochs_trained")
_TEXT = (results.CONFIG_ID, results.STATUS)


def read_table(path: str | Path) -> Table:
    """A table written by ``write_table``; DataError when it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a galaxybench table (binary, not UTF-8 text)") from None
    lines = text.splitlines()
    if not lines or not lines[0].startswith(_PREFIX):
        raise DataError(f"{path}: not a galaxybench table (no '# provenance:' first line)")
    meta = json.loads(lines[0][len(_PREFIX) :])
    body = [line for line in lines[1:] if not line.startswith("#")]
    rows = []
    for raw in csv.DictReader(body):
        row: dict[str, Any] = {}
        for k, v in raw.items():
            if k in meta["discretisation"]:
                row[k] = json.loads(v)
            elif k in _INT:
                row[k] = int(v)
            elif k in _TEXT:
                row[k] = v
            else:
                row[k] = float(v)
        rows.append(row)
    return Table(rows, meta)
