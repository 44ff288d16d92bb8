"""The phases of a sweep as Ray Tune runs: the trainable, the Tuner of each phase, its results.

Every trial's Ray config is the full flat config (dotted keys, ``seed`` included) plus ``row``, so
``tune.ExperimentAnalysis`` shows every setting as a column. Baseline and confirm run a fixed list
of configs (``BasicVariantGenerator(points_to_evaluate=...)``, FIFO); the search samples (Optuna
TPE in a ConcurrencyLimiter, random or grid) and prunes with ASHA on the per-epoch objective.

Usage::

    tuner = make_tuner(spec, trainable, exp_dir)   # or restore_tuner(...)
    rows = collect_rows(tuner.fit(), "search")
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

from galaxybench import config as C
from galaxybench import results as R
from galaxybench.search_space import SearchSpace
from galaxybench.tune_progress import ProgressCallback

log = logging.getLogger(__name__)

STATUS_PRUNED = "pruned"  # stopped early by ASHA: validation metrics only, never confirmed
RESULT_JSON = "trial_result_json"  # the whole TrialResult, reported once at the end of a trial

_SCALARS = (R.MINORITY_F1, R.MINORITY_F1_DELTA, R.MACRO_F1, R.ACCURACY, R.BALANCED_ACCURACY,
            R.BASELINE_MINORITY_F1, R.N_SYNTHETIC)


# The classical rows: one classical change to the baseline each (DESIGN 1.4, 1.7).
CLASSICAL = {"oversample": {"rebalance.method": "oversample"},
             "weighted_ce": {"classifier.loss": "weighted_ce"},
             "dihedral": {"classifier.augment": "dihedral"}}



@dataclass
class PhaseSpec:
    """One Tune run: a fixed list of configs (baseline/confirm) or a search over ``space``."""

    name: str
    points: list[dict[str, Any]] = field(default_factory=list)
    space: SearchSpace | None = None
    base_flat: dict[str, Any] = field(default_factory=dict)


def trainable(config: dict[str, Any], *, data: Any, trial_fn: Callable[..., Any], cache_dir: str,
              cpus: float, gpus: float, samples_dir: str | None = None) -> None:
    """The Tune function trainable: one trial of the flat config, reported per epoch and at the end.

    A diverged GAN (``status=diverged``) or a finished trial without the objective (``failed``)
    reports objective 0.0, the worst F1, so the searcher learns to avoid it, and is not retried;
    any exception propagates for Ray to retry. The confirmed best row ("top-1") also writes its
    real-vs-synthetic and SR comparison images under ``samples_dir`` for the report.
    """
    keys = set(C.flat_keys())
    cfg = C.from_flat({k: v for k, v in config.items() if k in keys})

    def report(metrics: dict[str, Any]) -> None:
        tune.report({k: v for k, v in metrics.items() if isinstance(v, (int, float))})

    artifacts = None
    if samples_dir is not None and config.get("row") == "top-1":
        artifacts = f"{samples_dir}/top-1_seed{cfg.seed}"
    result = trial_fn(cfg, data, report, device="cuda" if gpus > 0 else "cpu",
                      cache_dir=cache_dir, num_threads=max(1, int(cpus)), artifacts_dir=artifacts)
    payload = result.to_dict()
    objective = result.metrics.get(R.OBJECTIVE)
    if result.status == R.STATUS_OK and not isinstance(objective, (int, float)):
        # Tune aborts the whole run on a result without its metric, so the trial reports the
        # worst value and is recorded as failed (DESIGN 6); retrying would not change it.
        payload.update(status=R.STATUS_FAILED,
                       reason=f"trial ended without reporting {R.OBJECTIVE}")
    final: dict[str, Any] = {k: payload[k] for k in _SCALARS
                             if isinstance(payload.get(k), (int, float))}
    final.update(status=payload["status"], reason=payload["reason"] or "",
                 **{RESULT_JSON: json.dumps(payload, default=str)})
    ok = payload["status"] == R.STATUS_OK
    final[R.OBJECTIVE] = float(objective) if ok else 0.0
    tune.report(final)


# --- phase plans ----------------------------------------------------------------------------------


def point(flat: dict[str, Any], row: str, seed: int) -> dict[str, Any]:
    return {**flat, "seed": seed, "row": row}


def confirm_points(best: dict[str, Any], top: list[dict[str, Any]], base: dict[str, Any],
                   seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """The confirm phase: top-k, the ablations of the best, the classical rows and the oracle.

    Args:
        best: flat config of the best search trial (also ``top[0]``).
        top: flat configs of the top-k distinct search configs, best first.
        base: flat baseline config of the sweep.
        seeds: the confirmation seeds; every row runs on each.

    A row whose config equals an earlier row's (e.g. "cgan off" of a config without cGAN) is
    dropped so no config is run twice on a seed.
    """
    rows: list[tuple[str, dict[str, Any]]] = [(f"top-{i + 1}", f) for i, f in enumerate(top)]
    rows.append(("srgan off", {**best, "upscale.method": "bicubic"}))
    rows.append(("cgan off", {**best, "rebalance.method": "none"}))
    # Classical rows keep the best config's threshold and target so oversampling is like-for-like.
    keep = {k: best[k] for k in ("rebalance.threshold", "rebalance.target")}
    for name, change in CLASSICAL.items():
        rows.append((name, {**base, **keep, **change}))
    rows.append(("oracle", {**base, "upscale.method": "oracle"}))  # true HR: an upper bound
    seen: set[str] = {config_id(base)}
    points = []
    for row, flat in rows:
        cid = config_id(flat)
        if cid in seen:
            continue
        seen.add(cid)
        points.extend(point(flat, row, s) for s in seeds)
    return points


def top_configs(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Flat configs (no seed) of the k best distinct ok search trials by validation objective."""
    ok = [r for r in rows
          if r["status"] == R.STATUS_OK and isinstance(r.get(R.OBJECTIVE), (int, float))]
    ok.sort(key=lambda r: (-r[R.OBJECTIVE], r["trial_id"]))
    out, seen = [], set()
    for r in ok:
        if r["config_id"] not in seen:
            seen.add(r["config_id"])
            out.append({k2: v for k2, v in r["config"].items() if k2 != "seed"})
        if len(out) == k:
            break
    return out


