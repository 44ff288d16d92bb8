"""The Tune function trainable: one trial of a flat config, reported per epoch or per rung.

Every trial's Ray config is the full flat config (dotted keys, ``seed`` included) plus ``row``, so
``tune.ExperimentAnalysis`` shows every setting as a column. The prepared data reaches the trials
once, through the object store (``wrapped_trainable``).

Usage::

    wrapped = wrapped_trainable(space, exp_dir, data, trial_fn=None)   # evaluate_trial
    tune.Tuner(wrapped, param_space=...)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray import tune

from galaxybench import budget, results
from galaxybench.config import Config, flat_keys, from_flat
from galaxybench.errors import InputError
from galaxybench.protocol import ROW_SEARCH, top_row
from galaxybench.sweep import plan
from galaxybench.sweep.groups import DEVICE_ENV, group_members
from galaxybench.sweep.plan import SCALARS
from galaxybench.sweep.space import SearchSpace

if TYPE_CHECKING:  # the trial package imports torch; the trial function arrives as an argument
    from galaxybench.trial import TrialFunction


def trial_device(gpus: float) -> str:
    """The torch device of a trial: ``$GALAXYBENCH_DEVICE``, else cuda when it holds GPUs."""
    return os.environ.get(DEVICE_ENV) or ("cuda" if gpus > 0 else "cpu")


# --- the budget ladder ----------------------------------------------------------------------------


def _rung_record(rung: int, fraction: float, result: Any) -> dict[str, Any]:
    """One rung of a trial's climb, as stored in its row (``results.RUNGS``)."""
    m = result.metrics
    return {
        results.RUNG: rung,
        results.BUDGET_FRACTION: fraction,
        results.STATUS: result.status,
        results.OBJECTIVE: m.get(results.OBJECTIVE),
        results.COMPUTE_SECONDS: m.get(results.COMPUTE_SECONDS, {}),
        results.GAN_EPOCHS_TRAINED: m.get(results.GAN_EPOCHS_TRAINED, 0),
        results.GAN_EPOCHS: m.get(results.GAN_EPOCHS, {}),
    }


def _climb(call: Callable[[float], Any], ladder: tuple[float, ...]) -> tuple[Any, list, dict]:
    """Climb the budget ladder: every rung but the last reports its validation objective once
    (ASHA's time is ``results.BUDGET``, so it promotes or stops the trial there); the last rung is
    the trial's result. Returns (last result, rung records, the last rung's scheduler fields)."""
    records: list[dict[str, Any]] = []
    for r, fraction in enumerate(ladder):
        result = call(fraction)
        records.append(_rung_record(r + 1, fraction, result))
        fields = {results.RUNG: r + 1, results.BUDGET: budget.budget_units(ladder, r)}
        if r == len(ladder) - 1 or not result.ok:
            return result, records, fields
        objective = result.metrics.get(results.OBJECTIVE)
        tune.report(
            {
                results.VAL_OBJECTIVE_STEP: float(objective)
                if isinstance(objective, (int, float))
                else math.nan,
                **fields,
                results.COMPUTE_SECONDS_TOTAL: plan.rung_totals(records)[
                    results.COMPUTE_SECONDS_TOTAL
                ],
                results.RUNGS: json.dumps(records, default=str),
                results.FINISHED_AT: time.time(),
            }
        )
    raise AssertionError("an empty ladder")  # check_ladder refuses one


# --- the steps of one trial -----------------------------------------------------------------------


def _trial_inputs(config: dict[str, Any], data: Any) -> tuple[Config, Any]:
    """The trial's config (the flat keys of ``config``; ``row`` is not one) and its data: a dict
    is ``{split seed: prepared data}`` (``sweep.splits``), of which the trial takes its split."""
    keys = set(flat_keys())
    cfg = from_flat({k: v for k, v in config.items() if k in keys})
    if isinstance(data, dict):
        if cfg.data.split_seed not in data:
            raise InputError(
                f"no prepared data for split seed {cfg.data.split_seed} (prepared: {sorted(data)})"
            )
        data = data[cfg.data.split_seed]
    return cfg, data


def _report_epoch(metrics: dict[str, Any]) -> None:
    """One epoch's report to Tune (the trial function's ``report``)."""
    scores = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if isinstance(metrics.get(results.GAN_EPOCHS), str):  # JSON: what the row records
        scores[results.GAN_EPOCHS] = metrics[results.GAN_EPOCHS]
    # Per-epoch values go under the step key (what ASHA prunes on); the objective's own key
    # is kept for the final report of a finished trial, the only one the searcher scores.
    if results.OBJECTIVE in scores:
        scores[results.VAL_OBJECTIVE_STEP] = scores.pop(results.OBJECTIVE)
    # Tune's strict metric check raises on a result without the scheduler's key, and that
    # ends the whole run, not the trial: an epoch without a score reports NaN (ASHA skips it).
    scores.setdefault(results.VAL_OBJECTIVE_STEP, math.nan)
    tune.report({**scores, results.FINISHED_AT: time.time()})


