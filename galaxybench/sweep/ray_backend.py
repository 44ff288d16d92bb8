"""Ray Tune behind the sweep: the only module that imports Ray.

It connects to (or starts) Ray, turns a ``PhaseSpec`` into a Tuner (search algorithm, scheduler,
resources, failure policy), runs or restores it, and turns Tune's results into the rows of
``results/<phase>.jsonl``. The orchestration of the phases is ``sweep.experiment``; the layout of
an experiment directory is in ``docs/architecture.md``.

Every trial's Ray config is the full flat config (dotted keys, ``seed`` included) plus ``row``, so
``tune.ExperimentAnalysis`` shows every setting as a column. Baseline and confirm run a fixed list
of configs (``BasicVariantGenerator(points_to_evaluate=...)``, FIFO); the search samples (Optuna
TPE in a ConcurrencyLimiter, random or grid) and prunes with ASHA on the per-epoch objective.

Usage::

    owns = connect(address=None)
    rows = run_phase(spec, wrapped_trainable(space, exp_dir, data), exp_dir, space, resume=False)
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

# Ray's auth mode is set explicitly, before Ray reads its config at import: "token" makes
# ray.init() generate ~/.ray/auth_token for a local cluster.
os.environ.setdefault("RAY_AUTH_MODE", "token")

import ray
from ray import tune
from ray._private import ray_constants
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from galaxybench import (
    budget,
    results,
    signals,
)
from galaxybench.config import flat_keys, from_flat
from galaxybench.errors import InputError
from galaxybench.protocol import top_row
from galaxybench.sweep import (
    plan,
    progress,
)
from galaxybench.sweep.plan import SCALARS, PhaseSpec
from galaxybench.sweep.space import SearchSpace

log = logging.getLogger(__name__)


# --- Ray session ----------------------------------------------------------------------------------


def ray_logging_to(path: Path) -> None:
    """Ray's own log lines go to ``path`` instead of the console (the CLI draws its own view)."""
    logger = logging.getLogger("ray")
    for handler in list(logger.handlers):
        # StreamHandler covers FileHandler too: every earlier target of Ray's lines is dropped.
        if isinstance(handler, logging.StreamHandler):
            logger.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address``/``$RAY_ADDRESS``, or start a private local Ray.

    Returns True when this call started Ray (the caller shuts it down with ``shutdown``). A local
    Ray starts no dashboard and uses token auth unless ``RAY_AUTH_MODE`` says otherwise.
    """
    # Ray Tune's console tables stay off (verbose=0 alone does not silence the new output engine).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "local":
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        return True
    _ensure_private_token()
    # address="local" always starts a new Ray: without it, ray.init() joins whatever cluster
    # the temp dir's ray_current_cluster names (a stale one included). Ray's processes bind the
    # node's IP; Ray resolves 127.0.0.1 to the routable IP unless it runs as a single-machine
    # Ray (its Windows/macOS default), so that switch is held for the start: every process of
    # this Ray then listens on loopback only (checked in tests/test_ray_local.py).
    multi_node = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus or os.cpu_count() or 1,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            dashboard_host="127.0.0.1",
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = multi_node
    return True


def _wait_for_port(address: str, deadline: float, timeout_s: float) -> None:
    """Wait until the head's port at ``host:port`` accepts a connection; InputError at deadline."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address {address!r} is not host:port")
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=2.0).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise InputError(f"no Ray head at {address} after {timeout_s:g} s: {exc}") from None
            time.sleep(1.0)


