"""A sweep's progress as plain log lines: one line per event, written and flushed as it happens.

``galaxybench sweep`` writes these lines to stderr when stderr is not a terminal (``nohup``, a
batch job, a pipe) and to ``--log-file PATH`` beside the live table. Each line is an ISO 8601 UTC
timestamp, a word saying what happened, and ``key=value`` fields (a value with spaces is quoted as
JSON), so ``grep`` and ``awk`` read it::

    2026-12-04T21:02:11+00:00 sweep start name=sweep-smoke mode=sweep space=smoke ...
    2026-12-04T21:02:13+00:00 phase start phase=baseline trials=1
    2026-12-04T21:02:31+00:00 trial phase=baseline id=8e0a_00000 status=ok objective=0.4211 ...
    2026-12-04T21:07:13+00:00 progress phase=search ended=3/8 ... eta_s=610 eta_basis="..."

Every ``every_s`` seconds (``--progress-every MIN``) a ``progress`` line sums up the phase that
runs: trials ended of planned, by status, running and pending, the best objective so far and an
estimate of the phase's time left: trials left x the median seconds of the phase's ended trials
(the ended trials of the earlier phases while none has ended yet) / the most trials seen running
at once in the phase. It covers the running phase only (the confirm phase's size depends on the
search).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from galaxybench import results


def timestamp() -> str:
    """Now, ISO 8601 in UTC with its offset, to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _value(v: Any) -> str:
    if isinstance(v, float):  # 2, 0.4211, 7.518, 43.2, 1234
        return f"{v:.0f}" if v.is_integer() or abs(v) >= 1000 else f"{v:.4g}"
    text = str(v)
    return json.dumps(text) if (not text or any(c.isspace() or c == '"' for c in text)) else text


def fields(**kv: Any) -> str:
    """``key=value`` pairs, None values left out."""
    return " ".join(f"{k}={_value(v)}" for k, v in kv.items() if v is not None)


def event_line(ev: dict[str, Any]) -> str:
    """The text of one event (without its timestamp)."""
    kind = ev.get("event")
    if kind == "sweep_start":
        res = ev.get("resources") or {}
        return "sweep start " + fields(
            name=ev.get("name"),
            mode=ev.get("mode"),
            resume=ev.get("resume") or None,
            space=ev.get("space"),
            data=ev.get("data"),
            experiment=ev.get("experiment"),
            **{k: v for k, v in res.items()},
        )
    if kind in ("phase_start", "phase_skipped", "phase_end"):
        word = {"phase_start": "start", "phase_skipped": "skipped", "phase_end": "end"}[kind]
        rest = {k: v for k, v in ev.items() if k not in ("event", results.PHASE, "elapsed_s")}
        if kind == "phase_skipped":
            rest["why"] = "finished in an earlier run"
        return f"phase {word} " + fields(phase=ev.get(results.PHASE), **rest)
    if kind == "trial":
        return "trial " + fields(
            phase=ev.get(results.PHASE),
            id=ev.get(results.TRIAL_ID),
            row=ev.get(results.ROW) if ev.get(results.ROW) != ev.get(results.PHASE) else None,
            status=ev.get(results.STATUS),
            objective=ev.get("objective"),
            compute_s=ev.get("compute_s"),
            elapsed_s=ev.get("trial_s"),
            reason=ev.get(results.REASON) or None,
        )
    if kind == "trial_retry":
        return "trial retry " + fields(
            phase=ev.get(results.PHASE), id=ev.get(results.TRIAL_ID), reason=ev.get(results.REASON)
        )
    return f"{kind} " + fields(**{k: v for k, v in ev.items() if k != "event"})