def _artifacts_dir(config: dict[str, Any], cfg: Config, samples_dir: str | None) -> str | None:
    """Where the confirmed best row ("top-1") saves its sample images; None for other rows."""
    if samples_dir is not None and config.get(results.ROW) == top_row(1):
        return f"{samples_dir}/{top_row(1)}_seed{cfg.seed}"
    return None


def _run_trial(
    trial_fn: TrialFunction,
    cfg: Config,
    data: Any,
    kwargs: dict[str, Any],
    ladder: tuple[float, ...] | None,
) -> tuple[Any, dict[str, Any]]:
    """Run the trial function once, or up the ``ladder``; (result, the last rung's scheduler
    fields, empty without a ladder)."""
    if not ladder:
        return trial_fn(cfg, data, _report_epoch, **kwargs), {}
    result, records, rung_fields = _climb(
        lambda f: trial_fn(cfg, data, lambda _epoch: None, budget_fraction=f, **kwargs), ladder
    )
    result.metrics.update(plan.rung_totals(records), **{results.RUNGS: records})
    return result, rung_fields


def _final_report(result: Any, rung_fields: dict[str, Any]) -> dict[str, Any]:
    """The trial's last report: its scalars, status, reason and the whole result as JSON.

    A trial that ended ok without a finite objective has no score to rank it by: it is recorded
    as failed (FAIL in the study); retrying would not change it.
    """
    payload = result.to_dict()
    objective = result.metrics.get(results.OBJECTIVE)
    if result.status == results.STATUS_OK and not (
        isinstance(objective, (int, float)) and math.isfinite(objective)
    ):
        payload.update(
            status=results.STATUS_FAILED,
            reason=f"trial ended without reporting {results.OBJECTIVE}",
        )
    final: dict[str, Any] = {
        k: payload[k] for k in SCALARS if isinstance(payload.get(k), (int, float))
    }
    final.update(
        status=payload[results.STATUS],
        reason=payload[results.REASON] or "",
        **{results.RESULT_JSON: json.dumps(payload, default=str)},
    )
    ok = payload[results.STATUS] == results.STATUS_OK
    if ok:  # only a finished trial carries the objective: the searcher scores it COMPLETE
        final[results.OBJECTIVE] = float(objective)
    # Every result must hold the scheduler's key (Tune's strict metric check raises and ends the
    # run on one without). A diverged or failed trial has no score: NaN, never 0.0, which ASHA's
    # rung cutoffs skip (np.nanpercentile) and the searcher never sees (it is told FAIL).
    final[results.VAL_OBJECTIVE_STEP] = float(objective) if ok else math.nan
    final.update(rung_fields)  # the scheduler's time of the last rung climbed (ladder only)
    final[results.FINISHED_AT] = time.time()
    return final


def _copy_samples_to_trial_dir(folder: Path) -> None:
    """Put a trial's sample images in its own Tune directory too, where the experiment trackers
    (MLflow, W&B) pick up a trial's artifacts; the report reads the experiment's ``samples/``."""
    from galaxybench.samples import SAMPLES_FILE

    src = folder / SAMPLES_FILE
    if src.is_file():
        trial_dir = Path(tune.get_context().get_trial_dir())
        shutil.copyfile(src, trial_dir / SAMPLES_FILE)


# --- public API -----------------------------------------------------------------------------------


def trainable(
    config: dict[str, Any],
    *,
    data: Any,
    trial_fn: TrialFunction,
    cache_dir: str,
    cpus: float,
    gpus: float,
    samples_dir: str | None = None,
    ladder: tuple[float, ...] = (),
) -> None:
    """The Tune function trainable: one trial of the flat config, reported per epoch and at the end.

    Epochs report ``results.VAL_OBJECTIVE_STEP`` (ASHA's metric); the final report holds
    ``results.OBJECTIVE`` only when the trial finished ok, so the searcher tells the study COMPLETE
    for finished trials only (``FinishedOnlyOptunaSearch``). A diverged GAN (``status=diverged``)
    or a finished trial without the objective (``failed``) reports no objective and is not
    retried; any exception propagates for Ray to retry. The confirmed best row ("top-1") also saves
    its real-vs-synthetic and SR comparison images under ``samples_dir`` for the report.

    With a budget ``ladder`` (search trials only) the trial climbs the rungs instead: one report
    per rung (no per-epoch reports), the last rung's result is the trial's, and its row holds
    every rung (``results.RUNGS``) and the compute summed over them.
    """
    if results.FUSE_SEEDS in config:
        _group_trainable(config, data, trial_fn, cache_dir, cpus, gpus, samples_dir)
        return
    cfg, data = _trial_inputs(config, data)
    artifacts = _artifacts_dir(config, cfg, samples_dir)
    kwargs = dict(
        device=trial_device(gpus),
        cache_dir=cache_dir,
        num_threads=max(1, int(cpus)),
        artifacts_dir=artifacts,
    )
    search = config.get(results.ROW) == ROW_SEARCH
    if search:  # ranked by the validation objective alone: no secondary quality metrics
        kwargs["quality"] = False
    climb = tuple(ladder) if ladder and search else None
    result, rung_fields = _run_trial(trial_fn, cfg, data, kwargs, climb)
    if artifacts is not None:
        _copy_samples_to_trial_dir(Path(artifacts))
    tune.report(_final_report(result, rung_fields))