def wait_for_nodes(address: str, nodes: int, timeout_s: float = 300.0) -> int:
    """Join the cluster at ``address``, wait until ``nodes`` nodes are alive, leave; their count.

    ``galaxybench cluster wait`` (the Slurm script, before its sweep). InputError (one line) when
    the head cannot be reached or the nodes do not join within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    _wait_for_port(address, deadline, timeout_s)  # ray.init on a closed port retries for minutes
    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    try:
        while (alive := sum(1 for n in ray.nodes() if n.get("Alive"))) < nodes:
            if time.monotonic() > deadline:
                raise InputError(f"{alive} of {nodes} Ray nodes at {address} after {timeout_s:g} s")
            time.sleep(1.0)
        return alive
    finally:
        ray.shutdown()


def _ensure_private_token() -> None:
    """Create Ray's token file mode 0600 before Ray does (Ray writes it with the umask, 0644).

    Only when token auth is on and no token is given through ``RAY_AUTH_TOKEN`` or
    ``RAY_AUTH_TOKEN_PATH``; an existing ``~/.ray/auth_token`` of ours is narrowed to 0600.
    """
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token":
        return
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    path = Path.home() / ".ray" / "auth_token"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: never write through a planted file or link; 256 bits as Ray's own generator.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))


def shutdown() -> None:
    """Stop the Ray this process started."""
    ray.shutdown()


def cluster_resources() -> dict[str, float]:
    """The resources of the Ray cluster joined (``CPU``, ``GPU``, ...), for ``sweep.resources``."""
    return {k: float(v) for k, v in ray.cluster_resources().items()}


def check_resources(space: SearchSpace) -> None:
    """Refuse, before launch, a trial the cluster can never place (Ray would wait forever)."""
    have = ray.cluster_resources()
    gpus, cpus = float(have.get("GPU", 0)), float(have.get("CPU", 0))
    if space.gpu > 0 and gpus < space.gpu:
        raise InputError(
            f"{space.gpu:g} GPU per trial requested but the Ray cluster has "
            f"{gpus:g} GPUs: pass --gpus-per-trial 0 or join a GPU cluster"
        )
    if space.cpu > cpus:
        raise InputError(
            f"{space.cpu:g} CPUs per trial requested but the Ray cluster has "
            f"{cpus:g} CPUs: lower resources.cpu in the search space"
        )


# --- the trainable --------------------------------------------------------------------------------


def _rung_record(rung: int, fraction: float, result: Any) -> dict[str, Any]:
    """One rung of a trial's climb, as stored in its row (``results.RUNGS``)."""
    m = result.metrics
    return {
        results.RUNG: rung,
        results.BUDGET_FRACTION: fraction,
        "status": result.status,
        results.OBJECTIVE: m.get(results.OBJECTIVE),
        results.COMPUTE_SECONDS: m.get(results.COMPUTE_SECONDS, {}),
        results.GAN_EPOCHS_TRAINED: m.get(results.GAN_EPOCHS_TRAINED, 0),
        results.GAN_EPOCHS: m.get(results.GAN_EPOCHS, {}),
    }


def _climb(call: Callable[[float], Any], ladder: tuple[float, ...]) -> tuple[Any, list, dict]:
    """Climb the budget ladder: every rung but the last reports its validation objective once
    (ASHA's time is ``results.BUDGET``, so it promotes or stops the trial there); the last rung is
    the trial's result. Returns (last result, rung records, the last rung's scheduler fields)."""
    records: list[dict[str, Any]] = []
    for r, fraction in enumerate(ladder):
        result = call(fraction)
        records.append(_rung_record(r + 1, fraction, result))
        fields = {results.RUNG: r + 1, results.BUDGET: budget.budget_units(ladder, r)}
        if r == len(ladder) - 1 or not result.ok:
            return result, records, fields
        objective = result.metrics.get(results.OBJECTIVE)
        tune.report(
            {
                results.VAL_OBJECTIVE_STEP: float(objective)
                if isinstance(objective, (int, float))
                else math.nan,
                **fields,
                results.COMPUTE_SECONDS_TOTAL: plan.rung_totals(records)[
                    results.COMPUTE_SECONDS_TOTAL
                ],
                results.RUNGS: json.dumps(records, default=str),
                results.FINISHED_AT: time.time(),
            }
        )
    raise AssertionError("an empty ladder")  # check_ladder refuses one


# Environment variable that overrides the torch device of every trial: with "cpu", trials that Ray
# schedules on (real or declared) GPUs run on the CPU, e.g. a simulated GPU cluster in tests.
DEVICE_ENV = "GALAXYBENCH_DEVICE"