def trial_dirname(trial: Any) -> str:
    """Short trial directories (Ray's default embeds the whole flat config in the name)."""
    return f"trial_{trial.trial_id}"


def _scheduler(spec: PhaseSpec, epochs: int) -> Any:
    space = spec.space
    if space is None or space.search.scheduler == "fifo":
        return FIFOScheduler()
    # One report per epoch, then the final one: max_t = epochs + 1, or ASHA would stop every
    # trial at its last epoch, before its test metrics are reported.
    return ASHAScheduler(time_attr="training_iteration", max_t=epochs + 1,
                         grace_period=min(space.search.grace_period, max(epochs, 1)),
                         reduction_factor=space.search.reduction_factor)


def _search_alg(spec: PhaseSpec, phase_dir: Path,
                max_concurrent: int) -> tuple[Any, dict[str, Any], int]:
    """(search algorithm, param_space, num_samples) of a phase.

    The algorithm limits concurrency itself (Tune ignores ``max_concurrent_trials`` next to a
    search algorithm).
    """
    if spec.space is None:  # a fixed list of configs, each run once
        # Preset points may only set keys the param_space has; a key that varies across points
        # is a choice over its values, so Tune accepts each preset without a warning.
        fixed: dict[str, Any] = {}
        for key in spec.points[0]:
            values = []
            for point in spec.points:
                if point[key] not in values:
                    values.append(point[key])
            fixed[key] = values[0] if len(values) == 1 else tune.choice(values)
        alg = BasicVariantGenerator(points_to_evaluate=spec.points, max_concurrent=max_concurrent)
        return alg, fixed, len(spec.points)
    space, s = spec.space, spec.space.search
    constants = {**spec.base_flat, "seed": space.search_seed, "row": "search"}
    if s.algorithm == "optuna":
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # its INFO lines would cut the view
        phase_dir.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(phase_dir / "optuna.journal")))
        # Optuna 5 changed TPE defaults: pass the sampler and its seed explicitly (library facts).
        searcher = OptunaSearch(space=space.optuna_distributions(), metric=R.OBJECTIVE, mode=R.MODE,
                                sampler=optuna.samplers.TPESampler(seed=space.search_seed),
                                study_name="search", storage=storage)
        alg = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
        params = {k: v for k, v in constants.items() if k not in space.param_keys()}
        return alg, params, s.num_samples
    domains: dict[str, Any] = {}
    for p in space.params:
        if s.algorithm == "grid":
            domains[p.key] = tune.grid_search(list(p.values))
        elif p.kind in ("grid", "choice"):
            domains[p.key] = tune.choice(list(p.values))
        elif p.kind == "int":
            domains[p.key] = tune.randint(int(p.low), int(p.high) + 1)  # randint excludes high
        elif p.kind == "loguniform":
            domains[p.key] = tune.loguniform(p.low, p.high)
        else:
            domains[p.key] = tune.uniform(p.low, p.high)
    alg = BasicVariantGenerator(max_concurrent=max_concurrent, random_state=space.search_seed)
    return alg, {**constants, **domains}, s.num_samples


