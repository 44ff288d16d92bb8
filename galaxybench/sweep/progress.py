"""Live sweep progress as small dicts, routed to sinks (free of Ray).

Two kinds of dict: snapshots (counts by state, the best so far; sent often, for a live view) and
events, each sent once as it happens (``event`` names it): ``sweep_start``, ``phase_start``,
``phase_skipped`` (finished in an earlier run), ``phase_end``, ``trial`` (a trial ended: ok,
pruned, diverged or failed), ``trial_retry`` (a crashed trial runs again). A log is built from the
events.

``sweep.ray_backend.ProgressCallback`` is pickled into Ray's experiment state (``Tuner.restore``
brings it back), so it holds no reference to the view: it hands snapshots and events to the
module-level sinks that the running sweep sets here. Only the CLI draws or prints them.

Usage::

    set_sink(lambda snapshot: print(snapshot["done"], snapshot["best"]), events=print)
    emit(snapshot("search", trials))   # trials: objects with .status and .last_result
    event("trial", **trial_outcome("search", trial))
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from galaxybench import results

log = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]
_SINK: Sink | None = None
_EVENTS: Sink | None = None
_STARTED: float = time.monotonic()


def set_sink(
    sink: Sink | None, *, started: float | None = None, events: Sink | None = None
) -> None:
    """Route progress snapshots to ``sink`` and events to ``events`` (None: drop them);
    ``started`` is the sweep's clock."""
    global _SINK, _EVENTS, _STARTED
    _SINK = sink
    _EVENTS = events
    _STARTED = time.monotonic() if started is None else started


def event(kind: str, **fields: Any) -> None:
    """Send one event to the event sink: ``{"event": kind, **fields, "elapsed_s": ...}``."""
    if _EVENTS is None:
        return
    try:
        _EVENTS({"event": kind, **fields, "elapsed_s": time.monotonic() - _STARTED})
    except Exception:  # the log is a view too; keep the sweep running
        log.exception("progress log failed")


def trial_outcome(phase: str, trial: Any, error: str | None = None) -> dict[str, Any]:
    """The fields of a ``trial`` event from Tune's Trial (``.trial_id``, ``.config``,
    ``.last_result``): status as in ``results/<phase>.jsonl``, objective (ok trials only),
    compute seconds, seconds the trial ran, reason. ``error``: the trial crashed (why)."""
    result = trial.last_result or {}
    if error is not None:
        status, reason = results.STATUS_FAILED, error
    elif result.get(results.STATUS):  # the trial's final report
        status, reason = str(result[results.STATUS]), str(result.get(results.REASON) or "")
    else:  # per-epoch (or per-rung) reports only: stopped by the scheduler
        status, reason = results.STATUS_PRUNED, "stopped early by the scheduler"
    compute = result.get(results.COMPUTE_SECONDS_TOTAL)
    if compute is None and isinstance(result.get(results.RESULT_JSON), str):
        try:
            compute = json.loads(result[results.RESULT_JSON]).get(results.COMPUTE_SECONDS_TOTAL)
        except ValueError:
            compute = None
    objective = result.get(results.OBJECTIVE) if status == results.STATUS_OK else None
    return {
        results.PHASE: phase,
        results.TRIAL_ID: str(trial.trial_id),
        results.ROW: (trial.config or {}).get(results.ROW, phase),
        results.STATUS: status,
        "objective": objective,
        "compute_s": compute,
        "trial_s": result.get("time_total_s"),
        results.REASON: reason,
    }


def emit(snapshot: dict[str, Any]) -> None:
    """Send one snapshot to the sink; a failing view never breaks the sweep."""
    if _SINK is None:
        return
    try:
        _SINK({**snapshot, "elapsed_s": time.monotonic() - _STARTED})
    except Exception:  # the view is cosmetic; keep the sweep running
        log.exception("progress view failed")


def snapshot(phase: str, trials: list[Any]) -> dict[str, Any]:
    """Counts by state and the best validation minority F1 so far, from Tune's Trial objects."""
    counts = {"done": 0, "running": 0, "pending": 0, "failed": 0}
    best = -math.inf
    for trial in trials:
        status = trial.status
        if status == "TERMINATED":
            counts["done"] += 1
        elif status == "ERROR":
            counts["failed"] += 1
        elif status == "RUNNING":
            counts["running"] += 1
        else:
            counts["pending"] += 1
        value = (trial.last_result or {}).get(results.OBJECTIVE)
        status_ok = (trial.last_result or {}).get(
            results.STATUS, results.STATUS_OK
        ) == results.STATUS_OK
        if isinstance(value, (int, float)) and math.isfinite(value) and status_ok:
            best = max(best, float(value))
    return {
        results.PHASE: phase,
        "total": len(trials),
        **counts,
        "best": None if best == -math.inf else best,
    }
