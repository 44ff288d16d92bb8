"""Secondary quality of one trial: SR fidelity on the test split and cGAN image quality.

What is measured and why is in ``docs/protocol.md`` (generative quality). Usage::

    metrics = quality_metrics(ctx, pipeline_output, feature_model=baseline_classifier)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from galaxybench.protocol import BASELINE
from galaxybench.registry import REBALANCERS, UPSCALERS
from galaxybench.trial.steps import TrialContext, classify, stage_seed

if TYPE_CHECKING:
    from galaxybench.trial.evaluate import PipelineOutput


def quality_metrics(
    ctx: TrialContext, out: PipelineOutput, feature_model: torch.nn.Module | None = None
) -> dict[str, Any]:
    """Secondary quality metrics : SR on the test split; cGAN image quality.

    ``feature_model`` is the baseline's classifier (trained on real images only) when the caller
    has it; otherwise it is taken from the stage cache or trained.
    """
    from galaxybench.metrics.image_quality import sr_quality

    cfg, data = ctx.cfg, ctx.data
    test = data.subset("test")
    up = out.upscaled
    srgan = up.test if cfg.upscale.method == "srgan" else None
    metrics: dict[str, Any] = dict(sr_quality(test.lr, test.hr, srgan, device=ctx.device))
    _synth_lr, synth_y = out.synthetic
    if len(synth_y) and REBALANCERS.get(cfg.rebalance.method)().trainable:
        metrics.update(_generative_quality(ctx, out, feature_model))
    return metrics


def _baseline_model(ctx: TrialContext) -> torch.nn.Module:
    """The baseline's classifier (bicubic, real images only), from the stage cache or trained."""
    data, cfg = ctx.data, ctx.cfg
    train, val = data.subset("train"), data.subset("val")
    bicubic = UPSCALERS.get("bicubic")()
    run = classify(
        ctx.with_config(cfg.replace(**BASELINE)),
        bicubic.apply(cfg, None, train.lr, device=ctx.device),
        train.labels,
        bicubic.apply(cfg, None, val.lr, device=ctx.device),
        val.labels,
        None,
    )
    return run.model


def _generative_quality(
    ctx: TrialContext, out: PipelineOutput, feature_model: torch.nn.Module | None
) -> dict[str, Any]:
    """FID/KID/PRC in the galaxy domain, Inception FID/IS when offline weights exist, and CAS."""
    from galaxybench.metrics.generative import (
        domain_fid_reference,
        domain_quality,
        inception_quality,
    )
    from galaxybench.trial.cas import classifier_accuracy_score

    cfg, data = ctx.cfg, ctx.data
    up, (_, synth_y) = out.upscaled, out.synthetic
    train, test = data.subset("train"), data.subset("test")
    classes = sorted(out.plan)
    # The extractor is the baseline's classifier: trained on real training images only.
    feature_model = feature_model if feature_model is not None else _baseline_model(ctx)
    real_mask = np.isin(train.labels, classes)
    metrics = dict(
        domain_quality(
            feature_model,
            up.train[real_mask],
            train.labels[real_mask],
            up.synthetic,
            synth_y,
            classes,
            data.class_names,
            device=ctx.device,
            max_samples=cfg.metrics.max_samples,
            seed=cfg.seed,
            kid_subsets=cfg.metrics.kid_subsets,
        )
    )
    # The real-vs-real floor of fid_domain at this N, same features: what a perfect generator gets.
    metrics.update(
        domain_fid_reference(
            feature_model,
            up.train[real_mask],
            train.labels[real_mask],
            classes,
            device=ctx.device,
            max_samples=cfg.metrics.max_samples,
            seed=cfg.seed,
        )
    )
    metrics.update(
        inception_quality(
            up.train[real_mask],
            up.synthetic,
            weights_path=cfg.metrics.inception_weights,
            device=ctx.device,
        )
    )
    test_mask = np.isin(test.labels, classes)
    metrics.update(
        classifier_accuracy_score(
            cfg,
            up.synthetic,
            synth_y,
            up.test[test_mask],
            test.labels[test_mask],
            classes,
            num_classes=data.num_classes,
            seed=stage_seed(cfg.seed, "cas"),
            device=ctx.device,
            class_names=data.class_names,
        )
    )
    return metrics
