"""evaluate_trial: the one objective. Chains the stages of one config and seed.

rebalancer.fit/generate (train LR) -> upscaler.fit (train pairs) -> upscale every split and the
synthetic images -> classifier (best validation epoch) -> test scores -> ``minority_f1_delta``
against the baseline (bicubic + none + ce + none) at the same seed, through the stage cache ->
quality metrics. The test split reaches no fit and no validation; it is predicted once, at the end.
The protocol is written down in ``docs/protocol.md``.

Usage::

    result = evaluate_trial(load_profile("smoke"), data, report=print, cache_dir="cache/")
    result.status, result.metrics["minority_f1_delta"], result.cache_hits
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galaxybench import budget, paths, results
from galaxybench.cache import StageCache
from galaxybench.config import Config, to_flat
from galaxybench.data.arrays import SPLITS, PreparedData, SplitArrays
from galaxybench.errors import InputError, TrialDiverged
from galaxybench.images import bicubic_x2
from galaxybench.metrics.classification import classification_metrics
from galaxybench.protocol import (
    RESERVE_SPLIT,
    baseline_config,
    effective_flat,
    minority_classes,
)
from galaxybench.samples import SAMPLES_FILE, TrialSamples
from galaxybench.stages._common import set_threads
from galaxybench.stages.classify_cnn import ClassifierRun, predict
from galaxybench.trial.function import Reporter
from galaxybench.trial.reserve import check_reserve_withheld, withhold_reserve
from galaxybench.trial.steps import (
    RESERVE_USE,
    TrialContext,
    Upscaled,
    classify,
    input_stats,
    rebalance,
    upscale_all,
)

log = logging.getLogger(__name__)


@dataclass
class PipelineOutput:
    """What one pass of the pipeline produced, for scoring, quality metrics and figures."""

    metrics: dict[str, Any]
    predictions: dict[str, list[int]]  # index, label, prediction of every test image
    run: ClassifierRun  # the classifier at its best validation epoch, and its history
    upscaled: Upscaled  # every split and the synthetic images at HR, uint8
    synthetic: tuple[np.ndarray, np.ndarray]  # (LR images (m, 3, h, h) uint8, labels (m,))
    plan: dict[int, int]  # class id -> synthetic images added


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_no_leak(data: PreparedData, **fitted_on: np.ndarray) -> None:
    """Assert the splits are disjoint and no test index reached a fit (``name=indices``)."""
    train, val, test = (set(data.splits[s].tolist()) for s in SPLITS)
    if train & val or train & test or val & test:
        raise AssertionError("train, val and test splits overlap")
    for name, index in fitted_on.items():
        leaked = test & set(np.asarray(index).tolist())
        if leaked:
            raise AssertionError(f"{len(leaked)} test images reached {name}")


class _Timer:
    """Seconds per stage; tells ``on_stage`` when a stage starts (progress bars)."""

    def __init__(self, on_stage: Callable[[str], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_stage = on_stage

    @contextmanager
    def __call__(self, stage: str):
        if self.on_stage is not None:
            self.on_stage(stage)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = round(
                self.seconds.get(stage, 0.0) + time.perf_counter() - start, 3
            )


def scoring_minority(data: PreparedData, fraction: float) -> list[int]:
    """The scoring-minority classes of ``data``; InputError (one line) when there are none.

    Without a minority class the headline metric, minority F1, is undefined: say so before any
    training rather than report NaN.
    """
    counts = np.bincount(data.labels, minlength=data.num_classes)
    minority = minority_classes(counts, fraction)
    if not minority:
        ratio = counts.min() / max(counts.max(), 1)
        raise InputError(
            f"no scoring-minority class in {data.source}: every class has at least {fraction:g} x "
            f"the largest class's {counts.max()} images (smallest {counts.min()}), so minority F1 "
            f"is undefined; use imbalanced data, or set eval.minority_fraction above {ratio:.2f}"
        )
    return minority


def _score(
    ctx: TrialContext, test: SplitArrays, test_hr: np.ndarray, model: torch.nn.Module
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Test metrics and per-image predictions: the only place the test split is predicted."""
    pred = predict(model, test_hr, device=ctx.device)
    metrics = classification_metrics(test.labels, pred, ctx.data.class_names, ctx.minority)
    predictions = {
        "index": test.index.tolist(),
        "label": test.labels.tolist(),
        "prediction": pred.tolist(),
    }
    return metrics, predictions


def _with_plan(report: Reporter, n_synthetic: int) -> Reporter:
    """``report`` with the number of added images in every per-epoch result."""
    return lambda scores: report({**scores, results.N_SYNTHETIC: n_synthetic})


