"""Sweeps on Ray Tune: baseline -> search -> confirm -> report, resumable; the only Ray importer.

An experiment directory ``<storage>/<name>/`` holds Ray Tune's own run per phase (``baseline/``,
``search/``, ``confirm/``; readable with ``tune.ExperimentAnalysis`` or ``Tuner.restore``),
``sweep.yaml`` (the resolved space, what ``--resume`` reruns), ``cache/`` (the stage cache),
``search/optuna.journal`` (the Optuna study "search"), ``ray.log``, ``results/<phase>.jsonl`` (one
line per trial: ``TrialResult.to_dict()`` plus phase, row, trial_id, config_id, time_total_s) and
``summary.json``. A phase whose ``results/<phase>.jsonl`` exists is finished and skipped on resume.

Usage::

    summary = run_sweep(load_search_space("smoke"), name="demo", storage="experiments")
    summary["phases"]["search"]["ok"], summary["best"]["config"]
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# DESIGN 8: Ray's auth mode is set explicitly, before Ray reads its config at import; "token"
# makes ray.init() generate ~/.ray/auth_token for a local cluster (library facts).
os.environ.setdefault("RAY_AUTH_MODE", "token")

import ray
import yaml
from ray import tune

from galaxybench import config as C
from galaxybench import results as R
from galaxybench import tune_phases as P
from galaxybench import tune_progress
from galaxybench.errors import InputError
from galaxybench.search_space import SearchSpace, parse_search_space
from galaxybench.trial_stages import BASELINE
from galaxybench.tune_phases import (  # the phase plans, re-exported
    confirm_points,
    point,
    top_configs,
)

log = logging.getLogger(__name__)

PHASES = ("baseline", "search", "confirm")


# --- Ray session ----------------------------------------------------------------------------------


def _ray_logging_to(path: Path) -> None:
    """Ray's own log lines go to ``path`` instead of the console (the CLI draws its own view)."""
    logger = logging.getLogger("ray")
    for handler in list(logger.handlers):
        # StreamHandler covers FileHandler too: every earlier target of Ray's lines is dropped.
        if isinstance(handler, logging.StreamHandler):
            logger.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler._galaxybench = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address``/``$RAY_ADDRESS``, or start a private local Ray.

    Returns True when this call started Ray (the caller shuts it down). A local Ray binds its
    dashboard to nothing (include_dashboard=False, host 127.0.0.1) and uses token auth unless
    ``RAY_AUTH_MODE`` says otherwise (DESIGN 8).
    """
    # Ray Tune's console tables stay off (verbose=0 alone does not silence the new output engine).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 dashboard_host="127.0.0.1", log_to_driver=False, logging_level=logging.WARNING)
    return True


def check_resources(space: SearchSpace) -> None:
    """Refuse, before launch, a trial the cluster can never place (Ray would wait forever)."""
    have = ray.cluster_resources()
    gpus, cpus = float(have.get("GPU", 0)), float(have.get("CPU", 0))
    if space.gpu > 0 and gpus < space.gpu:
        raise InputError(f"{space.gpu:g} GPU per trial requested but the Ray cluster has "
                         f"{gpus:g} GPUs: pass --gpus-per-trial 0 or join a GPU cluster")
    if space.cpu > cpus:
        raise InputError(f"{space.cpu:g} CPUs per trial requested but the Ray cluster has "
                         f"{cpus:g} CPUs: lower resources.cpu in the search space")


# --- running a phase ------------------------------------------------------------------------------


def _read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows))
    tmp.replace(path)  # atomic: a phase is finished exactly when its file exists


def phase_stats(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Per-phase counts for summary.json."""
    count = {s: sum(r["status"] == s for r in rows)
             for s in (R.STATUS_OK, R.STATUS_DIVERGED, R.STATUS_FAILED, P.STATUS_PRUNED)}
    return {"trials": len(rows), **count, "seconds": round(seconds, 2)}


