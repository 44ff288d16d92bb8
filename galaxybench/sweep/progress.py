"""Live sweep progress as small dicts, routed to one sink (free of Ray).

``sweep.ray_backend.ProgressCallback`` is pickled into Ray's experiment state (``Tuner.restore``
brings it back), so it holds no reference to the view: it hands snapshots to the module-level sink
that the running sweep sets here. Only the CLI draws them.

Usage::

    set_sink(lambda snapshot: print(snapshot["done"], snapshot["best"]))
    emit(snapshot("search", trials))   # trials: objects with .status and .last_result
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from galaxybench import results

log = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]
_SINK: Sink | None = None
_STARTED: float = time.monotonic()


def set_sink(sink: Sink | None, *, started: float | None = None) -> None:
    """Route progress snapshots to ``sink`` (None: drop them); ``started`` is the sweep's clock."""
    global _SINK, _STARTED
    _SINK = sink
    _STARTED = time.monotonic() if started is None else started


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
        status_ok = (trial.last_result or {}).get("status", results.STATUS_OK) == results.STATUS_OK
        if isinstance(value, (int, float)) and math.isfinite(value) and status_ok:
            best = max(best, float(value))
    return {
        "phase": phase,
        "total": len(trials),
        **counts,
        "best": None if best == -math.inf else best,
    }
