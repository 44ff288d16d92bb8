"""evaluate_trial: the one objective. Chains the stages of DESIGN section 1 for one config and seed.

upscaler.fit (train pairs) -> rebalancer.fit/generate (train LR) -> upscale every split and the
synthetic images -> classifier (best validation epoch) -> test scores -> minority_f1_delta
against the baseline (bicubic + none + ce + none) at the same seed, through the stage cache
-> quality metrics.
The test split reaches no fit and no validation; it is predicted once, at the end.

Usage::

    result = evaluate_trial(load_profile("smoke"), data, report=print, cache_dir="cache/")
    result.status, result.metrics["minority_f1_delta"], result.cache_hits
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galaxybench import results as R
from galaxybench.cache import StageCache
from galaxybench.config import Config, to_flat
from galaxybench.data.prepared import SPLITS, PreparedData, SplitArrays
from galaxybench.errors import TrialDiverged
from galaxybench.metrics.classification import classification_metrics, minority_classes
from galaxybench.stages._common import set_threads
from galaxybench.trial_stages import (
    TrialContext,
    baseline_config,
    classify,
    effective_flat,
    quality_metrics,
    rebalance,
    upscale_all,
)

log = logging.getLogger(__name__)

Reporter = Callable[[dict[str, Any]], None]


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


def _score(
    ctx: TrialContext, test: SplitArrays, test_hr: np.ndarray, run_model
) -> tuple[dict, dict]:
    from galaxybench.stages.classify_cnn import predict

    pred = predict(run_model, test_hr, device=ctx.device)
    metrics = classification_metrics(test.labels, pred, ctx.data.class_names, ctx.minority)
    predictions = {
        "index": test.index.tolist(),
        "label": test.labels.tolist(),
        "prediction": pred.tolist(),
    }
    return metrics, predictions


def _run_pipeline(ctx: TrialContext, report: Reporter | None, timer: _Timer) -> dict[str, Any]:
    """Every stage of one trial: metrics, predictions, history and the arrays for figures."""
    data = ctx.data
    train, val, test = (data.subset(s) for s in SPLITS)
    with timer("rebalance"):
        synth_lr, synth_y, plan = rebalance(ctx, train)
    with timer("upscale"):
        up = upscale_all(ctx, train, val, test, synth_lr)
    check_no_leak(
        data,
        upscaler_fit=up.fitted_on,
        rebalancer_fit=train.index,
        classifier_train=train.index,
        classifier_val=val.index,
    )
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
        metrics, predictions = _score(ctx, test, up.test, run.model)
    metrics[R.BEST_EPOCH] = run.best_epoch
    metrics[R.VAL_MINORITY_F1] = run.history[run.best_epoch - 1][R.VAL_MINORITY_F1]
    metrics[R.AUGMENTED_CLASSES] = [data.class_names[c] for c in sorted(plan)]
    metrics[R.N_SYNTHETIC] = int(synth_y.shape[0])
    return {
        "metrics": metrics,
        "predictions": predictions,
        "history": run.history,
        "model": run.model,
        "upscaled": up,
        "synthetic": (synth_lr, synth_y),
        "plan": plan,
    }


def _baseline_run(ctx: TrialContext, own: dict[str, Any]) -> dict[str, Any]:
    """The baseline pipeline at the same seed and split (cached, so trained once per sweep)."""
    base_cfg = baseline_config(ctx.cfg)
    if effective_flat(base_cfg) == effective_flat(ctx.cfg):  # this trial is the baseline
        return own
    base = ctx.with_config(base_cfg)
    out = _run_pipeline(base, None, _Timer())
    ctx.cache_hits["baseline"] = base.cache_hits.get("classifier", False)
    return out


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
) -> R.TrialResult:
    """Run and score one trial of ``cfg`` on ``data``.

    Args:
        report: called after every classifier epoch with {epoch, val_minority_f1, val_macro_f1,
            val_accuracy, train_loss} (Ray Tune's ASHA prunes on it).
        cache_dir: the stage cache root (None: no cache, everything is trained).
        num_threads: torch CPU threads (a trial's CPUs, so concurrent trials don't oversubscribe).
        baseline: also compute ``minority_f1_delta`` against the baseline at the same seed.
        artifacts_dir: when given, write the real-vs-synthetic and SR comparison PNGs there.
        on_stage: called with a stage name when that stage starts.

    Returns:
        A TrialResult; a GAN that diverges gives status ``diverged`` with the reason (no raise).
        Other exceptions propagate (a crash, which Ray Tune retries).
    """
    device = torch.device(device) if device is not None else default_device()
    set_threads(num_threads)
    if device.type == "cuda":  # fixed shapes per trial: let cuDNN pick the fastest kernels
        torch.backends.cudnn.benchmark = True
    cache = StageCache(cache_dir, enabled=use_cache)
    counts = np.bincount(data.labels, minlength=data.num_classes)
    ctx = TrialContext(
        cfg, data, device, cache, minority_classes(counts, cfg.eval.minority_fraction)
    )
    timer = _Timer(on_stage)
    base = R.TrialResult(
        status=R.STATUS_OK,
        config=to_flat(cfg),
        seed=cfg.seed,
        data_fingerprint=data.fingerprint,
        provenance=R.provenance(),
    )
    try:
        out = _run_pipeline(ctx, report, timer)
        metrics = out["metrics"]
        base_out = None
        if baseline:
            with timer("baseline"):
                base_out = _baseline_run(ctx, out)
            base_f1 = float(base_out["metrics"][R.MINORITY_F1])
            metrics[R.BASELINE_MINORITY_F1] = base_f1
            metrics[R.MINORITY_F1_DELTA] = metrics[R.MINORITY_F1] - base_f1
        if cfg.metrics.enabled:
            with timer("quality"):
                feature_model = base_out["model"] if base_out is not None else None
                metrics.update(quality_metrics(ctx, out, feature_model))
        if artifacts_dir is not None:
            from galaxybench.trial_figures import write_trial_figures

            write_trial_figures(Path(artifacts_dir), ctx, out)
    except TrialDiverged as exc:
        log.info("trial diverged: %s", exc)
        base.status, base.reason = R.STATUS_DIVERGED, str(exc)
        base.metrics = {R.STAGE_SECONDS: timer.seconds}
        base.cache_hits = ctx.cache_hits
        return base
    metrics[R.STAGE_SECONDS] = timer.seconds
    base.metrics, base.history, base.predictions = metrics, out["history"], out["predictions"]
    base.cache_hits = ctx.cache_hits
    return base
