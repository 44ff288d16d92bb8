"""Replay searchers on a tabular benchmark (``sweep.tabular``) at no training cost.

The searchers are the objects a real sweep drives: an Optuna study (``TPESampler``,
``RandomSampler`` or ``GridSampler``, seeded) asked for configurations and told their outcome as
``FinishedOnlyOptunaSearch`` tells it (COMPLETE with the full-budget validation objective, PRUNED
for a trial the scheduler stopped after reporting its rung values as intermediate values, FAIL for a
diverged one), and for "+asha" / "+hyperband" the search phase's own Ray Tune scheduler
(``ray_backend.search_scheduler``: ``ASHAScheduler``, or ``AsyncHyperBandScheduler`` with one
bracket per rung), driven through on_trial_add/on_trial_result/on_trial_complete without a cluster;
Ray draws a Hyperband trial's bracket from NumPy's global generator; the replay's scheduler draws
it from its own generator seeded with the search seed (``bracket_generator``), the same draws,
leaving the global generator alone. A trial's rung "runs" for the table's compute seconds of that
rung on one of ``workers`` simulated workers; events are processed in simulated time order, so with
several workers the scheduler decides with the results finished so far, as asynchronous ASHA does.

Without a scheduler a trial runs at full budget without a ladder and costs
``Table.full_budget_seconds``; with a scheduler it climbs the table's ladder and pays each rung it
ran. Cumulative compute sums those seconds. A configuration asked twice is paid twice (the replay
does not model the stage cache between trials). The search stops asking when the compute spent
reaches ``budget_seconds`` (default: the exhaustive grid's full-budget compute) or after
``max_trials``.

Usage::

    rep = replay(table, "tpe+asha", seed=0, workers=2)
    rep.points[-1]  # (cumulative seconds, best validation objective, test objective of the choice)
    compute_to_reach(rep, table.best_full()["val_objective"] - 0.01)
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from galaxybench import budget, results
from galaxybench.errors import InputError
from galaxybench.sweep.space import parse_search_space
from galaxybench.sweep.tabular import Table, config_key

SEARCHERS = (
    "random",
    "grid",
    "tpe",
    "tpe+asha",
    "random+asha",
    "tpe+hyperband",
    "random+hyperband",
)


@dataclass
class Replay:
    """One replayed search.

    Attributes:
        points: after every finished rung, (cumulative compute seconds, best full-budget
            validation objective so far, test objective of that best configuration); NaN before
            the first finished full-budget trial.
        events: one dict per finished rung: trial, config_id, rung, value, action
            (promote | stop | complete | fail), compute (cumulative seconds), time (simulated).
    """

    searcher: str
    seed: int
    workers: int
    points: list[tuple[float, float, float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def _sampler(name: str, seed: int, disc: dict[str, list[Any]]) -> Any:
    import optuna

    kind = name.split("+")[0]
    if kind == "tpe":  # as the sweep builds it: defaults, seeded
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return optuna.samplers.GridSampler(disc, seed=seed)
    raise InputError(f"unknown searcher {name!r} (known: {', '.join(SEARCHERS)})")


def _tell(study: Any, trial: Any, value: float | None = None, state: Any = None) -> None:
    """``study.tell``. GridSampler calls ``study.stop()`` after the grid's last trial, which
    Optuna refuses outside ``optimize`` (RuntimeError) once the trial's state is stored; the
    replay ends the grid itself (``max_trials``), so that refusal is expected and dropped."""
    try:
        study.tell(trial, value, state=state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def bracket_generator(seed: int) -> np.random.Generator:
    """The generator the replay draws Hyperband brackets from: MT19937 in the state
    ``np.random.seed(seed)`` gives NumPy's global generator, so a replay draws the brackets a
    globally seeded Ray would, without touching the global generator."""
    bits = np.random.MT19937()
    bits.state = np.random.RandomState(seed).get_state(legacy=False)
    return np.random.Generator(bits)


def table_scheduler(
    table: Table, kind: str = "asha", rng: np.random.Generator | None = None
) -> Any:
    """The sweep's scheduler (``kind``: asha | hyperband) for the table's ladder, from
    ``ray_backend`` (reduction factor = the ratio of the last two rungs, so the milestones fall on
    the rungs); Hyperband brackets are drawn from ``rng`` (None: NumPy's global generator, as Ray
    does)."""
    import galaxybench.sweep.ray_backend as ray_backend

    space = parse_search_space(table.meta["space"], table.meta.get("space_source", "<table>"))
    ladder = table.ladder
    rf = max(2, round(ladder[-1] / ladder[-2])) if len(ladder) > 1 else 2
    space = dataclasses.replace(
        space,
        search=dataclasses.replace(
            space.search, scheduler=kind, ladder=ladder, reduction_factor=rf
        ),
    )
    return ray_backend.search_scheduler(space, rng)


@dataclass
class _Running:
    """A trial in flight: its study trial, scheduler stub, configuration and current rung."""

    trial: Any
    stub: Any
    cid: str
    rows: list[dict[str, Any]]
    rung: int


class _Search:
    """The state of one replay: the study, the scheduler, the workers' event heap and the spend."""

    def __init__(self, table: Table, study: Any, scheduler: Any, workers: int, rep: Replay) -> None:
        self.table, self.study, self.scheduler, self.workers, self.rep = (
            table,
            study,
            scheduler,
            workers,
            rep,
        )
        self.rows = table.lookup()
        self.heap: list[tuple[float, int, _Running]] = []
        self.spent, self.launched, self.seq, self.now = 0.0, 0, 0, 0.0
        self.best = (-math.inf, math.nan)  # (validation objective, test objective) of the choice

    def cost(self, run: _Running) -> float:
        """Seconds of the run's current rung (without a scheduler: the full-budget pass)."""
        if self.scheduler is None:
            return self.table.full_budget_seconds(run.cid)
        return float(run.rows[run.rung]["compute_seconds"])

    def push(self, run: _Running) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (self.now + self.cost(run), self.seq, run))

    def start(self, dists: dict[str, Any]) -> None:
        """Ask the study for a configuration and start it on a free worker."""
        trial = self.study.ask(dists)
        cid = config_key(trial.params)
        if cid not in self.rows:
            raise InputError(f"the searcher asked for {trial.params}, which the table lacks")
        stub = SimpleNamespace(trial_id=str(trial.number))
        if self.scheduler is not None:
            self.scheduler.on_trial_add(None, stub)
        # Without a scheduler the trial is one full-budget pass: its value is the last rung's.
        rung = 0 if self.scheduler is not None else len(self.rows[cid]) - 1
        self.launched += 1
        self.push(_Running(trial, stub, cid, self.rows[cid], rung))

    def finish(self, run: _Running) -> str:
        """The run's current rung has finished: tell the scheduler and the study; the action."""
        from optuna.trial import TrialState

        row = run.rows[run.rung]
        value = row["val_objective"]
        ok = row[results.STATUS] == results.STATUS_OK and math.isfinite(value)
        result = {
            results.BUDGET: budget.budget_units(self.table.ladder, row["rung"] - 1),
            results.VAL_OBJECTIVE_STEP: value if ok else math.nan,
        }
        if not ok or row["rung"] == len(self.table.ladder):
            if self.scheduler is not None:
                self.scheduler.on_trial_complete(None, run.stub, result)
            if not ok:
                _tell(self.study, run.trial, state=TrialState.FAIL)
                return "fail"
            _tell(self.study, run.trial, value)
            if value > self.best[0]:
                self.best = (value, row[results.MINORITY_F1])
            return "complete"
        # A rung's report: an intermediate value in the study (as OptunaSearch does), then
        # ASHA's decision on the rung's budget.
        run.trial.report(value, step=row["rung"])
        if self.scheduler.on_trial_result(None, run.stub, result) == "STOP":
            self.scheduler.on_trial_complete(None, run.stub, result)
            _tell(self.study, run.trial, state=TrialState.PRUNED)
            return "stop"
        run.rung += 1
        self.push(run)
        return "promote"

    def record(self, run: _Running, row: dict[str, Any], action: str) -> None:
        """One event and one anytime point per finished rung."""
        self.rep.events.append(
            {
                "trial": run.trial.number,
                results.CONFIG_ID: run.cid,
                "rung": row["rung"],
                "value": row["val_objective"],
                "action": action,
                "compute": round(self.spent, 3),
                "time": round(self.now, 3),
            }
        )
        best = self.best[0] if self.best[0] > -math.inf else math.nan
        self.rep.points.append((self.spent, best, self.best[1]))