def trial_device(gpus: float) -> str:
    """The torch device of a trial: ``$GALAXYBENCH_DEVICE``, else cuda when it holds GPUs."""
    return os.environ.get(DEVICE_ENV) or ("cuda" if gpus > 0 else "cpu")


def trainable(
    config: dict[str, Any],
    *,
    data: Any,
    trial_fn: Callable[..., Any],
    cache_dir: str,
    cpus: float,
    gpus: float,
    samples_dir: str | None = None,
    ladder: tuple[float, ...] = (),
) -> None:
    """The Tune function trainable: one trial of the flat config, reported per epoch and at the end.

    Epochs report ``results.VAL_OBJECTIVE_STEP`` (ASHA's metric); the final report holds
    ``results.OBJECTIVE`` only when the trial finished ok, so the searcher tells the study COMPLETE
    for finished trials only (``FinishedOnlyOptunaSearch``). A diverged GAN (``status=diverged``)
    or a finished trial without the objective (``failed``) reports no objective and is not
    retried; any exception propagates for Ray to retry. The confirmed best row ("top-1") also saves
    its real-vs-synthetic and SR comparison images under ``samples_dir`` for the report.

    With a budget ``ladder`` (search trials only) the trial climbs the rungs instead: one report
    per rung (no per-epoch reports), the last rung's result is the trial's, and its row holds
    every rung (``results.RUNGS``) and the compute summed over them.
    """
    keys = set(flat_keys())
    cfg = from_flat({k: v for k, v in config.items() if k in keys})
    if isinstance(data, dict):  # {split seed: prepared data} (sweep.splits): this trial's split
        if cfg.data.split_seed not in data:
            raise InputError(
                f"no prepared data for split seed {cfg.data.split_seed} (prepared: {sorted(data)})"
            )
        data = data[cfg.data.split_seed]

    def report(metrics: dict[str, Any]) -> None:
        scores = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        if isinstance(metrics.get(results.GAN_EPOCHS), str):  # JSON: what the row records
            scores[results.GAN_EPOCHS] = metrics[results.GAN_EPOCHS]
        # Per-epoch values go under the step key (what ASHA prunes on); the objective's own key
        # is kept for the final report of a finished trial, the only one the searcher scores.
        if results.OBJECTIVE in scores:
            scores[results.VAL_OBJECTIVE_STEP] = scores.pop(results.OBJECTIVE)
        # Tune's strict metric check raises on a result without the scheduler's key, and that
        # ends the whole run, not the trial: an epoch without a score reports NaN (ASHA skips it).
        scores.setdefault(results.VAL_OBJECTIVE_STEP, math.nan)
        tune.report({**scores, results.FINISHED_AT: time.time()})

    artifacts = None
    if samples_dir is not None and config.get("row") == top_row(1):
        artifacts = f"{samples_dir}/{top_row(1)}_seed{cfg.seed}"
    kwargs = dict(
        device=trial_device(gpus),
        cache_dir=cache_dir,
        num_threads=max(1, int(cpus)),
        artifacts_dir=artifacts,
    )
    rung_fields: dict[str, Any] = {}
    if ladder and config.get("row") == "search":
        result, records, rung_fields = _climb(
            lambda f: trial_fn(cfg, data, lambda _epoch: None, budget_fraction=f, **kwargs),
            tuple(ladder),
        )
        result.metrics.update(plan.rung_totals(records), **{results.RUNGS: records})
    else:
        result = trial_fn(cfg, data, report, **kwargs)
    if artifacts is not None:
        _copy_samples_to_trial_dir(Path(artifacts))
    payload = result.to_dict()
    objective = result.metrics.get(results.OBJECTIVE)
    if result.status == results.STATUS_OK and not (
        isinstance(objective, (int, float)) and math.isfinite(objective)
    ):
        # No score to rank it by: recorded as failed (FAIL in the study); retrying would not
        # change it.
        payload.update(
            status=results.STATUS_FAILED,
            reason=f"trial ended without reporting {results.OBJECTIVE}",
        )
    final: dict[str, Any] = {
        k: payload[k] for k in SCALARS if isinstance(payload.get(k), (int, float))
    }
    final.update(
        status=payload["status"],
        reason=payload["reason"] or "",
        **{results.RESULT_JSON: json.dumps(payload, default=str)},
    )
    ok = payload["status"] == results.STATUS_OK
    if ok:  # only a finished trial carries the objective: the searcher scores it COMPLETE
        final[results.OBJECTIVE] = float(objective)
    # Every result must hold the scheduler's key (Tune's strict metric check raises and ends the
    # run on one without). A diverged or failed trial has no score: NaN, never 0.0, which ASHA's
    # rung cutoffs skip (np.nanpercentile) and the searcher never sees (it is told FAIL).
    final[results.VAL_OBJECTIVE_STEP] = float(objective) if ok else math.nan
    final.update(rung_fields)  # the scheduler's time of the last rung climbed (ladder only)
    final[results.FINISHED_AT] = time.time()
    tune.report(final)