class SweepLog:
    """Writes the events of one sweep to ``streams``, and a summary every ``every_s`` seconds
    (None or 0: none). ``snapshot`` and ``event`` are the sweep's two sinks (``sweep.progress``)."""

    def __init__(self, streams: list[TextIO], every_s: float | None = None) -> None:
        self.streams = streams
        self.every_s = every_s or None
        self._lock = threading.Lock()
        self._phase: str | None = None
        self._planned: dict[str, int] = {}
        self._snap: dict[str, Any] = {}
        self._statuses: dict[str, Counter] = {}
        self._seconds: dict[str, list[float]] = {}
        self._at_once: dict[str, int] = {}
        self._elapsed = 0.0
        self._started = False  # an event was written
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if self.every_s and streams:
            self._timer = threading.Thread(target=self._tick, name="sweep-log", daemon=True)
            self._timer.start()

    def write(self, text: str) -> None:
        """One line, timestamped, to every stream, flushed."""
        line = f"{timestamp()} {text}\n"
        with self._lock:
            for stream in self.streams:
                stream.write(line)
                stream.flush()

    def event(self, ev: dict[str, Any]) -> None:
        """The event sink: remember what the summary needs, then write the event's line."""
        self._elapsed = float(ev.get("elapsed_s", self._elapsed))
        phase = ev.get(results.PHASE)
        self._started = True
        if ev.get("event") == "phase_start":
            self._phase = phase
            self._planned[phase] = int(ev.get("trials") or 0)
            self._snap = {}
        elif ev.get("event") == "phase_end":  # no summaries between phases
            self._phase = None
        elif ev.get("event") == "trial":
            self._statuses.setdefault(phase, Counter())[str(ev.get(results.STATUS))] += 1
            if isinstance(ev.get("trial_s"), (int, float)):
                self._seconds.setdefault(phase, []).append(float(ev["trial_s"]))
        self.write(event_line(ev))

    def snapshot(self, snap: dict[str, Any]) -> None:
        """The snapshot sink: the running phase's counts, for the periodic summary."""
        self._elapsed = float(snap.get("elapsed_s", self._elapsed))
        if snap.get(results.PHASE) == self._phase:
            self._snap = snap
            phase = str(self._phase)
            self._at_once[phase] = max(self._at_once.get(phase, 0), int(snap.get("running", 0)))

    def _tick(self) -> None:
        assert self.every_s is not None
        while not self._stop.wait(self.every_s):
            phase = self._phase  # read once: the sweep's thread may end the phase meanwhile
            if phase is not None:
                self.write(self.summary_line(phase))

    def eta(self, phase: str | None = None) -> tuple[float | None, str]:
        """(seconds left in the running phase or None, how that was estimated)."""
        phase = str(phase or self._phase)
        snap = self._snap
        ended = int(snap.get("done", 0)) + int(snap.get("failed", 0))
        ended = max(ended, sum(self._statuses.get(phase, Counter()).values()))
        total = max(self._planned.get(phase, 0), int(snap.get("total", 0)))
        left = max(total - ended, 0)
        seconds = self._seconds.get(phase) or [s for v in self._seconds.values() for s in v]
        at_once = max(self._at_once.get(phase, 0), 1)
        if not seconds:
            return None, "no trial has ended yet"
        median = statistics.median(seconds)
        basis = f"{left} trials left x median {median:.0f} s per ended trial / {at_once} at once"
        return left * median / at_once, basis

    def summary_line(self, phase: str | None = None) -> str:
        """The periodic ``progress`` line of the running phase."""
        phase = str(phase or self._phase)
        snap = self._snap
        statuses = self._statuses.get(phase, Counter())
        ended = max(int(snap.get("done", 0)) + int(snap.get("failed", 0)), sum(statuses.values()))
        total = max(self._planned.get(phase, 0), int(snap.get("total", 0)))
        eta, basis = self.eta(phase)
        return "progress " + fields(
            phase=phase,
            ended=f"{ended}/{total}",
            **{s: statuses.get(s, 0) for s in results.STATUSES},
            running=int(snap.get("running", 0)),
            pending=max(total - ended - int(snap.get("running", 0)), 0),
            best=snap.get("best"),
            sweep_elapsed_s=round(self._elapsed),
            phase_eta_s=None if eta is None else round(eta),
            eta_basis=basis,
        )

    def sweep_end(self, summary: dict[str, Any]) -> None:
        """The last line: exit status, seconds, where the report is."""
        self.write(
            "sweep end "
            + fields(
                exit=summary.get("exit_code"),
                seconds=summary.get("seconds"),
                failed=summary.get("failed"),
                experiment=summary.get("experiment_dir"),
                report=summary.get("report"),
            )
        )

    def sink(self, view: Callable[[dict[str, Any]], None] | None) -> Callable[..., None]:
        """The snapshot sink: ``view`` (the live table, None off a terminal), then the log."""

        def both(snap: dict[str, Any]) -> None:
            if view is not None:
                view(snap)
            self.snapshot(snap)

        return both

    def _exit(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        """Ends the log when a started sweep raised (the CLI prints the error itself; a sweep
        refused before it started, e.g. on bad input, is that one line alone)."""
        if exc is not None and self._started:
            self.write("sweep stopped " + fields(error=f"{type(exc).__name__}: {exc}"))
        return False

    def close(self) -> None:
        """Stop the periodic summaries."""
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=5)


def open_sweep_log(
    stack: Any, log_file: str | None, every_min: float, terminal: bool, stderr: TextIO
) -> SweepLog | None:
    """The log of a sweep, closed by ``stack`` (a ``contextlib.ExitStack``): to ``stderr`` when it
    is not a terminal, and to ``log_file`` (appended: a resumed sweep continues its log).
    None when neither (a terminal, no ``--log-file``): the live table alone."""
    from pathlib import Path

    from galaxybench.errors import InputError

    if every_min < 0:
        raise InputError(f"--progress-every {every_min:g}: minutes must be 0 (off) or more")
    streams: list[TextIO] = [] if terminal else [stderr]
    if log_file is not None:
        path = Path(log_file).expanduser()
        if path.is_dir():
            raise InputError(f"--log-file {log_file} is a directory; give a file path")
        if not path.parent.is_dir():
            raise InputError(f"--log-file {log_file}: the directory {path.parent} does not exist")
        streams.append(stack.enter_context(path.open("a", encoding="utf-8")))
    if not streams:
        return None
    log = SweepLog(streams, every_s=every_min * 60)
    stack.callback(log.close)
    stack.push(log._exit)
    return log
