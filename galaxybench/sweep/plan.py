"""The plan of a sweep, free of Ray: phases, the confirm rows, the top configs, ids and rows.

A sweep runs three phases (``results.PHASES``): the baseline on the confirmation seeds, a search
over the space on one fixed split, and the confirm phase, which re-runs the top-k configurations,
the ablations of the best one, the classical rows and the oracle rows on fresh seeds. What each
row means is in ``docs/protocol.md``; how the phases run on Ray is ``sweep.ray_backend``.

Usage::

    points = confirm_points(top[0], top, baseline_flat, seeds=(1, 2, 3, 4, 5))
    top = top_configs(search_rows, k=2)
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from galaxybench import protocol, results
from galaxybench.budget import compute_summary, rung_totals  # noqa: F401 (re-exported)
from galaxybench.config import flat_keys, from_flat, stable_hash
from galaxybench.io import atomic_write_text
from galaxybench.sweep.space import SearchSpace

# The scalar metrics a finished trial reports to Tune besides the whole TrialResult.
SCALARS = (
    results.MINORITY_F1,
    results.MINORITY_F1_DELTA,
    results.MACRO_F1,
    results.ACCURACY,
    results.BALANCED_ACCURACY,
    results.BASELINE_MINORITY_F1,
    results.N_SYNTHETIC,
)


@dataclass
class PhaseSpec:
    """One Tune run: a fixed list of configs (baseline/confirm) or a search over ``space``."""

    name: str
    points: list[dict[str, Any]] = field(default_factory=list)
    space: SearchSpace | None = None
    base_flat: dict[str, Any] = field(default_factory=dict)


# The split's seed: fixed for the search (the base config's), the trial seed for baseline and
# confirm runs, so each confirmation seed also draws a fresh stratified train/val/test split.
SPLIT_SEED = "data.split_seed"
# Keys that name a replicate, not a configuration: left out of ``config_id``.
_REPLICATE_KEYS = ("seed", results.ROW, SPLIT_SEED)


def point(flat: dict[str, Any], row: str, seed: int) -> dict[str, Any]:
    """One preset trial on the fixed split: a flat config with its seed and row name."""
    return {**flat, "seed": seed, results.ROW: row}


def confirm_point(flat: dict[str, Any], row: str, seed: int) -> dict[str, Any]:
    """One baseline or confirm trial: seed ``seed`` on its own split, ``data.split_seed = seed``.

    The baseline and every confirm row at one seed share the split, so gains pair by seed.
    """
    return {**flat, "seed": seed, SPLIT_SEED: seed, results.ROW: row}


def baseline_points(baseline: dict[str, Any], seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """The baseline phase: the baseline on each confirmation seed and its split."""
    return [confirm_point(baseline, protocol.ROW_BASELINE, s) for s in seeds]


def config_id(flat: dict[str, Any]) -> str:
    """Stable id of a flat config without seed and split: the replicates of a config share it."""
    return stable_hash({k: v for k, v in flat.items() if k not in _REPLICATE_KEYS})


def _effective_id(flat: dict[str, Any]) -> str:
    """Id of what a config trains (``protocol.effective_flat``): unused stages' keys left out."""
    keys = set(flat_keys())
    cfg = from_flat({k: v for k, v in flat.items() if k in keys})
    return stable_hash(
        {k: v for k, v in protocol.effective_flat(cfg).items() if k not in _REPLICATE_KEYS}
    )


def confirm_points(
    best: dict[str, Any] | None,
    top: list[dict[str, Any]],
    base: dict[str, Any],
    seeds: tuple[int, ...],
) -> list[dict[str, Any]]:
    """The confirm phase: top-k, the ablations of the best, the classical rows and the oracles.

    Args:
        best: flat config of the best search trial (also ``top[0]``); None when the search kept
            no usable configuration: then only the classical and oracle rows run, so the report
            still compares them with the baseline.
        top: flat configs of the top-k distinct search configs, best first.
        base: flat baseline config of the sweep.
        seeds: the confirmation seeds; every row runs on each, on the split of that seed.

    "oracle" is true HR with no rebalancing: the bound on what any upscaler can add. "oracle
    rebalancer" adds withheld real minority images (the reserve) at the plan of the best config's
    threshold and target: the bound on what any rebalancer can add at that count. "oracle +
    best rebalancer" is the best config with true HR in place of its upscaler (its rebalancer,
    cGAN and classifier settings kept): the upper bound of the pipeline as searched.

    A row that trains what an earlier row trains (e.g. "cgan off" of a config without cGAN, the
    oracle + best rebalancer of a best config without rebalancing) is dropped so no config is run
    twice on a seed.
    """
    rows: list[tuple[str, dict[str, Any]]] = [
        (protocol.top_row(i + 1), f) for i, f in enumerate(top)
    ]
    if best is not None:
        rows.append((protocol.ROW_SRGAN_OFF, {**best, "upscale.method": "bicubic"}))
        rows.append((protocol.ROW_CGAN_OFF, {**best, "rebalance.method": "none"}))
    # Classical rows keep the best config's threshold and target so oversampling is like-for-like.
    keep = {k: (best or base)[k] for k in ("rebalance.threshold", "rebalance.target")}
    for name, change in protocol.CLASSICAL.items():
        rows.append((name, {**base, **keep, **change}))
    rows.append((protocol.ROW_ORACLE, {**base, "upscale.method": "oracle"}))
    rows.append((protocol.ROW_ORACLE_REBALANCER, {**base, **keep, **protocol.ORACLE_REBALANCER}))
    if best is not None:
        rows.append((protocol.ROW_ORACLE_BEST, {**best, "upscale.method": "oracle"}))
    seen: set[str] = {_effective_id(base)}
    points = []
    for row, flat in rows:
        cid = _effective_id(flat)
        if cid in seen:
            continue
        seen.add(cid)
        points.extend(confirm_point(flat, row, s) for s in seeds)
    return points