def _copy_samples_to_trial_dir(folder: Path) -> None:
    """Put a trial's sample images in its own Tune directory too, where the experiment trackers
    (MLflow, W&B) pick up a trial's artifacts; the report reads the experiment's ``samples/``."""
    from galaxybench.samples import SAMPLES_FILE

    src = folder / SAMPLES_FILE
    if src.is_file():
        trial_dir = Path(tune.get_context().get_trial_dir())
        shutil.copyfile(src, trial_dir / SAMPLES_FILE)


def wrapped_trainable(
    space: SearchSpace, exp_dir: Path, data: Any, trial_fn: Callable[..., Any] | None
) -> Any:
    """The trainable with the data in the object store (once) and the trial's resources.

    ``data`` is one prepared dataset or ``{split seed: prepared data}``; a dict is put in the
    object store as one object, so image arrays shared by its splits are stored once.
    """
    if trial_fn is None:
        from galaxybench.trial import evaluate_trial as trial_fn
    return tune.with_resources(
        tune.with_parameters(
            trainable,
            data=data,
            trial_fn=trial_fn,
            cache_dir=str(exp_dir / "cache"),
            cpus=space.cpu,
            gpus=space.gpu,
            samples_dir=str(exp_dir / "samples"),
            ladder=space.search.ladder,
        ),
        {"cpu": space.cpu, "gpu": space.gpu},
    )


# --- progress -------------------------------------------------------------------------------------


