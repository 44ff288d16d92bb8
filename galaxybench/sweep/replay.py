"""Replay searchers on a tabular benchmark (``sweep.tabular``) at no training cost.

The searchers are the objects a real sweep drives: an Optuna study (``TPESampler``,
``RandomSampler`` or ``GridSampler``, seeded) asked for configurations and told their outcome as
``FinishedOnlyOptunaSearch`` tells it (COMPLETE with the full-budget validation objective, PRUNED
for a trial the scheduler stopped after reporting its rung values as intermediate values, FAIL for a
diverged one), and for "+asha" / "+hyperband" the search phase's own Ray Tune scheduler
(``ray_backend.search_scheduler``: ``ASHAScheduler``, or ``AsyncHyperBandScheduler`` with one
bracket per rung), driven through on_trial_add/on_trial_result/on_trial_complete without a cluster;
Ray draws a Hyperband trial's bracket from NumPy's global generator, which the replay seeds with the
search seed (and restores afterwards). A trial's rung "runs" for the table's compute seconds of that
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


def table_scheduler(table: Table, kind: str = "asha") -> Any:
    """The sweep's scheduler (``kind``: asha | hyperband) for the table's ladder, from
    ``ray_backend`` (reduction factor = the ratio of the last two rungs, so the milestones fall on
    the rungs)."""
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
    return ray_backend.search_scheduler(space)


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
    import numpy as np

    options = dict(
        workers=workers,
        budget_seconds=budget_seconds,
        max_trials=max_trials,
        enqueue=enqueue,
        scheduler=scheduler,
    )
    saved = np.random.get_state()
    np.random.seed(seed)  # Ray's Hyperband draws each trial's bracket from the global generator
    try:
        return _replay(table, searcher, seed, **options)
    finally:
        np.random.set_state(saved)


def _replay(
    table: Table,
    searcher: str,
    seed: int,
    *,
    workers: int,
    budget_seconds: float | None,
    max_trials: int | None,
    enqueue: list[dict[str, Any]] | None,
    scheduler: Any,
) -> Replay:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    if searcher not in SEARCHERS:
        raise InputError(f"unknown searcher {searcher!r} (known: {', '.join(SEARCHERS)})")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    disc = table.meta["discretisation"]
    dists = {k: CategoricalDistribution(list(v)) for k, v in disc.items()}
    rows = table.lookup()
    n_rungs = len(table.ladder)
    kind = searcher.partition("+")[2]
    use_asha = bool(kind)  # a scheduler climbs the ladder (ASHA or Hyperband)
    if use_asha and scheduler is None:
        scheduler = table_scheduler(table, kind)
    if searcher == "grid":
        max_trials = min(max_trials or len(rows), len(rows))
    budget_seconds = table.grid_full_seconds() if budget_seconds is None else budget_seconds
    study = optuna.create_study(
        direction=results.MODE + "imize", sampler=_sampler(searcher, seed, disc)
    )
    for params in enqueue or ():
        study.enqueue_trial(params)
    rep = Replay(searcher, seed, workers)
    heap: list[tuple[float, int, dict[str, Any]]] = []
    spent, launched, seq = 0.0, 0, 0
    best = (-math.inf, math.nan)  # (validation objective, test objective) of the choice

    def cost(state: dict[str, Any]) -> float:
        if not use_asha:
            return table.full_budget_seconds(state["cid"])
        return float(state["rows"][state["rung"]]["compute_seconds"])

    def start(now: float) -> None:
        nonlocal launched, seq
        trial = study.ask(dists)
        cid = config_key(trial.params)
        if cid not in rows:
            raise InputError(f"the searcher asked for {trial.params}, which the table lacks")
        stub = SimpleNamespace(trial_id=str(trial.number))
        if use_asha:
            scheduler.on_trial_add(None, stub)
        # Without a scheduler the trial is one full-budget pass: its value is the last rung's.
        state = {
            "trial": trial,
            "stub": stub,
            "cid": cid,
            "rows": rows[cid],
            "rung": 0 if use_asha else len(rows[cid]) - 1,
        }
        launched += 1
        seq += 1
        heapq.heappush(heap, (now + cost(state), seq, state))

    now = 0.0
    while True:
        while (
            len(heap) < workers
            and spent < budget_seconds
            and (max_trials is None or launched < max_trials)
        ):
            start(now)
        if not heap:
            break
        now, _, state = heapq.heappop(heap)
        spent += cost(state)
        row = state["rows"][state["rung"]]
        value = row["val_objective"]
        last = row["rung"] == n_rungs
        ok = row["status"] == results.STATUS_OK and math.isfinite(value)
        result = {
            results.BUDGET: budget.budget_units(table.ladder, row["rung"] - 1),
            results.VAL_OBJECTIVE_STEP: value if ok else math.nan,
        }
        if not ok:
            action = "fail"
            if use_asha:
                scheduler.on_trial_complete(None, state["stub"], result)
            _tell(study, state["trial"], state=TrialState.FAIL)
        elif last:
            action = "complete"
            if use_asha:
                scheduler.on_trial_complete(None, state["stub"], result)
            _tell(study, state["trial"], value)
            if value > best[0]:
                best = (value, row[results.MINORITY_F1])
        else:
            # A rung's report: an intermediate value in the study (as OptunaSearch does), then
            # ASHA's decision on the rung's budget.
            state["trial"].report(value, step=row["rung"])
            decision = scheduler.on_trial_result(None, state["stub"], result)
            if decision == "STOP":
                action = "stop"
                scheduler.on_trial_complete(None, state["stub"], result)
                _tell(study, state["trial"], state=TrialState.PRUNED)
            else:
                action = "promote"
                state["rung"] += 1
                seq += 1
                heapq.heappush(heap, (now + cost(state), seq, state))
        rep.events.append(
            {
                "trial": state["trial"].number,
                "config_id": state["cid"],
                "rung": row["rung"],
                "value": value,
                "action": action,
                "compute": round(spent, 3),
                "time": round(now, 3),
            }
        )
        rep.points.append((spent, best[0] if best[0] > -math.inf else math.nan, best[1]))
    return rep


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