def _run_phase(spec: P.PhaseSpec, wrapped: Any, exp_dir: Path, space: SearchSpace,
               resume: bool) -> tuple[list[dict[str, Any]], float]:
    """Rows of a phase: read back when finished earlier, else run (or restore) it."""
    out = exp_dir / "results" / f"{spec.name}.jsonl"
    if out.exists():
        log.info("phase %s already finished: %s", spec.name, out)
        return _read_rows(out), 0.0
    started = time.monotonic()
    tuner = P.restore_tuner(exp_dir / spec.name, wrapped) if resume else None
    if tuner is None:
        epochs = space.base_config().classifier.epochs
        tuner = P.make_tuner(spec, wrapped, exp_dir, max_concurrent=space.search.max_concurrent,
                             max_failures=space.search.max_failures, epochs=epochs)
    tune_progress.emit({"phase": spec.name, "total": 0, "done": 0, "running": 0, "pending": 0,
                        "failed": 0, "best": None})
    rows = P.collect_rows(tuner.fit(), spec.name)
    _write_rows(out, rows)
    return rows, time.monotonic() - started


# --- public API -----------------------------------------------------------------------------------


def _load_space(space: SearchSpace | None, exp_dir: Path, resume: bool,
                data_source: str | None) -> tuple[SearchSpace, str | None]:
    """The space and data source: as given when new, read back from sweep.yaml on resume."""
    sweep_yaml = exp_dir / "sweep.yaml"
    if resume:
        if not sweep_yaml.exists():
            raise InputError(f"nothing to resume: {sweep_yaml} does not exist")
        stored = C.read_yaml(sweep_yaml)
        return parse_search_space(stored["space"], source=str(sweep_yaml)), stored.get("data")
    if space is None:
        raise InputError("a search space is needed to start a sweep")
    if exp_dir.exists() and any(exp_dir.iterdir()):
        raise InputError(f"experiment {exp_dir} already exists: pass --resume to continue it, "
                         "or choose another --name")
    return space, data_source


def _write_sweep_yaml(space: SearchSpace, exp_dir: Path, data_source: str | None) -> None:
    exp_dir.mkdir(parents=True, exist_ok=True)
    doc = {"space": space.to_dict(), "data": data_source, "source": space.source,
           "resolved_base_config": C.to_flat(space.base_config())}
    tmp = exp_dir / ".sweep.yaml.tmp"
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    tmp.replace(exp_dir / "sweep.yaml")