def _group_trainable(
    config: dict[str, Any],
    data: Any,
    trial_fn: TrialFunction,
    cache_dir: str,
    cpus: float,
    gpus: float,
    samples_dir: str | None,
) -> None:
    """A fused group (``groups.fuse_points``): its members' trials, their training fused
    (``trial.group.evaluate_group``), reported once as ``results.RESULT_JSONS``, each member's
    final report as an unfused trial's. A trial function other than ``evaluate_trial`` runs its
    members one after another."""
    from galaxybench.trial import evaluate_trial
    from galaxybench.trial.group import evaluate_group

    members = [_trial_inputs(m, data) for m in group_members(config)]
    artifacts = [
        _artifacts_dir({**config, "seed": cfg.seed}, cfg, samples_dir) for cfg, _ in members
    ]
    kwargs = dict(device=trial_device(gpus), cache_dir=cache_dir, num_threads=max(1, int(cpus)))
    if trial_fn is evaluate_trial:
        out = evaluate_group(
            [cfg for cfg, _ in members],
            [d for _, d in members],
            artifacts_dirs=artifacts,
            **kwargs,
        )
    else:
        out = [
            trial_fn(cfg, d, None, artifacts_dir=a, **kwargs)
            for (cfg, d), a in zip(members, artifacts, strict=True)
        ]
    for a in artifacts:
        if a is not None:
            _copy_samples_to_trial_dir(Path(a))
    finals = [_final_report(result, {}) for result in out]
    ok = [f[results.OBJECTIVE] for f in finals if results.OBJECTIVE in f]
    statuses = [str(f[results.STATUS]) for f in finals]
    tune.report(
        {
            results.RESULT_JSONS: json.dumps(finals, default=str),
            # The scheduler's key (Tune's strict metric check): the mean of the members' scores.
            results.VAL_OBJECTIVE_STEP: sum(ok) / len(ok) if ok else math.nan,
            # What the progress log shows for the group: ok when every member is, else the
            # first other status, with the members' counts and reasons.
            results.STATUS: next((s for s in statuses if s != results.STATUS_OK), statuses[0]),
            results.REASON: _members_line(finals),
            results.COMPUTE_SECONDS_TOTAL: round(
                sum(float(r.metrics.get(results.COMPUTE_SECONDS_TOTAL) or 0.0) for r in out), 3
            ),
            results.FINISHED_AT: time.time(),
        }
    )


def _members_line(finals: list[dict[str, Any]]) -> str:
    """``fused group of 5 seeds: 4 ok, 1 diverged (cgan: non-finite loss (nan))``."""
    counts: dict[str, int] = {}
    reasons = []
    for f in finals:
        counts[str(f[results.STATUS])] = counts.get(str(f[results.STATUS]), 0) + 1
        if f.get(results.REASON) and f[results.REASON] not in reasons:
            reasons.append(str(f[results.REASON]))
    told = ", ".join(f"{n} {status}" for status, n in counts.items())
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return f"fused group of {len(finals)} seeds: {told}{why}"


def wrapped_trainable(
    space: SearchSpace, exp_dir: Path, data: Any, trial_fn: TrialFunction | None
) -> Any:
    """The trainable with the data in the object store (once) and the trial's resources.

    ``data`` is one prepared dataset or ``{split seed: prepared data}``; a dict is put in the
    object store as one object, so image arrays shared by its splits are stored once.
    ``trial_fn`` is ``galaxybench.trial.evaluate_trial`` unless given.
    """
    if trial_fn is None:
        from galaxybench.trial import evaluate_trial as trial_fn
    return tune.with_resources(
        tune.with_parameters(
            trainable,
            data=data,
            trial_fn=trial_fn,
            cache_dir=str(exp_dir / "cache"),
            cpus=space.cpu,
            gpus=space.gpu,
            samples_dir=str(exp_dir / "samples"),
            ladder=space.search.ladder,
        ),
        {"cpu": space.cpu, "gpu": space.gpu},
    )