def control_points(base: dict[str, Any], seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """The controls phase of ``galaxybench validate``, each row on every seed and its split.

    The baseline again (negative control: same seed and split, so its difference is exactly 0),
    the baseline with seed ``seed + CONTROL_SEED_OFFSET`` on the split of ``seed`` (the noise
    floor), the oracle upscaler and the oracle rebalancer (positive controls).
    """
    rows = [
        (protocol.ROW_BASELINE_AGAIN, base, 0),
        (protocol.ROW_BASELINE_OTHER_SEED, base, protocol.CONTROL_SEED_OFFSET),
        (protocol.ROW_ORACLE, {**base, "upscale.method": "oracle"}, 0),
        (protocol.ROW_ORACLE_REBALANCER, {**base, **protocol.ORACLE_REBALANCER}, 0),
    ]
    return [
        {**confirm_point(flat, row, s), "seed": s + offset}
        for row, flat, offset in rows
        for s in seeds
    ]


def top_configs(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Flat configs (no seed) of the k best distinct ok search trials by validation objective."""
    ok = [
        r
        for r in rows
        if r[results.STATUS] == results.STATUS_OK
        and isinstance(r.get(results.OBJECTIVE), (int, float))
    ]
    ok.sort(key=lambda r: (-r[results.OBJECTIVE], r[results.TRIAL_ID]))
    out, seen = [], set()
    for r in ok:
        if r[results.CONFIG_ID] not in seen:
            seen.add(r[results.CONFIG_ID])
            out.append({k2: v for k2, v in r["config"].items() if k2 != "seed"})
        if len(out) == k:
            break
    return out


# Optuna's trial states, by name (optuna.trial.TrialState[name]), so the plan imports no Optuna.
STUDY_COMPLETE, STUDY_PRUNED, STUDY_FAIL = "COMPLETE", "PRUNED", "FAIL"


def study_outcome(result: dict[str, Any] | None, error: bool = False) -> tuple[str, float | None]:
    """How one ended search trial is told to the Optuna study: (state name, objective or None).

    Args:
        result: the trial's last Tune result (flat), None when it never reported.
        error: the trial crashed (after its retries).

    Only a trial that finished ok carries ``results.OBJECTIVE`` (the trainable reports it once, at
    the end) and is ``COMPLETE`` with it. A diverged or failed trial, or a crash, is ``FAIL``: it
    has no score, and 0.0 would tell TPE "this region is bad" for a GAN that merely blew up. A
    trial that ended after per-epoch reports only was stopped by the scheduler: ``PRUNED``, as is
    one that never reported (stopped while pending).
    """
    if error:
        return STUDY_FAIL, None
    result = result or {}
    status = result.get(results.STATUS)
    value = result.get(results.OBJECTIVE)
    if status == results.STATUS_OK and isinstance(value, (int, float)) and math.isfinite(value):
        return STUDY_COMPLETE, float(value)
    if status is not None:  # a final report without a usable objective: diverged or failed
        return STUDY_FAIL, None
    return STUDY_PRUNED, None


def phase_stats(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Per-phase counts by status, for summary.json."""
    count = {s: sum(r[results.STATUS] == s for r in rows) for s in results.STATUSES}
    return {"trials": len(rows), **count, "seconds": round(seconds, 2)}


def best_and_rows(phases: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Best search config, and every confirm row's outcome over its seeds (``row_outcome``)."""
    top = [
        r for r in phases.get(results.PHASE_SEARCH, []) if r[results.STATUS] == results.STATUS_OK
    ]
    top.sort(key=lambda r: (-r.get(results.OBJECTIVE, -1.0), r[results.TRIAL_ID]))
    best = None
    if top:
        best = {
            k: top[0].get(k)
            for k in (results.TRIAL_ID, results.CONFIG_ID, results.OBJECTIVE, results.MINORITY_F1)
        }
        best["config"] = top[0]["config"]
    rows: dict[str, list[dict[str, Any]]] = {}
    for r in phases.get(results.PHASE_BASELINE, []) + phases.get(results.PHASE_CONFIRM, []):
        rows.setdefault(r[results.ROW], []).append(r)
    return {"best": best, "rows": {row: row_outcome(group) for row, group in rows.items()}}


def row_outcome(group: list[dict[str, Any]]) -> dict[str, Any]:
    """One confirm row over its seeds: mean test minority F1 of the ok runs (None without one),
    ``n`` ok runs of ``trials``, the count of each other status and each reason, so a row whose
    runs diverged is listed with why, not dropped.
    """
    ok = [r for r in group if r[results.STATUS] == results.STATUS_OK]
    bad = [r for r in group if r[results.STATUS] != results.STATUS_OK]
    scores = [float(r.get(results.MINORITY_F1, 0.0)) for r in ok]
    entry: dict[str, Any] = {
        "n": len(ok),
        results.MINORITY_F1: round(sum(scores) / len(scores), 4) if scores else None,
        "trials": len(group),
    }
    entry.update({results.STATUS_DIVERGED: 0, results.STATUS_FAILED: 0})
    entry.update(Counter(str(r[results.STATUS]) for r in bad))
    entry["reasons"] = dict(
        Counter(str(r.get(results.REASON) or r[results.STATUS]).strip() for r in bad)
    )
    return entry


def _trial_id(result: Any) -> str:
    tid = (result.metrics or {}).get(results.TRIAL_ID)
    if tid:
        return str(tid)
    return Path(str(result.path)).name.removeprefix("trial_")


def row_of(result: Any, phase: str) -> dict[str, Any]:
    """One results/<phase>.jsonl line from a Tune Result (``TrialResult.to_dict()`` + ids).

    ``result`` needs only ``metrics``, ``config``, ``error`` and ``path`` (a ``ray.tune.Result``).
    """
    metrics = dict(result.metrics or {})
    config = dict(result.config or {})
    flat = {k: v for k, v in config.items() if k != results.ROW}
    if results.RESULT_JSON in metrics:
        line = json.loads(metrics[results.RESULT_JSON])
    elif result.error is not None:
        lines = str(result.error).strip().splitlines() or [""]
        line = {
            results.STATUS: results.STATUS_FAILED,
            results.REASON: f"{type(result.error).__name__}: {lines[-1]}",
        }
    elif results.VAL_OBJECTIVE_STEP in metrics:  # per-epoch reports only: stopped by the scheduler
        epochs = metrics.get("training_iteration", "?")
        # The last per-epoch value, under the step key: results.OBJECTIVE is a finished
        # trial's score.
        line = {
            results.STATUS: results.STATUS_PRUNED,
            results.REASON: f"stopped early by ASHA after {epochs} epochs",
            results.VAL_OBJECTIVE_STEP: metrics[results.VAL_OBJECTIVE_STEP],
        }
        if isinstance(
            metrics.get(results.N_SYNTHETIC), (int, float)
        ):  # the trial's plan, known early
            line[results.N_SYNTHETIC] = int(metrics[results.N_SYNTHETIC])
        # What it cost up to its last epoch (the trial reports its compute so far each epoch).
        prefix = results.COMPUTE_SECONDS + "."
        stages = {k[len(prefix) :]: float(v) for k, v in metrics.items() if k.startswith(prefix)}
        if stages:
            line[results.COMPUTE_SECONDS] = stages
            line[results.COMPUTE_SECONDS_TOTAL] = float(
                metrics.get(results.COMPUTE_SECONDS_TOTAL, sum(stages.values()))
            )
            if isinstance(metrics.get(results.GAN_EPOCHS), str):
                line[results.GAN_EPOCHS] = json.loads(metrics[results.GAN_EPOCHS])
                line[results.GAN_EPOCHS_TRAINED] = int(metrics.get(results.GAN_EPOCHS_TRAINED, 0))
        if results.RUNGS in metrics:  # a budget-ladder trial: its rungs and the compute they cost
            rungs = json.loads(metrics[results.RUNGS])
            line.update(
                reason=f"stopped early by ASHA after rung {len(rungs)} of the budget ladder",
                **{results.RUNGS: rungs},
                **rung_totals(rungs),
            )
    else:
        line = {
            results.STATUS: results.STATUS_FAILED,
            results.REASON: f"trial ended without reporting {results.OBJECTIVE}",
        }
    line.setdefault("config", flat)
    line.setdefault("seed", flat.get("seed"))
    line["split_seed"] = line["config"].get(SPLIT_SEED, flat.get(SPLIT_SEED))
    line.update(
        {
            results.PHASE: phase,
            results.ROW: config.get(results.ROW, phase),
            results.TRIAL_ID: _trial_id(result),
            results.CONFIG_ID: config_id(line["config"]),
            results.TIME_TOTAL_S: float(metrics.get(results.TIME_TOTAL_S, 0.0) or 0.0),
        }
    )
    if isinstance(metrics.get(results.FINISHED_AT), (int, float)):
        line[results.FINISHED_AT] = float(metrics[results.FINISHED_AT])
    if line[results.STATUS] != results.STATUS_OK:
        line.setdefault(results.REASON, "")
    return line


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``results/<phase>.jsonl`` file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write a ``results/<phase>.jsonl`` file atomically: a phase is finished when it exists."""
    atomic_write_text(
        path, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows)
    )