def _best_and_rows(phases: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Best search config, and per confirm row the mean test minority F1 (and delta) over seeds."""
    top = [r for r in phases.get("search", []) if r["status"] == R.STATUS_OK]
    top.sort(key=lambda r: (-r.get(R.OBJECTIVE, -1.0), r["trial_id"]))
    best = None
    if top:
        best = {k: top[0].get(k) for k in ("trial_id", "config_id", R.OBJECTIVE, R.MINORITY_F1)}
        best["config"] = top[0]["config"]
    rows: dict[str, dict[str, Any]] = {}
    for r in phases.get("baseline", []) + phases.get("confirm", []):
        if r["status"] == R.STATUS_OK:
            entry = rows.setdefault(r["row"], {"n": 0, R.MINORITY_F1: 0.0})
            entry["n"] += 1
            entry[R.MINORITY_F1] += float(r.get(R.MINORITY_F1, 0.0))
    for entry in rows.values():
        entry[R.MINORITY_F1] = round(entry[R.MINORITY_F1] / entry["n"], 4)
    return {"best": best, "rows": rows}


def _build_report(exp_dir: Path) -> dict[str, Any]:
    try:
        from galaxybench.report import build_report  # type: ignore[attr-defined]
    except ImportError:
        return {"report": None, "report_error": "galaxybench.report.build_report not available"}
    try:
        out_dir = build_report(exp_dir, exp_dir / "report")
    except Exception as exc:  # the sweep's results stand even if the report cannot be drawn
        log.exception("report failed")
        return {"report": None, "report_error": f"{type(exc).__name__}: {exc}"}
    return {"report": str(out_dir), "report_error": None}


def run_experiment(space: SearchSpace | None, *, name: str, storage: str | Path,
                   mode: str = "sweep", data_source: str | None = None, data: Any = None,
                   address: str | None = None, resume: bool = False,
                   trial_fn: Callable[..., Any] | None = None, num_cpus: int | None = None,
                   progress: tune_progress.Sink | None = None,
                   report: bool = True) -> dict[str, Any]:
    """Run (or resume) a sweep (baseline, search, confirm, report) or an ablation (no search).

    Args:
        space: the search space (None on resume: ``sweep.yaml`` is read back).
        name, storage: the experiment is ``<storage>/<name>/`` (shared storage on a cluster).
        mode: ``sweep`` or ``ablate`` (the base config's ablation and classical rows only).
        data_source: a Galaxy10 file or name for ``galaxybench.data.load_data`` (None: default).
        data: already prepared data (tests); else loaded once here, on the driver.
        address: a Ray cluster (``auto``); None: ``$RAY_ADDRESS`` or a private local Ray.
        trial_fn: the objective, ``galaxybench.trial.evaluate_trial`` unless given (tests).
        progress: receives snapshot dicts (phase, done, running, pending, failed, best, elapsed_s).

    Returns:
        The summary (also written to ``summary.json``): per phase trials/ok/diverged/failed/pruned
        and seconds, the best search config, per-row mean test minority F1, ``exit_code`` (1 when a
        phase had no usable result), the report directory.
    """
    started = time.monotonic()
    exp_dir = Path(storage).expanduser().resolve() / name
    space, data_source = _load_space(space, exp_dir, resume, data_source)
    owns_ray = connect(address, num_cpus)
    tune_progress.set_sink(progress, started=started)
    try:
        check_resources(space)  # before anything is written or launched
        if not resume:
            _write_sweep_yaml(space, exp_dir, data_source)
        _ray_logging_to(exp_dir / "ray.log")
        return _run_phases(space, exp_dir, mode, data_source, data, resume, trial_fn,
                           report, started)
    finally:
        tune_progress.set_sink(None)
        if owns_ray:
            ray.shutdown()


def _wrapped_trainable(space: SearchSpace, exp_dir: Path, data: Any,
                       trial_fn: Callable[..., Any] | None) -> Any:
    """The trainable with the data in the object store (once) and the trial's resources."""
    if trial_fn is None:
        from galaxybench.trial import evaluate_trial as trial_fn
    return tune.with_resources(
        tune.with_parameters(P.trainable, data=data, trial_fn=trial_fn,
                             cache_dir=str(exp_dir / "cache"), cpus=space.cpu, gpus=space.gpu,
                             samples_dir=str(exp_dir / "samples")),
        {"cpu": space.cpu, "gpu": space.gpu})


def _summary(space: SearchSpace, exp_dir: Path, mode: str, source: str | None,
             phases: dict[str, list[dict[str, Any]]], stats: dict[str, Any]) -> dict[str, Any]:
    needed = PHASES if mode == "sweep" else ("baseline", "confirm")
    usable = all(stats.get(p, {}).get("ok", 0) > 0 for p in needed)
    return {"name": exp_dir.name, "mode": mode, "experiment_dir": str(exp_dir),
            "space": space.source, "data": source, "phases": stats, **_best_and_rows(phases),
            "failed": sum(s["failed"] for s in stats.values()),
            "diverged": sum(s["diverged"] for s in stats.values()),
            "exit_code": 0 if usable else 1}


def _run_phases(space: SearchSpace, exp_dir: Path, mode: str, data_source: str | None, data: Any,
                resume: bool, trial_fn: Callable[..., Any] | None, report: bool,
                started: float) -> dict[str, Any]:
    base_cfg = space.base_config()
    if data is None:  # prepared once, on the driver (DESIGN 7)
        from galaxybench.data import load_data

        data = load_data(data_source, base_cfg.data)
    wrapped = _wrapped_trainable(space, exp_dir, data, trial_fn)
    flat = {k: v for k, v in C.to_flat(base_cfg).items() if k != "seed"}
    baseline = {**flat, **BASELINE}
    seeds = space.confirm_seeds
    plan = [P.PhaseSpec("baseline", points=[point(baseline, "baseline", s) for s in seeds])]
    if mode == "sweep":
        plan.append(P.PhaseSpec("search", space=space, base_flat=flat))
    phases: dict[str, list[dict[str, Any]]] = {}
    stats: dict[str, Any] = {}
    for spec in [*plan, None]:
        if spec is None:  # confirm depends on the search
            top = top_configs(phases["search"], space.top_k) if mode == "sweep" else [flat]
            if not top:
                break
            spec = P.PhaseSpec("confirm", points=confirm_points(top[0], top, baseline, seeds))
        rows, seconds = _run_phase(spec, wrapped, exp_dir, space, resume)
        phases[spec.name] = rows
        stats[spec.name] = phase_stats(rows, seconds)
    summary = _summary(space, exp_dir, mode, getattr(data, "source", data_source), phases, stats)
    if report and summary["exit_code"] == 0:
        summary.update(_build_report(exp_dir))
    summary["seconds"] = round(time.monotonic() - started, 2)
    R.write_json(exp_dir / "summary.json", summary)
    return summary
