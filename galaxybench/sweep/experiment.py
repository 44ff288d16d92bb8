"""A sweep, phase by phase: baseline -> search -> confirm -> report, resumable.

An experiment directory ``<storage>/<name>/`` holds Ray Tune's own run per phase (``baseline/``,
``search/``, ``confirm/``; readable with ``tune.ExperimentAnalysis`` or ``Tuner.restore``),
``sweep.yaml`` (the resolved space, what ``--resume`` reruns), ``cache/`` (the stage cache),
``search/optuna.journal`` (the Optuna study "search"), ``ray.log``, ``results/<phase>.jsonl`` (one
line per trial: ``TrialResult.to_dict()`` plus phase, row, trial_id, config_id, time_total_s) and
``summary.json``. A phase whose ``results/<phase>.jsonl`` exists is finished and skipped on resume.
This module holds the order of things; everything Ray does is ``sweep.ray_backend``.

Usage::

    summary = run_experiment(load_search_space("smoke"), name="demo", storage="experiments")
    summary["phases"]["search"]["ok"], summary["best"]["config"]
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from galaxybench import budget, config, protocol, results, signals
from galaxybench.errors import InputError
from galaxybench.io import atomic_write_text
from galaxybench.sweep import groups, plan, splits
from galaxybench.sweep import progress as live
from galaxybench.sweep.resources import resolve_resources
from galaxybench.sweep.space import SearchSpace, parse_search_space

if TYPE_CHECKING:  # the trial package imports torch; only its contract is named here
    from galaxybench.trial import TrialFunction

log = logging.getLogger(__name__)

# Exit status of a sweep whose search kept no usable configuration: the baseline, classical and
# oracle rows still ran and the report was built (2 is bad input, 1 a phase with no result).
EXIT_SEARCH_FAILED = 4

# Held (an exclusive, non-blocking flock) while a sweep or resume runs on an experiment directory.
LOCK_NAME = ".lock"


def check_name(name: str) -> str:
    """``name`` if it is one path component (the experiment must stay inside ``--storage``)."""
    parts = Path(name).parts
    if (
        len(parts) != 1
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or Path(name).is_absolute()
    ):
        raise InputError(f"--name must be one path component (no '/', '.' or '..'), got {name!r}")
    return name


def lock_experiment(exp_dir: Path) -> Any:
    """Take the experiment's lock, or refuse: another sweep or resume is running on it."""
    from filelock import FileLock, Timeout

    exp_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(exp_dir / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise InputError(
            f"experiment {exp_dir} is in use by another sweep or resume "
            f"(it holds {exp_dir / LOCK_NAME}); wait for it to end"
        ) from None
    return lock


def unlock_experiment(lock: Any, exp_dir: Path) -> None:
    """Release the lock; an experiment refused before it wrote anything leaves no directory."""
    with contextlib.suppress(OSError):
        if [p.name for p in exp_dir.iterdir()] == [LOCK_NAME]:
            (exp_dir / LOCK_NAME).unlink()
            exp_dir.rmdir()
    lock.release()


def _load_space(
    space: SearchSpace | None, exp_dir: Path, resume: bool, data_source: str | None
) -> tuple[SearchSpace, str | None]:
    """The space and data source: as given when new, read back from sweep.yaml on resume."""
    sweep_yaml = exp_dir / "sweep.yaml"
    if exp_dir.exists() and not exp_dir.is_dir():
        raise InputError(
            f"{exp_dir} is a file, not an experiment directory: choose another --name or --storage"
        )
    if resume:
        if not sweep_yaml.exists():
            raise InputError(f"nothing to resume: {sweep_yaml} does not exist")
        stored = config.read_yaml(sweep_yaml)
        if not isinstance(stored, dict) or not isinstance(stored.get("space"), dict):
            raise InputError(f"cannot resume: {sweep_yaml} is not a sweep's record (no `space`)")
        # The file resolved at the start, not the name again: ``data: null`` would pick up a file
        # downloaded in between.
        source = stored.get("data_path") or stored.get("data")
        return parse_search_space(stored["space"], source=str(sweep_yaml)), source
    if space is None:
        raise InputError("a search space is needed to start a sweep")
    if exp_dir.exists() and any(p.name != LOCK_NAME for p in exp_dir.iterdir()):
        raise InputError(
            f"experiment {exp_dir} already exists: pass --resume to continue it, "
            "or choose another --name"
        )
    return space, data_source


def _load_data(space: SearchSpace, data_source: str | None, data: Any) -> tuple[Any, str | None]:
    """The prepared data (loaded once, on the driver) and the resolved path of its file."""
    if data is not None:  # prepared by the caller (tests)
        return data, None
    from galaxybench.data import load_data, resolve_data

    path, _ = resolve_data(data_source)
    return load_data(str(path), space.base_config().data), str(path.resolve())


def _check_data(exp_dir: Path, data: Any) -> None:
    """Refuse a resume whose data differ from those the sweep started on (sweep.yaml)."""
    stored = config.read_yaml(exp_dir / "sweep.yaml").get("data_fingerprint")
    if stored and stored != data.fingerprint:
        raise InputError(
            f"the data changed since experiment {exp_dir.name} started (fingerprint "
            f"{data.fingerprint[:12]}, sweep.yaml recorded {stored[:12]}): "
            "start a new sweep on the new data"
        )


def _write_sweep_yaml(
    space: SearchSpace,
    exp_dir: Path,
    data_source: str | None,
    data: Any = None,
    data_path: str | None = None,
) -> None:
    doc = {
        "space": space.to_dict(),
        "data": data_source,
        "source": space.source,
        "data_path": data_path,
        "data_fingerprint": getattr(data, "fingerprint", None),
        "resolved_base_config": config.to_flat(space.base_config()),
    }
    atomic_write_text(exp_dir / "sweep.yaml", yaml.safe_dump(doc, sort_keys=False))


def _tracker_locations(trackers: Sequence[str], exp_dir: Path, mlflow_uri: str) -> dict[str, str]:
    """Where each tracker's records are, as a command a user can run."""
    where = {}
    for tracker in dict.fromkeys(trackers):
        if tracker == "mlflow":
            where[tracker] = f"mlflow ui --backend-store-uri {mlflow_uri}"
        elif tracker == "wandb":
            where[tracker] = f"runs under {exp_dir / 'wandb'} (wandb sync to upload offline runs)"
        elif tracker == "tensorboard":
            where[tracker] = f"tensorboard --logdir {exp_dir}"
    return where


def _publish_report(publish: Callable[[Path], Path], exp_dir: Path) -> dict[str, Any]:
    """Call the caller's report publisher (the report layer sits above the sweep)."""
    try:
        out_dir = publish(exp_dir)
    except Exception as exc:  # the sweep's results stand even if the report cannot be drawn
        log.exception("report failed")
        return {"report": None, "report_error": f"{type(exc).__name__}: {exc}"}
    return {"report": str(out_dir), "report_error": None}


def _compute_totals(stats: dict[str, Any]) -> dict[str, Any]:
    """Compute spent over all phases, the exhaustive full-budget estimate and the GAN epochs the
    ladder saved (see ``plan.compute_summary``)."""
    return budget.summary_totals([s.get("compute", {}) for s in stats.values()])


def _search_outcome(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """None when the search kept a usable configuration; else why none survived, with counts."""
    if any(r[results.STATUS] == results.STATUS_OK for r in rows):
        return None
    by_status = Counter(r[results.STATUS] for r in rows)
    reasons = Counter((r.get(results.REASON) or r[results.STATUS]).strip() for r in rows)
    return {
        "message": f"no GAN configuration survived the search ({len(rows)} trials)",
        "trials": len(rows),
        "by_status": dict(sorted(by_status.items())),
        "reasons": dict(reasons.most_common()),
    }


def _summary(
    space: SearchSpace,
    exp_dir: Path,
    mode: str,
    source: str | None,
    phases: dict[str, list[dict[str, Any]]],
    stats: dict[str, Any],
) -> dict[str, Any]:
    usable = all(
        stats.get(p, {}).get("ok", 0) > 0 for p in (results.PHASE_BASELINE, results.PHASE_CONFIRM)
    )
    outcome = _search_outcome(phases.get(results.PHASE_SEARCH, [])) if mode == "sweep" else None
    code = 1 if not usable else EXIT_SEARCH_FAILED if outcome else 0
    return {
        "name": exp_dir.name,
        "mode": mode,
        "experiment_dir": str(exp_dir),
        "space": space.source,
        "data": source,
        "phases": stats,
        **plan.best_and_rows(phases),
        "compute": _compute_totals(stats),
        "failed": sum(s["failed"] for s in stats.values()),
        "diverged": sum(s["diverged"] for s in stats.values()),
        "search_failed": outcome,
        "exit_code": code,
    }


def _run_phase(
    backend: Any,
    spec: plan.PhaseSpec,
    wrapped: Any,
    exp_dir: Path,
    space: SearchSpace,
    resume: bool,
    callbacks: Sequence[Any] = (),
) -> tuple[list[dict[str, Any]], float]:
    """Rows of a phase: read back when finished earlier, else run (or restore) it."""
    out = exp_dir / "results" / f"{spec.name}.jsonl"
    if out.exists():
        log.info("phase %s already finished: %s", spec.name, out)
        rows = plan.read_rows(out)
        live.event("phase_skipped", phase=spec.name, trials=len(rows), results=str(out))
        return rows, 0.0
    started = time.monotonic()
    live.event("phase_start", phase=spec.name, trials=_planned_trials(spec))
    live.emit(
        {
            results.PHASE: spec.name,
            "total": 0,
            "done": 0,
            "running": 0,
            "pending": 0,
            "failed": 0,
            "best": None,
        }
    )
    rows = backend.run_phase(spec, wrapped, exp_dir, space, resume, callbacks)
    plan.write_rows(out, rows)
    counts = Counter(str(r[results.STATUS]) for r in rows)
    live.event(
        "phase_end",
        phase=spec.name,
        trials=len(rows),
        **{status: counts.get(status, 0) for status in results.STATUSES},
        seconds=time.monotonic() - started,
        results=str(out),
    )
    return rows, time.monotonic() - started


def _planned_trials(spec: plan.PhaseSpec) -> int:
    """Trials a phase will run: its preset points, or the search's samples (times the grid)."""
    if spec.space is None:  # a fused group counts its members
        return sum(
            len(groups.group_members(p)) if results.FUSE_SEEDS in p else 1 for p in spec.points
        )
    n = spec.space.search.num_samples
    if spec.space.search.algorithm == "grid":
        for p in spec.space.params:
            n *= len(p.values)
    return n


def _run_phases(
    backend: Any,
    space: SearchSpace,
    exp_dir: Path,
    mode: str,
    data_source: str | None,
    data: Any,
    resume: bool,
    trial_fn: TrialFunction | None,
    publish: Callable[[Path], Path] | None,
    started: float,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    base_cfg = space.base_config()
    if data is None:  # prepared once, on the driver, and shared through Ray's object store
        from galaxybench.data import load_data

        data = load_data(data_source, base_cfg.data)
    seeds = space.confirm_seeds
    # The search's fixed split, and one fresh split per confirmation seed (sweep.splits).
    datasets = splits.datasets_by_split(data_source, base_cfg.data, seeds, data)
    data = datasets[base_cfg.data.split_seed]
    wrapped = backend.wrapped_trainable(space, exp_dir, datasets, trial_fn)
    flat = {k: v for k, v in config.to_flat(base_cfg).items() if k != "seed"}
    baseline = {**flat, **protocol.BASELINE}
    # Fused groups (confirm.fuse): one Tune trial trains a row's seeds together (trial.group).
    group = groups.fuse_points if groups.fuses(space) else list
    specs = [
        plan.PhaseSpec(results.PHASE_BASELINE, points=group(plan.baseline_points(baseline, seeds)))
    ]
    if mode == "sweep":
        specs.append(plan.PhaseSpec(results.PHASE_SEARCH, space=space, base_flat=flat))
    phases: dict[str, list[dict[str, Any]]] = {}
    stats: dict[str, Any] = {}
    for spec in [*specs, None]:
        if spec is None:  # confirm depends on the search
            top = (
                plan.top_configs(phases[results.PHASE_SEARCH], space.top_k)
                if mode == "sweep"
                else [flat]
            )
            # No usable search configuration: confirm still runs the classical and oracle rows,
            # so the report compares them with the baseline (the summary says why).
            points = (
                plan.control_points(baseline, seeds)
                if mode == protocol.MODE_VALIDATE
                else plan.confirm_points(top[0] if top else None, top, baseline, seeds)
            )
            spec = plan.PhaseSpec(results.PHASE_CONFIRM, points=group(points))
        rows, seconds = _run_phase(backend, spec, wrapped, exp_dir, space, resume, callbacks)
        phases[spec.name] = rows
        stats[spec.name] = plan.phase_stats(rows, seconds)
        stats[spec.name]["compute"] = plan.compute_summary(rows)
    summary = _summary(space, exp_dir, mode, getattr(data, "source", data_source), phases, stats)
    summary["data_info"] = getattr(data, "info", None)  # N after dedupe, split counts (report)
    summary["seconds"] = round(time.monotonic() - started, 2)
    results.write_json(exp_dir / "summary.json", summary)  # the report reads it
    if publish is not None and summary["exit_code"] in (0, EXIT_SEARCH_FAILED):
        summary.update(_publish_report(publish, exp_dir))
        summary["seconds"] = round(time.monotonic() - started, 2)
        results.write_json(exp_dir / "summary.json", summary)
    return summary


def _driver_cuda(owns_ray: bool, address: str | None) -> bool | None:
    """Whether this torch has CUDA, for a private local Ray (its trials run here); else None."""
    if not owns_ray or (address or os.environ.get("RAY_ADDRESS") or "local") != "local":
        return None
    import torch

    return bool(torch.cuda.is_available())


def run_experiment(
    space: SearchSpace | None,
    *,
    name: str,
    storage: str | Path,
    mode: str = "sweep",
    data_source: str | None = None,
    data: Any = None,
    address: str | None = None,
    resume: bool = False,
    trial_fn: TrialFunction | None = None,
    num_cpus: int | None = None,
    progress: live.Sink | None = None,
    events: live.Sink | None = None,
    report: bool = True,
    trackers: Sequence[str] = (),
    callbacks: Sequence[Any] = (),
    publish: Callable[[Path], Path] | None = None,
    device: str | None = None,
    announce: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a sweep (baseline, search, confirm, report) or an ablation (no search).

    Args:
        space: the search space (None on resume: ``sweep.yaml`` is read back).
        name, storage: the experiment is ``<storage>/<name>/`` (shared storage on a cluster).
        mode: ``sweep``, ``ablate`` (the base config's ablation and classical rows only) or
            ``validate`` (``protocol.MODE_VALIDATE``: the baseline and the controls,
            ``plan.control_points``).
        data_source: a Galaxy10 file or name for ``galaxybench.data.load_data`` (None: default).
        data: already prepared data (tests); else loaded once here, on the driver.
        address: a Ray cluster (``auto``); None: ``$RAY_ADDRESS`` or a private local Ray.
        trial_fn: the objective (``galaxybench.trial.TrialFunction``),
            ``galaxybench.trial.evaluate_trial`` unless given (tests).
        progress: receives snapshot dicts (phase, done, running, pending, failed, best, elapsed_s).
        events: receives event dicts as they happen (sweep start, phase start and end, each ended
            trial; ``sweep.progress``), e.g. for a log.
        trackers: experiment trackers to log to (``mlflow``, ``wandb``, ``tensorboard``).
        callbacks: more ``ray.tune.Callback`` objects, given to every phase's Tuner.
        publish: builds the report from the experiment directory and returns where it is
            (``report.publish_experiment``, given by the CLI and ``galaxybench.api``; the
            report layer sits above the sweep). None, or ``report=False``: no report.
        device: ``cpu`` runs every trial on the CPU; ``cuda`` insists on a GPU share; None: the
            space's ``resources`` (``gpu: auto`` resolves against the cluster, sweep.resources).
        announce: receives one line saying what the trials use, before any phase starts.

    Returns:
        The summary (also written to ``summary.json``): per phase trials/ok/diverged/failed/pruned
        and seconds, the best search config, per-row mean test minority F1, ``exit_code``
        (1 when the baseline or confirm phase had no usable result; ``EXIT_SEARCH_FAILED`` when
        the search kept no usable configuration, with ``search_failed`` saying why: counts by
        status and reason), the report directory.
    """
    import galaxybench.sweep.ray_backend as backend

    started = time.monotonic()
    exp_dir = Path(storage).expanduser().resolve() / check_name(name)
    space, data_source = _load_space(space, exp_dir, resume, data_source)
    lock = lock_experiment(exp_dir)  # released by the finally below, or when this process ends
    try:  # the data before Ray: a resume on changed data is refused before anything starts
        data, data_path = _load_data(space, data_source, data)
        from galaxybench.trial.evaluate import scoring_minority  # torch: not at import time

        scoring_minority(data, space.base_config().eval.minority_fraction)  # before Ray starts
        if resume:
            _check_data(exp_dir, data)
    except BaseException:
        unlock_experiment(lock, exp_dir)
        raise
    # ray.init sets a SIGTERM handler of its own: the block gives Ctrl-C's path back, and the
    # Ray processes it starts are stopped by this process, not by a group-wide SIGTERM.
    with signals.children_shielded():
        owns_ray = backend.connect(address, num_cpus)
    live.set_sink(progress, started=started, events=events)
    try:
        # The space's ``gpu: auto`` resolved on the cluster joined; sweep.yaml keeps ``auto``, so
        # a resume on other hardware resolves it again.
        cluster = backend.cluster_resources()
        cuda = _driver_cuda(owns_ray, address) if cluster.get("GPU") else None
        run_space, used = resolve_resources(space, cluster, device, cuda)
        log.info("%s", used.line())
        if announce is not None:
            announce(used.line())
        backend.check_resources(run_space)  # before anything is written or launched
        live.event(
            "sweep_start",
            name=exp_dir.name,
            mode=mode,
            resume=resume,
            experiment=str(exp_dir),
            data=str(data_path or data_source or getattr(data, "source", None) or "default"),
            space=space.source,
            resources=backend.resources(run_space),
        )
        extra = [*backend.tracker_callbacks(trackers, exp_dir, name), *callbacks]
        where = _tracker_locations(trackers, exp_dir, backend.mlflow_uri(exp_dir))
        if not resume:
            _write_sweep_yaml(space, exp_dir, data_source, data, data_path)
        backend.ray_logging_to(exp_dir / "ray.log")
        # The file resolved above: other split seeds are drawn from it, never re-resolved.
        summary = _run_phases(
            backend,
            run_space,
            exp_dir,
            mode,
            data_path or data_source,
            data,
            resume,
            trial_fn,
            publish if report else None,
            started,
            extra,
        )
        summary["resources"] = used.to_dict()
        if where:
            summary["trackers"] = where
        results.write_json(exp_dir / "summary.json", summary)
        return summary
    finally:
        live.set_sink(None)
        if owns_ray:
            backend.shutdown()
        unlock_experiment(lock, exp_dir)