def _run_pipeline(ctx: TrialContext, report: Reporter | None, timer: _Timer) -> PipelineOutput:
    """Every stage of one trial, scored on the test split."""
    data = ctx.data
    train, val, test = (data.subset(s) for s in SPLITS)
    with timer("rebalance"):
        synth_lr, synth_y, plan = rebalance(ctx, train)
    with timer("upscale"):
        up = upscale_all(ctx, train, val, test, synth_lr)
    ctx.consumed.update(
        classifier_train=up.split_index["train"], classifier_val=up.split_index["val"]
    )
    check_no_leak(data, **ctx.consumed)
    check_reserve_withheld(data, ctx.consumed, allowed=RESERVE_USE)
    if report is not None:  # the plan is known before training: a stopped trial still shows it
        report = _with_plan(report, int(synth_y.shape[0]))
    with timer("classify"):
        run = classify(
            ctx,
            np.concatenate([up.train, up.synthetic]),
            np.concatenate([train.labels, synth_y]),
            up.val,
            val.labels,
            report,
        )
    with timer("score"):
        # Below the full budget (a lower rung of the ladder) the test split is never predicted.
        metrics, predictions = (
            _score(ctx, test, up.test, run.model) if ctx.fraction == budget.FULL else ({}, {})
        )
    metrics[results.BEST_EPOCH] = run.best_epoch
    metrics[results.STOPPED_EPOCH] = len(run.history)
    metrics[results.STOPPED_EARLY] = run.stopped_early
    metrics[results.VAL_MINORITY_F1] = run.history[run.best_epoch - 1][results.VAL_MINORITY_F1]
    metrics[results.AUGMENTED_CLASSES] = [data.class_names[c] for c in sorted(plan)]
    metrics[results.N_SYNTHETIC] = int(synth_y.shape[0])
    metrics.update(_per_class_counts(ctx, synth_y))
    metrics[results.CLASSIFIER_INPUT_STATS] = input_stats(ctx).as_dict()
    metrics[results.CLASSIFIER_STATUS] = (
        results.CLASSIFIER_DEGENERATE if run.degenerate_reason else results.CLASSIFIER_OK
    )
    metrics[results.CLASSIFIER_STATUS_REASON] = run.degenerate_reason
    if run.degenerate_reason:
        log.warning("degenerate classifier (%s): %s", ctx.cfg.upscale.method, run.degenerate_reason)
    return PipelineOutput(metrics, predictions, run, up, (synth_lr, synth_y), plan)


def _per_class_counts(ctx: TrialContext, synth_y: np.ndarray) -> dict[str, Any]:
    """{class name: images} planned, added and withheld in the reserve (``results``)."""
    names, data = ctx.data.class_names, ctx.data
    added = np.bincount(synth_y, minlength=data.num_classes)
    held = np.bincount(data.labels[data.splits[RESERVE_SPLIT]], minlength=data.num_classes)
    return {
        results.PLANNED_PER_CLASS: {names[c]: int(n) for c, n in sorted(ctx.planned.items())},
        results.ADDED_PER_CLASS: {names[c]: int(added[c]) for c in np.flatnonzero(added)},
        results.RESERVE_PER_CLASS: {names[c]: int(held[c]) for c in np.flatnonzero(held)},
    }


def _baseline_run(ctx: TrialContext, own: PipelineOutput) -> PipelineOutput:
    """The baseline pipeline at the same seed and split (cached, so trained once per sweep)."""
    base_cfg = baseline_config(ctx.cfg)
    if effective_flat(base_cfg) == effective_flat(ctx.cfg):  # this trial is the baseline
        return own
    base = ctx.with_config(base_cfg)
    out = _run_pipeline(base, None, _Timer())
    ctx.cache_hits["baseline"] = base.cache_hits.get("classifier", False)
    return out


def _write_samples(artifacts_dir: Path, ctx: TrialContext, out: PipelineOutput) -> None:
    """The real-vs-synthetic and SR comparison images of this trial, as arrays for the report."""
    test = ctx.data.subset("test")
    samples = TrialSamples.pick(
        class_names=ctx.data.class_names,
        train_hr=out.upscaled.train,
        train_labels=ctx.data.subset("train").labels,
        synthetic_hr=out.upscaled.synthetic,
        synthetic_labels=out.synthetic[1],
        plan=sorted(out.plan),
        test_lr=test.lr,
        test_hr=test.hr,
        test_upscaled=out.upscaled.test,
        method=ctx.cfg.upscale.method,
        rebalancer=ctx.cfg.rebalance.method,
        bicubic=lambda lr: bicubic_x2(lr, ctx.device),
    )
    samples.save(artifacts_dir / SAMPLES_FILE)


def _evaluate(
    ctx: TrialContext,
    report: Reporter | None,
    timer: _Timer,
    *,
    baseline: bool,
    artifacts_dir: str | Path | None,
    quality: bool = True,
) -> PipelineOutput:
    """The pipeline, the baseline delta, quality metrics and figures of one trial."""
    out = _run_pipeline(ctx, report, timer)
    if ctx.fraction != budget.FULL:  # a lower rung: the validation objective is all it reports
        return out
    metrics, base_out = out.metrics, None
    if baseline:
        with timer("baseline"):
            base_out = _baseline_run(ctx, out)
        base_f1 = float(base_out.metrics[results.MINORITY_F1])
        metrics[results.BASELINE_MINORITY_F1] = base_f1
        metrics[results.BASELINE_CLASSIFIER_STATUS_REASON] = base_out.run.degenerate_reason
        metrics[results.BASELINE_DEGENERATE] = base_out.run.degenerate_reason is not None
        metrics[results.MINORITY_F1_DELTA] = metrics[results.MINORITY_F1] - base_f1
    if quality and ctx.cfg.metrics.enabled:
        from galaxybench.trial.quality import quality_metrics

        with timer("quality"):
            feature_model = base_out.run.model if base_out is not None else None
            metrics.update(quality_metrics(ctx, out, feature_model))
    if artifacts_dir is not None:
        _write_samples(Path(artifacts_dir), ctx, out)
    return out


