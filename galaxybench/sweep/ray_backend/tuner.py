"""One Ray Tune Tuner per phase: build or restore it, run it, turn its results into rows.

The rows of ``results/<phase>.jsonl`` come from ``groups.collect_rows``; the order of the phases is
``sweep.experiment``.

Usage::

    rows = run_phase(spec, wrapped_trainable(space, exp_dir, data, None), exp_dir, space,
                     resume=False)
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ray import tune

from galaxybench import results, signals
from galaxybench.sweep import groups
from galaxybench.sweep.plan import PhaseSpec
from galaxybench.sweep.ray_backend.callbacks import ProgressCallback
from galaxybench.sweep.ray_backend.search import phase_scheduler, search_alg
from galaxybench.sweep.space import SearchSpace


def experiment_analysis(phase_dir: Path) -> Any:
    """``tune.ExperimentAnalysis`` of one phase directory."""
    return tune.ExperimentAnalysis(str(phase_dir))


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
    alg, param_space, num_samples = search_alg(spec, exp_dir / spec.name, max_concurrent)
    # The per-epoch key: ASHA prunes on it, and every result (the final one included) holds it.
    tune_config = tune.TuneConfig(
        metric=results.VAL_OBJECTIVE_STEP,
        mode=results.MODE,
        search_alg=alg,
        scheduler=phase_scheduler(spec, epochs),
        num_samples=num_samples,
        trial_dirname_creator=trial_dirname,
        # One actor runs trial after trial (a phase's trials all ask the same resources): Ray's
        # default (False in 2.60) starts a fresh worker per trial, which re-imports torch and
        # galaxybench between trials. Safe here: every
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
    return groups.collect_rows(grid, spec.name)
