"""Search algorithms and schedulers of a phase: fixed points, Optuna TPE, Tune's random and grid
search; FIFO, ASHA and asynchronous Hyperband.

Baseline and confirm run a fixed list of configs (``BasicVariantGenerator(points_to_evaluate=...)``,
FIFO); the search samples (Optuna TPE in a ConcurrencyLimiter, random or grid) and prunes with ASHA
on the per-epoch objective (or on the rungs of a budget ladder).

Usage::

    alg, param_space, num_samples = search_alg(spec, exp_dir / spec.name, max_concurrent=2)
    scheduler = phase_scheduler(spec, epochs)
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from galaxybench import budget, results
from galaxybench.protocol import ROW_SEARCH
from galaxybench.sweep import plan
from galaxybench.sweep.plan import PhaseSpec
from galaxybench.sweep.space import SearchSpace

log = logging.getLogger(__name__)

# --- schedulers -----------------------------------------------------------------------------------


class BracketGeneratorScheduler(AsyncHyperBandScheduler):
    """Ray's ``AsyncHyperBandScheduler`` drawing each trial's bracket from a generator it is
    given, not from NumPy's global one; otherwise Ray's own.

    The draw is Ray 2.x's ``on_trial_add``: a softmax over the brackets' rung counts. A generator
    on the MT19937 state of ``np.random.RandomState(seed)`` draws exactly what Ray draws after
    ``np.random.seed(seed)`` (``sweep.replay.bracket_generator``).
    """

    def __init__(self, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(**options)
        self._rng = rng

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        if not self._metric or not self._metric_op:
            return super().on_trial_add(tune_controller, trial)  # Ray's error for it
        sizes = np.array([len(b._rungs) for b in self._brackets])
        probs = np.e ** (sizes - sizes.max())
        idx = self._rng.choice(len(self._brackets), p=probs / probs.sum())
        self._trial_info[trial.trial_id] = self._brackets[idx]


def hyperband_brackets(grace_period: int, max_t: float, reduction_factor: int) -> int:
    """Brackets of (asynchronous) Hyperband: one per milestone ``grace * rf^k <= max_t``, so
    bracket s first judges a trial at milestone s, and with a geometric ladder the last bracket
    runs its trials to the full budget unjudged (Hyperband's s = 0 bracket; Li et al. 2018)."""
    n, t = 0, float(grace_period)
    while t <= max_t * (1 + 1e-9):
        n, t = n + 1, t * reduction_factor
    return max(n, 1)


def phase_scheduler(spec: PhaseSpec, epochs: int, rng: np.random.Generator | None = None) -> Any:
    """The phase's Ray Tune scheduler. ASHA is ``AsyncHyperBandScheduler`` with one bracket (Ray's
    ``ASHAScheduler`` is that class); "hyperband" gives it one bracket per decision point.

    Ray's synchronous ``HyperBandScheduler`` is not offered: it pauses trials and resumes them
    from a Tune checkpoint, and a trial here climbs its rungs inside one function call (a promoted
    GAN continues from the stage cache), so there is nothing for Tune to pause. Ray draws a
    trial's bracket with the global NumPy generator (a softmax over bracket sizes); a live sweep
    leaves it so (its trial order is asynchronous anyway), the replay passes ``rng`` instead.

    Args:
        rng: draws each trial's Hyperband bracket instead of the global NumPy generator
            (``BracketGeneratorScheduler``); None: Ray's own scheduler.
    """
    space = spec.space
    if space is None or space.search.scheduler == "fifo":
        return FIFOScheduler()
    rf = space.search.reduction_factor
    if space.search.ladder and spec.name == results.PHASE_SEARCH:
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
    options = dict(
        time_attr=time_attr,
        max_t=max_t,
        grace_period=grace,
        reduction_factor=rf,
        brackets=brackets,
    )
    if rng is None:
        return AsyncHyperBandScheduler(**options)
    return BracketGeneratorScheduler(rng, **options)


def search_scheduler(space: SearchSpace, rng: np.random.Generator | None = None) -> Any:
    """The search phase's scheduler exactly as a sweep builds it, its metric set; table replay
    (``sweep.replay``) drives it without a cluster through on_trial_add/result/complete, drawing
    Hyperband brackets from ``rng``."""
    epochs = space.base_config().classifier.epochs
    scheduler = phase_scheduler(PhaseSpec(results.PHASE_SEARCH, space=space), epochs, rng)
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


def search_alg(
    spec: PhaseSpec, phase_dir: Path, max_concurrent: int
) -> tuple[Any, dict[str, Any], int]:
    """(search algorithm, param_space, num_samples) of a phase.

    The algorithm limits concurrency itself (Tune ignores ``max_concurrent_trials`` next to a
    search algorithm).
    """
    if spec.space is None:
        return _preset_points(spec, max_concurrent)
    constants = {**spec.base_flat, "seed": spec.space.search_seed, results.ROW: ROW_SEARCH}
    if spec.space.search.algorithm == "optuna":
        return _optuna_search(spec, phase_dir, constants, max_concurrent)
    return _tune_domains(spec, constants, max_concurrent)
