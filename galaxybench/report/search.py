"""Search-phase summary: trials and failures per phase, best validation score, importance.

Usage: ``s = search_summary(exp); s.counts, s.failures, s.best_val, s.importance, s.note``.

Parameter importance comes from the Optuna journal of the search (study "search") through
``optuna.importance.get_param_importances`` (PED-ANOVA by default in Optuna 5) when enough trials
completed; otherwise the summary carries a note saying why there is none.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from galaxybench import results
from galaxybench.report.experiment import Experiment

log = logging.getLogger(__name__)

# The order of the status columns; "pruned" is a trial ASHA stopped early (validation metrics only).
STATUSES = (
    results.STATUS_OK,
    results.STATUS_PRUNED,
    results.STATUS_DIVERGED,
    results.STATUS_FAILED,
)
# Below this many completed trials an importance estimate is noise, so none is reported.
MIN_TRIALS_FOR_IMPORTANCE = 8


@dataclass
class SearchSummary:
    """What the search did.

    Attributes:
        counts: one row per phase: trials, ok, pruned, diverged, failed (and any other status).
        failures: every failed or diverged trial: phase, row, trial, seed, status, reason.
        best_val: the best validation minority F1 of an ok search trial (NaN if none).
        best_trial: that trial's id, None if none.
        best_config: that trial's config (dotted keys), {} if none.
        importance: param, importance (sums to 1), best first; empty when not computed.
        note: why there is no importance, or "" when there is.
    """

    counts: pd.DataFrame
    failures: pd.DataFrame
    best_val: float
    best_trial: str | None
    best_config: dict[str, Any]
    importance: pd.DataFrame
    note: str


def _counts(exp: Experiment) -> pd.DataFrame:
    """Trials per phase and status (ok, pruned by ASHA, diverged, failed, any other status)."""
    statuses = list(STATUSES) + sorted(
        {str(r.get(results.STATUS)) for r in exp.records} - set(STATUSES)
    )
    out = []
    for phase in results.PHASES:
        found = [str(r.get(results.STATUS)) for r in exp.phase(phase)]
        out.append(
            {results.PHASE: phase, "trials": len(found), **{s: found.count(s) for s in statuses}}
        )
    return pd.DataFrame(out)


def _failures(exp: Experiment) -> pd.DataFrame:
    """Every trial that neither finished ok nor was pruned (pruning is the search working)."""
    cols = [results.PHASE, results.ROW, results.TRIAL_ID, "seed", results.STATUS, results.REASON]
    rows = [
        {c: r.get(c) for c in cols}
        for r in exp.records
        if r.get(results.STATUS) not in (results.STATUS_OK, results.STATUS_PRUNED)
    ]
    return pd.DataFrame(rows, columns=cols)


def param_importance(journal: Path | None) -> tuple[pd.DataFrame, str]:
    """Importance of each searched parameter from an Optuna journal, or an empty frame and a note.

    The journal is opened read-only in effect: loading a study appends nothing to it.
    """
    empty = pd.DataFrame(columns=["param", "importance"])
    if journal is None:
        return empty, "no Optuna journal (grid or random search): no parameter importance"
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = JournalStorage(JournalFileBackend(str(journal)))
        study = optuna.load_study(study_name=results.STUDY_NAME, storage=storage)
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
            return empty, (
                f"only {len(complete)} completed search trials (fewer than "
                f"{MIN_TRIALS_FOR_IMPORTANCE}): no parameter importance"
            )
        importance = optuna.importance.get_param_importances(study)
    except Exception as exc:  # a foreign or truncated journal must not sink the whole report
        log.warning("parameter importance unavailable: %s", exc)
        return empty, f"parameter importance unavailable: {exc.__class__.__name__}: {exc}"
    table = pd.DataFrame({"param": list(importance), "importance": list(importance.values())})
    return table, ""


def compute_note(exp: Experiment) -> str:
    """One sentence on the compute a sweep spent, from its stored rows, or "" without any."""
    from galaxybench.budget import compute_summary, summary_totals

    c = summary_totals([compute_summary(exp.phase(phase)) for phase in results.PHASES])
    if not c[results.COMPUTE_SECONDS_TOTAL]:
        return ""
    text = (
        f"Compute spent: {float(c.get(results.COMPUTE_SECONDS_TOTAL, 0)):.0f} s of training and "
        f"evaluation over all phases; an exhaustive run of the same configurations at full "
        f"budget would have cost about {float(c.get('exhaustive_full_budget_seconds', 0)):.0f}"
        f" s (estimated from the measured seconds per GAN epoch). GAN epochs trained: "
        f"{int(c.get(results.GAN_EPOCHS_TRAINED, 0))}"
    )
    saved = int(c.get("gan_epochs_saved", 0))
    if saved > 0:
        text += (
            f", {saved} fewer than the {int(c.get('gan_epochs_full_budget', 0))} the same "
            "trials need without the budget ladder"
        )
    return text + "."


def search_summary(exp: Experiment) -> SearchSummary:
    """Counts, failures, best validation score and parameter importance of an experiment."""
    best_val, best = -math.inf, None
    for r in exp.phase(results.PHASE_SEARCH):
        val = r.get(results.VAL_MINORITY_F1)
        if (
            r.get(results.STATUS) == results.STATUS_OK
            and isinstance(val, (int, float))
            and math.isfinite(val)
            and val > best_val
        ):
            best_val, best = float(val), r
    importance, note = param_importance(exp.journal)
    return SearchSummary(
        counts=_counts(exp),
        failures=_failures(exp),
        best_val=best_val if best is not None else math.nan,
        best_trial=None if best is None else str(best.get(results.TRIAL_ID)),
        best_config={} if best is None else dict(best["config"]),
        importance=importance,
        note=note,
    )