def replay(
    table: Table,
    searcher: str,
    seed: int,
    *,
    workers: int = 2,
    budget_seconds: float | None = None,
    max_trials: int | None = None,
    enqueue: list[dict[str, Any]] | None = None,
    scheduler: Any = None,
) -> Replay:
    """Replay one search on ``table`` (see the module docstring).

    Args:
        enqueue: configurations the study runs first, in order (``study.enqueue_trial``).
        scheduler: a scheduler object to drive instead of ``table_scheduler(table, kind)`` (tests).
    """
    import optuna
    from optuna.distributions import CategoricalDistribution

    if searcher not in SEARCHERS:
        raise InputError(f"unknown searcher {searcher!r} (known: {', '.join(SEARCHERS)})")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    disc = table.meta["discretisation"]
    kind = searcher.partition("+")[2]  # a scheduler climbs the ladder (ASHA or Hyperband)
    if not kind:
        scheduler = None
    elif scheduler is None:
        scheduler = table_scheduler(table, kind, bracket_generator(seed))
    n_rows = len(table.lookup())
    if searcher == "grid":
        max_trials = min(max_trials or n_rows, n_rows)
    budget_seconds = table.grid_full_seconds() if budget_seconds is None else budget_seconds
    study = optuna.create_study(
        direction=results.MODE + "imize", sampler=_sampler(searcher, seed, disc)
    )
    for params in enqueue or ():
        study.enqueue_trial(params)
    dists = {k: CategoricalDistribution(list(v)) for k, v in disc.items()}
    search = _Search(table, study, scheduler, workers, Replay(searcher, seed, workers))
    while True:
        while (
            len(search.heap) < workers
            and search.spent < budget_seconds
            and (max_trials is None or search.launched < max_trials)
        ):
            search.start(dists)
        if not search.heap:
            return search.rep
        search.now, _, run = heapq.heappop(search.heap)
        search.spent += search.cost(run)
        row = run.rows[run.rung]
        search.record(run, row, search.finish(run))


def trials_to_reach(rep: Replay, target: float) -> float:
    """Trials started (asked of the searcher) by the time the best-so-far validation objective
    first reached ``target`` (inf when it never did): the ``num_samples`` that search needed."""
    started: set[int] = set()
    for event, (_, best, _) in zip(rep.events, rep.points, strict=True):
        started.add(event["trial"])
        if math.isfinite(best) and best >= target:
            # Trials asked before this event but not yet finished a rung ran too.
            return float(max(started) + 1)
    return math.inf


def compute_to_reach(rep: Replay, target: float) -> float:
    """Cumulative compute when the best-so-far validation objective first reached ``target``
    (inf when it never did)."""
    for seconds, best, _ in rep.points:
        if math.isfinite(best) and best >= target:
            return seconds
    return math.inf
