"""SIGTERM handled like Ctrl-C, and worker processes that end with their parent.

Schedulers stop a job with SIGTERM (Slurm at its time limit, Kubernetes, ``timeout``, cloud
preemption). The CLI runs each command inside ``handle_termination()``: the first SIGTERM (or
SIGINT) raises ``Terminated`` (a ``KeyboardInterrupt``; ``KeyboardInterrupt`` for SIGINT) in the
main thread, so the command takes the Ctrl-C path: ``finally`` blocks remove temp files, pools
stop, a sweep saves its state and releases its lock. A second signal exits at once, with status
128 + the signal (143 for SIGTERM, 130 for SIGINT), killing the processes it had started.

Code that must end a step itself before stopping (Ray Tune saves its experiment state) runs
inside ``deferred(stop)``: the first signal then calls ``stop()`` instead of raising, and the
interrupt is raised when the block ends.

A private local Ray is started inside ``children_shielded()``: a SIGTERM sent to the whole
process group does not kill it under the sweep before the sweep has stopped it.

Worker processes call ``die_with_parent`` first (a pool's ``initializer``): on Linux the kernel
kills them when their parent dies, however it dies (SIGKILL included).

Usage::

    with handle_termination():          # the CLI, around a command
        ...
    with deferred(stop):                 # a loop that stops cleanly when stop() is called
        ...
    ProcessPoolExecutor(n, initializer=die_with_parent)
    terminate_workers(pool)              # on an interrupt: stop the pool's workers now
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state: dict[str, Any] = {"installed": False, "received": None, "stop": None}


class Terminated(KeyboardInterrupt):
    """A SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt``."""


def exit_status(exc: BaseException) -> int:
    """The exit status of a command stopped by ``exc``: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def _interrupt(signum: int) -> KeyboardInterrupt:
    return Terminated("terminated (SIGTERM)") if signum == signal.SIGTERM else KeyboardInterrupt()


def _descendants() -> list[int]:
    """The ids of this process's descendants, read from /proc (Linux; elsewhere none)."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{name}/stat", "rb") as f:
                ppid = int(f.read().rpartition(b")")[2].split()[1])
            parents.setdefault(ppid, []).append(int(name))
    found, todo = [], [os.getpid()]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _handler(signum: int, frame: Any) -> None:
    if _state["received"] is not None:  # the second signal: no more cleaning up
        os.write(2, f"galaxybench: signal {signum} again: exiting now\n".encode())
        for pid in _descendants():  # what would outlive us (Ray's agents) goes too
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        os._exit(128 + signum)
    _state["received"] = signum
    stop = _state["stop"]
    if stop is not None and stop():
        return  # the deferred block ends itself; the interrupt is raised there
    raise _interrupt(signum)


def installed() -> bool:
    """Whether ``handle_termination`` is active (the CLI); library callers keep their handlers."""
    return bool(_state["installed"])


@contextlib.contextmanager
def handle_termination() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``Terminated`` / ``KeyboardInterrupt`` once; a second exits."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    _state.update(installed=True, received=None, stop=None)
    for s in _SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        if _state["received"] is None:  # after a signal, the next one still exits at once
            for s, handler in previous.items():
                signal.signal(s, handler)
            _state.update(installed=False, stop=None)


def reinstall() -> None:
    """Take the signals back from a library that set its own (``ray.init`` sets SIGTERM's)."""
    if installed() and threading.current_thread() is threading.main_thread():
        for s in _SIGNALS:
            signal.signal(s, _handler)


@contextlib.contextmanager
def children_shielded() -> Iterator[None]:
    """Processes started inside keep SIGTERM blocked (a signal mask is inherited), so a SIGTERM
    sent to the whole process group (Slurm, ``timeout``) reaches this process alone, which then
    stops them in order (the private local Ray: its trials stop and its state is saved first).

    On leaving, this process takes its handlers back (``reinstall``) and gets a SIGTERM that
    came meanwhile.
    """
    main = threading.current_thread() is threading.main_thread()
    if not (installed() and main and hasattr(signal, "pthread_sigmask")):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        reinstall()
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def deferred(stop: Callable[[], bool]) -> Iterator[None]:
    """Inside, the first signal calls ``stop()``; when it returns True the block is left to end
    by itself and the interrupt is raised after it (when it returns False, raised at once)."""
    if not installed():
        yield
        return
    _state["stop"] = stop
    try:
        yield
    finally:
        _state["stop"] = None
    if _state["received"] is not None:
        raise _interrupt(_state["received"])


def die_with_parent() -> None:
    """In a worker process: be killed when the parent process dies (Linux; elsewhere a no-op).

    Exits at once when the parent died before this ran (the worker was re-parented already).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None and os.getppid() != parent.pid:
        os._exit(1)


def terminate_workers(pool: Any, grace: float = 10.0) -> None:
    """Stop a ``ProcessPoolExecutor``'s worker processes now (their tasks are abandoned).

    Each worker gets SIGTERM, and SIGKILL when it is still alive ``grace`` seconds later. A worker
    stopped while it sends a result leaves half a message in the executor's result pipe, and the
    executor's manager thread then waits for the rest forever: ``shutdown(wait=True)`` (and the
    interpreter's exit, which joins that thread) would hang. Once every worker is gone, this
    process's copy of the pipe's write end is the last one: closing it ends that read with EOF,
    which the executor handles as a broken pool. (``ProcessPoolExecutor`` has no public way to do
    this before Python 3.14's ``terminate_workers``, which does not close the pipe either.)
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.terminate()
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AttributeError, AssertionError):
            process.join(grace)
            if process.is_alive():
                process.kill()
                process.join()
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if processes and writer is not None:
        with contextlib.suppress(OSError):
            writer.close()
    pool.shutdown(wait=True, cancel_futures=True)