def _accounting(ctx: TrialContext, started: float) -> dict[str, Any]:
    """Compute seconds by stage (training only where it ran; the rest as ``other``) and the GAN
    epochs this pass started from, reached and trained."""
    total = time.perf_counter() - started
    compute = {k: round(v, 3) for k, v in ctx.compute.items()}
    compute["other"] = round(max(total - sum(compute.values()), 0.0), 3)
    trained = sum(e["reached"] - e["start"] for e in ctx.gan_epochs.values())
    return {
        results.COMPUTE_SECONDS: compute,
        results.COMPUTE_SECONDS_TOTAL: round(total, 3),
        results.GAN_EPOCHS: ctx.gan_epochs,
        results.GAN_EPOCHS_TRAINED: trained,
        results.BUDGET_FRACTION: ctx.fraction,
    }


def evaluate_trial(
    cfg: Config,
    data: PreparedData,
    report: Reporter | None = None,
    *,
    device: torch.device | str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    num_threads: int | None = None,
    baseline: bool = True,
    artifacts_dir: str | Path | None = None,
    on_stage: Callable[[str], None] | None = None,
    budget_fraction: float = budget.FULL,
    quality: bool = True,
) -> results.TrialResult:
    """Run and score one trial of ``cfg`` on ``data``.

    Args:
        report: called after every classifier epoch with {epoch, val_minority_f1, val_macro_f1,
            val_accuracy, train_loss, n_synthetic, compute_seconds.<stage>,
            compute_seconds_total} (Ray Tune's scheduler prunes on it; the compute so far is
            what a trial it stops has cost).
        cache_dir: the stage cache root (None: ``paths.stage_cache_dir()``, the one
            ``galaxybench run`` uses, so a notebook does not retrain the baseline on every call).
        use_cache: False trains everything and stores nothing.
        num_threads: torch CPU threads (a trial's CPUs, so concurrent trials don't oversubscribe).
        baseline: also compute ``minority_f1_delta`` against the baseline at the same seed.
        artifacts_dir: when given, save the real-vs-synthetic and SR comparison images there
            (``samples.npz``; ``report.trial_figures.render_samples`` draws them).
        on_stage: called with a stage name when that stage starts.
        budget_fraction: a rung of the budget ladder (``galaxybench.budget``): every trained
            stage runs that fraction of its epochs, a GAN continuing from its cached shorter
            run. Below 1 the result holds validation metrics only (no test, baseline, quality).
        quality: False skips the secondary quality metrics (SR fidelity, generative quality,
            CAS) even where ``metrics.enabled``: a sweep's search trials, which are ranked by
            their validation objective alone (the confirm rows measure quality).

    Returns:
        A TrialResult; a GAN that diverges gives status ``diverged`` with the reason (no raise).
        Other exceptions propagate (a crash, which Ray Tune retries).

    Raises:
        InputError: ``data`` has no scoring-minority class (``scoring_minority``).
    """
    device = torch.device(device) if device is not None else default_device()
    set_threads(num_threads)
    if device.type == "cuda":  # fixed shapes per trial: let cuDNN pick the fastest kernels
        torch.backends.cudnn.benchmark = True
    minority = scoring_minority(data, cfg.eval.minority_fraction)
    # Every row trains without the reserve; the result's fingerprint stays the file's.
    data = withhold_reserve(data, minority, cfg.data.split_seed)
    if cache_dir is None and use_cache:
        cache_dir = paths.stage_cache_dir()
    ctx = TrialContext(cfg, data, device, StageCache(cache_dir, enabled=use_cache), minority)
    ctx.fraction = float(budget_fraction)
    timer = _Timer(on_stage)
    started = ctx.started = time.perf_counter()
    result = results.TrialResult(
        status=results.STATUS_OK,
        config=to_flat(cfg),
        seed=cfg.seed,
        data_fingerprint=data.fingerprint,
        provenance=results.provenance(),
    )
    try:
        out = _evaluate(
            ctx, report, timer, baseline=baseline, artifacts_dir=artifacts_dir, quality=quality
        )
    except TrialDiverged as exc:
        log.info("trial diverged: %s", exc)
        result.status, result.reason = results.STATUS_DIVERGED, str(exc)
        result.metrics = {results.STAGE_SECONDS: timer.seconds, **_accounting(ctx, started)}
        result.cache_hits = ctx.cache_hits
        return result
    out.metrics[results.STAGE_SECONDS] = timer.seconds
    out.metrics.update(_accounting(ctx, started))
    result.metrics, result.history = out.metrics, out.run.history
    result.predictions, result.cache_hits = out.predictions, ctx.cache_hits
    return result
