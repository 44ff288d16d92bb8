"""Ray Tune callbacks: the sweep's progress view and the experiment trackers (MLflow, W&B,
TensorBoard).

``ProgressCallback`` is pickled into Ray's experiment state (``Tuner.restore`` gives it back);
what it emits is ``sweep.progress``.

Usage::

    callbacks = [ProgressCallback("search"), *tracker_callbacks(["mlflow"], exp_dir, "demo")]
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray import tune

from galaxybench.errors import InputError
from galaxybench.sweep import progress

log = logging.getLogger(__name__)


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
