"""The contract of a trial function: what the sweep calls once per trial (or once per rung).

``galaxybench.trial.evaluate_trial`` is the one the benchmark runs; tests and plugins pass their
own to ``sweep.run_experiment(trial_fn=...)``. This module imports neither torch nor Ray.

Usage::

    def my_trial(cfg, data, report=None, *, device, cache_dir, num_threads, artifacts_dir,
                 budget_fraction=1.0) -> TrialResult: ...
    fn: TrialFunction = my_trial
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from galaxybench.config import Config
    from galaxybench.results import TrialResult

Reporter = Callable[[dict[str, Any]], None]


class TrialFunction(Protocol):
    """Runs and scores one trial of a config; the sweep's trainable calls it inside a Ray worker.

    Called once per trial of every phase (baseline, search, confirm), and for a search trial
    with a budget ladder once per rung it climbs, each call with a larger ``budget_fraction``.
    Every argument below is passed on every call; ``budget_fraction`` only on a ladder's rungs.
    It returns a ``TrialResult`` whose ``metrics`` hold ``results.OBJECTIVE`` when it finished
    ok; an exception it raises makes Ray retry the trial (``search.max_failures``).
    """

    def __call__(
        self,
        cfg: Config,
        data: Any,
        report: Reporter | None = None,
        *,
        device: str,
        cache_dir: str,
        num_threads: int,
        artifacts_dir: str | None,
        budget_fraction: float = ...,
    ) -> TrialResult:
        """Run one trial.

        Args:
            cfg: the trial's resolved config (the Ray config's flat keys; ``seed`` included).
            data: the trial's prepared data (its split when the sweep prepared several).
            report: called by the trial after every classifier epoch with that epoch's metrics
                (``results.OBJECTIVE`` among them); the sweep reports them to Tune, whose
                scheduler may stop the trial on them. On a ladder's rungs it is a no-op (the
                sweep reports once per rung itself).
            device: the torch device: ``$GALAXYBENCH_DEVICE``, else ``cuda`` when the trial holds
                GPUs, else ``cpu``.
            cache_dir: the experiment's stage cache (``<experiment>/cache``), shared by every
                trial, so a stage another trial trained with the same inputs is loaded.
            num_threads: torch CPU threads, the trial's CPUs (at least 1), so concurrent trials
                do not oversubscribe the machine.
            artifacts_dir: a folder for the real-vs-synthetic and SR comparison images for the
                confirmed best row ("top-1"); None for every other row.
            budget_fraction: passed only on a budget ladder (search trials with
                ``search.ladder``): the rung's fraction of every trained stage's epochs, in
                (0, 1]; absent, the trial runs the full budget.
        """
        ...