class ProgressCallback(tune.Callback):
    """Emits a progress snapshot at most every ``interval_s`` seconds and whenever a trial ends."""

    def __init__(self, phase: str, interval_s: float = 0.5) -> None:
        self.phase = phase
        self.interval_s = interval_s
        self._last = 0.0

    def _maybe_emit(self, trials: list[Any], force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.interval_s:
            self._last = now
            progress.emit(progress.snapshot(self.phase, trials))

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        self._maybe_emit(trials)

    def _trial_event(self, trial: Any, kind: str = "trial", crashed: bool = False) -> None:
        """A ``trial`` (ended) or ``trial_retry`` event; never raises into Tune's loop."""
        try:
            error = _error_line(trial) if crashed else None
            if kind == "trial":
                progress.event(kind, **progress.trial_outcome(self.phase, trial, error))
            else:
                progress.event(kind, phase=self.phase, trial_id=trial.trial_id, reason=error)
        except Exception:  # the log is a view: keep the sweep running
            log.exception("progress event of trial %s failed", getattr(trial, "trial_id", "?"))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_event(trial)
        self._maybe_emit(trials, force=True)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_event(trial, crashed=True)
        self._maybe_emit(trials, force=True)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._trial_event(trial, "trial_retry", crashed=True)

    def __getstate__(self) -> dict[str, Any]:
        return {"phase": self.phase, "interval_s": self.interval_s, "_last": 0.0}


def _error_line(trial: Any) -> str:
    """The last line of a crashed trial's error file (its exception), or a pointer to it."""
    path = getattr(trial, "error_file", None)
    try:
        lines = [x for x in Path(path).read_text().splitlines() if x.strip()] if path else []
    except OSError:
        lines = []
    return lines[-1].strip() if lines else "crashed (see the trial's error.txt)"


def resources(space: SearchSpace) -> dict[str, Any]:
    """What a sweep runs on: the cluster's CPUs and GPUs, each trial's share, trials at once."""
    have = ray.cluster_resources()
    return {
        "cluster_cpus": float(have.get("CPU", 0)),
        "cluster_gpus": float(have.get("GPU", 0)),
        "cpu_per_trial": space.cpu,
        "gpu_per_trial": space.gpu,
        "device": trial_device(space.gpu),
        "max_concurrent": space.search.max_concurrent,
    }


# --- experiment trackers -------------------------------------------------------------------------

TRACKERS = ("mlflow", "wandb", "tensorboard")


def mlflow_uri(exp_dir: Path) -> str:
    """The MLflow store of an experiment: ``$MLFLOW_TRACKING_URI``, else its own SQLite file."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{exp_dir / 'mlflow.db'}"


def _wandb_callback(base: type) -> type:
    """Ray's W&B callback, safe for a trial that errors before it ever started.

    Ray 2.60's ``WandbLoggerCallback.log_trial_end`` looks the trial's queue up unconditionally,
    so a trial that fails before its first result raises KeyError inside Tune's error handling
    and ends the whole run; such a trial has nothing to close.
    """

    class SafeWandbLoggerCallback(base):  # type: ignore[misc, valid-type]
        def log_trial_end(self, trial: Any, failed: bool = False) -> None:
            if trial in getattr(self, "_trial_queues", {}):
                super().log_trial_end(trial, failed=failed)

    return SafeWandbLoggerCallback


def tracker_callbacks(trackers: Sequence[str], exp_dir: Path, name: str) -> list[Any]:
    """Ray Tune's own logger callbacks for the named experiment trackers.

    Each logs every trial's flat config, its per-epoch and final metrics, and (MLflow, W&B) the
    trial directory as artifacts, where a confirmed top-1 trial keeps its sample images.

    - ``mlflow``: ``$MLFLOW_TRACKING_URI``, else an SQLite store ``<experiment>/mlflow.db`` (MLflow
      3 refuses new file stores; SQLAlchemy is already installed with Optuna); the MLflow
      experiment is named after the sweep.
    - ``wandb``: project ``galaxybench``, group = the sweep's name; ``WANDB_MODE=offline`` keeps it
      local (``wandb sync`` uploads later).
    - ``tensorboard``: event files in each trial directory; ``tensorboard --logdir <experiment>``.
    """
    out: list[Any] = []
    for tracker in dict.fromkeys(trackers):
        if tracker == "mlflow":
            try:
                import mlflow  # noqa: F401
                from ray.air.integrations.mlflow import MLflowLoggerCallback
            except ImportError:
                raise InputError(
                    "--tracker mlflow needs MLflow: pip install 'galaxybench[mlflow]'"
                ) from None
            out.append(
                MLflowLoggerCallback(
                    tracking_uri=mlflow_uri(exp_dir), experiment_name=name, save_artifact=True
                )
            )
        elif tracker == "wandb":
            try:
                import wandb  # noqa: F401
                from ray.air.integrations.wandb import WandbLoggerCallback
            except ImportError:
                raise InputError(
                    "--tracker wandb needs Weights & Biases: pip install 'galaxybench[wandb]'"
                ) from None
            out.append(
                _wandb_callback(WandbLoggerCallback)(
                    project=os.environ.get("WANDB_PROJECT", "galaxybench"),
                    group=name,
                    dir=str(exp_dir),
                    upload_checkpoints=False,
                    save_checkpoints=False,
                    # W&B logs from Ray actors, whose environment is the cluster's, not this
                    # shell's: pass the mode on, or WANDB_MODE=offline would not reach them.
                    **({"mode": os.environ["WANDB_MODE"]} if os.environ.get("WANDB_MODE") else {}),
                )
            )
        elif tracker == "tensorboard":
            from ray.tune.logger import TBXLoggerCallback

            out.append(TBXLoggerCallback())
        else:
            raise InputError(f"unknown tracker {tracker!r} (known: {', '.join(TRACKERS)})")
    return out


def experiment_analysis(phase_dir: Path) -> Any:
    """``tune.ExperimentAnalysis`` of one phase directory."""
    return tune.ExperimentAnalysis(str(phase_dir))


# --- one Tuner per phase --------------------------------------------------------------------------


def hyperband_brackets(grace_period: int, max_t: float, reduction_factor: int) -> int:
    """Brackets of (asynchronous) Hyperband: one per milestone ``grace * rf^k <= max_t``, so
    bracket s first judges a trial at milestone s, and with a geometric ladder the last bracket
    runs its trials to the full budget unjudged (Hyperband's s = 0 bracket; Li et al. 2018)."""
    n, t = 0, float(grace_period)
    while t <= max_t * (1 + 1e-9):
        n, t = n + 1, t * reduction_factor
    return max(n, 1)


def _scheduler(spec: PhaseSpec, epochs: int) -> Any:
    """The phase's Ray Tune scheduler. ASHA is ``AsyncHyperBandScheduler`` with one bracket (Ray's
    ``ASHAScheduler`` is that class); "hyperband" gives it one bracket per decision point.

    Ray's synchronous ``HyperBandScheduler`` is not offered: it pauses trials and resumes them
    from a Tune checkpoint, and a trial here climbs its rungs inside one function call (a promoted
    GAN continues from the stage cache), so there is nothing for Tune to pause. Ray draws a
    trial's bracket with the global NumPy generator (a softmax over bracket sizes); the replay
    seeds it, a live sweep does not (its trial order is asynchronous anyway)."""
    space = spec.space
    if space is None or space.search.scheduler == "fifo":
        return FIFOScheduler()
    rf = space.search.reduction_factor
    if space.search.ladder and spec.name == "search":
        # One report per rung; time = the rung's budget in units of the first rung's, so the
        # milestones (1, rf, rf^2, ...) fall on the rungs of a geometric ladder.
        ladder = space.search.ladder
        time_attr, max_t, grace = (
            results.BUDGET,
            budget.budget_units(ladder, len(ladder) - 1),
            1,
        )
    else:
        # One report per epoch, then the final one: max_t = epochs + 1, or ASHA would stop every
        # trial at its last epoch, before its test metrics are reported.
        time_attr, max_t = "training_iteration", epochs + 1
        grace = min(space.search.grace_period, max(epochs, 1))
    brackets = hyperband_brackets(grace, max_t, rf) if space.search.scheduler == "hyperband" else 1
    return AsyncHyperBandScheduler(
        time_attr=time_attr,
        max_t=max_t,
        grace_period=grace,
        reduction_factor=rf,
        brackets=brackets,
    )


def search_scheduler(space: SearchSpace) -> Any:
    """The search phase's scheduler exactly as a sweep builds it, its metric set; table replay
    (``sweep.replay``) drives it without a cluster through on_trial_add/result/complete."""
    scheduler = _scheduler(PhaseSpec("search", space=space), space.base_config().classifier.epochs)
    scheduler.set_search_properties(results.VAL_OBJECTIVE_STEP, results.MODE)
    return scheduler


def _preset_points(spec: PhaseSpec, max_concurrent: int) -> tuple[Any, dict[str, Any], int]:
    """A fixed list of configs, each run once (baseline, confirm)."""
    # Preset points may only set keys the param_space has; a key that varies across points
    # is a choice over its values, so Tune accepts each preset without a warning.
    fixed: dict[str, Any] = {}
    for key in spec.points[0]:
        values: list[Any] = []
        for p in spec.points:
            if p[key] not in values:
                values.append(p[key])
        fixed[key] = values[0] if len(values) == 1 else tune.choice(values)
    alg = BasicVariantGenerator(points_to_evaluate=spec.points, max_concurrent=max_concurrent)
    return alg, fixed, len(spec.points)


class FinishedOnlyOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch, telling the study the true end of each trial.

    What Ray does by default (``OptunaSearch.on_trial_complete``, Ray 2.x): it tells the study
    ``COMPLETE`` with the last result's metric whenever that result holds the metric, so a trial
    ASHA stopped at epoch 2 is scored by TPE with its epoch-2 value beside full-length trials, and
    a diverged trial reporting 0.0 is a "complete" 0.0. Its metric here is the per-epoch key
    (Tune's strict metric check requires it in every result), so the default would do exactly
    that. This override decides from the last result instead (``plan.study_outcome``): COMPLETE
    with ``results.OBJECTIVE`` only for a trial that finished ok, FAIL for a diverged, failed or
    crashed one, PRUNED for one the scheduler stopped. TPE and the report's parameter importance
    then see finished trials only; the per-epoch values stay in the study as intermediate values.
    """

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(self.metric)
        # Optuna's report() refuses NaN; the NaN of a trial without a score is no step value.
        if isinstance(value, (int, float)) and math.isfinite(value):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        from optuna.trial import TrialState

        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result=result, error=error)
        state, value = plan.study_outcome(result, error)
        try:
            self._ot_study.tell(self._ot_trials[trial_id], value, state=TrialState[state])
        except Exception as exc:  # as Ray does: a refused tell must not end the sweep
            log.warning("optuna could not record trial %s as %s: %s", trial_id, state, exc)
        self._completed_trials.add(trial_id)


def _optuna_search(
    spec: PhaseSpec, phase_dir: Path, constants: dict[str, Any], max_concurrent: int
) -> tuple[Any, dict[str, Any], int]:
    """Optuna TPE with its study in ``<phase_dir>/optuna.journal`` (optuna-dashboard reads it)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    space = spec.space
    assert space is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its INFO lines would cut the view
    phase_dir.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(phase_dir / results.OPTUNA_JOURNAL)))
    # Optuna 5 changed TPE's defaults: pass the sampler and its seed explicitly.
    # The searcher's metric is the per-epoch key, the one every result holds; what it tells the
    # study is decided by FinishedOnlyOptunaSearch from the trial's final report.
    searcher = FinishedOnlyOptunaSearch(
        space=space.optuna_distributions(),
        metric=results.VAL_OBJECTIVE_STEP,
        mode=results.MODE,
        sampler=optuna.samplers.TPESampler(seed=space.search_seed),
        study_name=results.STUDY_NAME,
        storage=storage,
    )
    alg = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    params = {k: v for k, v in constants.items() if k not in space.param_keys()}
    return alg, params, space.search.num_samples


def _tune_domains(
    spec: PhaseSpec, constants: dict[str, Any], max_concurrent: int
) -> tuple[Any, dict[str, Any], int]:
    """Random or grid search with Tune's own domains."""
    space = spec.space
    assert space is not None
    domains: dict[str, Any] = {}
    for p in space.params:
        if space.search.algorithm == "grid":
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
    return alg, {**constants, **domains}, space.search.num_samples


def _search_alg(
    spec: PhaseSpec, phase_dir: Path, max_concurrent: int
) -> tuple[Any, dict[str, Any], int]:
    """(search algorithm, param_space, num_samples) of a phase.

    The algorithm limits concurrency itself (Tune ignores ``max_concurrent_trials`` next to a
    search algorithm).
    """
    if spec.space is None:
        return _preset_points(spec, max_concurrent)
    constants = {**spec.base_flat, "seed": spec.space.search_seed, "row": "search"}
    if spec.space.search.algorithm == "optuna":
        return _optuna_search(spec, phase_dir, constants, max_concurrent)
    return _tune_domains(spec, constants, max_concurrent)


def trial_dirname(trial: Any) -> str:
    """Short trial directories (Ray's default embeds the whole flat config in the name)."""
    return f"trial_{trial.trial_id}"


def make_tuner(
    spec: PhaseSpec,
    wrapped: Any,
    exp_dir: Path,
    *,
    max_concurrent: int,
    max_failures: int,
    epochs: int,
    callbacks: Sequence[Any] = (),
) -> tune.Tuner:
    """A fresh Tuner of one phase, stored under ``exp_dir/<phase>``.

    ``callbacks`` are more ``tune.Callback`` objects (experiment trackers, a user's own).
    """
    alg, param_space, num_samples = _search_alg(spec, exp_dir / spec.name, max_concurrent)
    # The per-epoch key: ASHA prunes on it, and every result (the final one included) holds it.
    tune_config = tune.TuneConfig(
        metric=results.VAL_OBJECTIVE_STEP,
        mode=results.MODE,
        search_alg=alg,
        scheduler=_scheduler(spec, epochs),
        num_samples=num_samples,
        trial_dirname_creator=trial_dirname,
        # One actor runs trial after trial (a phase's trials all ask the same resources): Ray's
        # default (False in 2.60) starts a fresh worker per trial, which re-imports torch and
        # galaxybench and cost ~1.8 s between trials in the default sweep. Safe here: every
        # stage seeds its own generators and sets its thread count, so a trial's result does
        # not depend on the process it ran in (tests/test_trial.py runs a config twice in one).
        reuse_actors=True,
    )
    run_config = tune.RunConfig(
        name=spec.name,
        storage_path=str(exp_dir),
        verbose=0,
        log_to_file=True,
        failure_config=tune.FailureConfig(max_failures=max_failures),
        callbacks=[ProgressCallback(spec.name), *callbacks],
    )
    return tune.Tuner(
        wrapped, param_space=param_space, tune_config=tune_config, run_config=run_config
    )


def restore_tuner(phase_dir: Path, wrapped: Any) -> tune.Tuner | None:
    """The interrupted Tune run of a phase, or None when there is none to restore."""
    if not tune.Tuner.can_restore(str(phase_dir)):
        return None
    # The same wrapped trainable as the first run; errored trials run again.
    return tune.Tuner.restore(str(phase_dir), trainable=wrapped, resume_errored=True)


# --- running a phase ------------------------------------------------------------------------------


@contextlib.contextmanager
def _stop_gracefully() -> Iterator[None]:
    """Ctrl-C or SIGTERM during ``Tuner.fit`` (under the CLI's ``signals.handle_termination``):
    Tune stops its trials and saves its experiment state, then the interrupt is raised, so the
    phase is not written as finished and ``--resume`` restores it.

    Tune's own SIGINT handler is kept out (it would end ``fit`` as if the phase were complete);
    the signal calls Tune's SIGUSR1 handler instead, its graceful stop. Both handlers are
    restored after ``fit`` (Tune leaves its own installed).
    """
    if not signals.installed():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGUSR1)}
    env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")

    def stop() -> bool:
        handler = signal.getsignal(signal.SIGUSR1)
        if not callable(handler) or handler is saved[signal.SIGUSR1]:
            return False  # Tune's loop has not started: raise at once
        handler(signal.SIGUSR1, None)
        return True

    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        with signals.deferred(stop):
            yield
    finally:
        for s, handler in saved.items():
            if handler is not None:  # None: set outside Python, left as it is
                signal.signal(s, handler)
        if env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = env


def run_phase(
    spec: PhaseSpec,
    wrapped: Any,
    exp_dir: Path,
    space: SearchSpace,
    resume: bool,
    callbacks: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """Run (or restore and finish) one phase on Ray Tune; its rows.

    A restored phase gets back the callbacks it was started with (Tune pickles them).
    """
    tuner = restore_tuner(exp_dir / spec.name, wrapped) if resume else None
    if tuner is None:
        epochs = space.base_config().classifier.epochs
        tuner = make_tuner(
            spec,
            wrapped,
            exp_dir,
            max_concurrent=space.search.max_concurrent,
            max_failures=space.search.max_failures,
            epochs=epochs,
            callbacks=callbacks,
        )
    with _stop_gracefully():
        grid = tuner.fit()
    return plan.collect_rows(grid, spec.name)