def make_tuner(spec: PhaseSpec, wrapped: Any, exp_dir: Path, *, max_concurrent: int,
               max_failures: int, epochs: int) -> tune.Tuner:
    """A fresh Tuner of one phase, stored under ``exp_dir/<phase>``."""
    alg, param_space, num_samples = _search_alg(spec, exp_dir / spec.name, max_concurrent)
    tune_config = tune.TuneConfig(metric=R.OBJECTIVE, mode=R.MODE, search_alg=alg,
                                  scheduler=_scheduler(spec, epochs), num_samples=num_samples,
                                  trial_dirname_creator=trial_dirname)
    run_config = tune.RunConfig(
        name=spec.name, storage_path=str(exp_dir), verbose=0, log_to_file=True,
        failure_config=tune.FailureConfig(max_failures=max_failures),
        callbacks=[ProgressCallback(spec.name)])
    return tune.Tuner(wrapped, param_space=param_space, tune_config=tune_config,
                      run_config=run_config)


def restore_tuner(phase_dir: Path, wrapped: Any) -> tune.Tuner | None:
    """The interrupted Tune run of a phase, or None when there is none to restore."""
    if not tune.Tuner.can_restore(str(phase_dir)):
        return None
    # The same wrapped trainable as the first run (library facts); errored trials run again.
    return tune.Tuner.restore(str(phase_dir), trainable=wrapped, resume_errored=True)


def _trial_id(result: Any) -> str:
    tid = (result.metrics or {}).get("trial_id")
    if tid:
        return str(tid)
    return Path(str(result.path)).name.removeprefix("trial_")


def config_id(flat: dict[str, Any]) -> str:
    """Stable id of a flat config without its seed: the seeds of one config share it."""
    return C.stable_hash({k: v for k, v in flat.items() if k not in ("seed", "row")})


def row_of(result: Any, phase: str) -> dict[str, Any]:
    """One results/<phase>.jsonl line from a Tune Result (see the module docstring of tune)."""
    metrics = dict(result.metrics or {})
    config = dict(result.config or {})
    flat = {k: v for k, v in config.items() if k != "row"}
    if RESULT_JSON in metrics:
        line = json.loads(metrics[RESULT_JSON])
    elif result.error is not None:
        lines = str(result.error).strip().splitlines() or [""]
        line = {"status": R.STATUS_FAILED, "reason": f"{type(result.error).__name__}: {lines[-1]}"}
    elif R.OBJECTIVE in metrics:
        epochs = metrics.get("training_iteration", "?")
        line = {"status": STATUS_PRUNED, "reason": f"stopped early by ASHA after {epochs} epochs",
                R.OBJECTIVE: metrics[R.OBJECTIVE]}
    else:
        line = {"status": R.STATUS_FAILED, "reason": f"trial ended without reporting {R.OBJECTIVE}"}
    line.setdefault("config", flat)
    line.setdefault("seed", flat.get("seed"))
    line.update(phase=phase, row=config.get("row", phase), trial_id=_trial_id(result),
                config_id=config_id(line["config"]),
                time_total_s=float(metrics.get("time_total_s", 0.0) or 0.0))
    if line["status"] != R.STATUS_OK:
        line.setdefault("reason", "")
    return line


def collect_rows(grid: Any, phase: str) -> list[dict[str, Any]]:
    """The results/<phase>.jsonl lines of a finished ResultGrid, ordered by trial id."""
    rows = [row_of(grid[i], phase) for i in range(len(grid))]
    return sorted(rows, key=lambda r: r["trial_id"])
