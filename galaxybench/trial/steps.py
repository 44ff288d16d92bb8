"""The steps evaluate_trial chains, each going through the stage cache.

Usage: internal to ``galaxybench.trial``; ``effective_flat`` and ``baseline_config`` are public
because the sweep and the report group configurations with them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galaxybench.cache import StageCache, load_weights, save_weights
from galaxybench.config import Config, stable_hash, to_flat
from galaxybench.data.prepared import PreparedData, SplitArrays
from galaxybench.registry import REBALANCERS, UPSCALERS
from galaxybench.stages.classify_cnn import ClassifierRun, PaperCNN, train_classifier
from galaxybench.stages.rebalance_plan import plan_counts

# The baseline is a configuration, not a code path (STYLE rule 4).
BASELINE = {
    "upscale.method": "bicubic",
    "rebalance.method": "none",
    "classifier.loss": "ce",
    "classifier.augment": "none",
}


def baseline_config(cfg: Config) -> Config:
    """``cfg`` with no learned enhancement: bicubic + none + ce + none (DESIGN 1.6)."""
    return cfg.replace(**BASELINE)


def effective_flat(cfg: Config) -> dict[str, Any]:
    """Flat config without the keys that cannot change the classifier's outcome.

    SRGAN settings matter only with the SRGAN upscaler, cGAN settings only with the cGAN
    rebalancer, the focal gamma only with the focal loss, and quality metrics never. Two configs
    with equal effective keys train the same classifier, so it is cached once.
    """
    flat = to_flat(cfg)
    drop = ["metrics."]
    if cfg.upscale.method != "srgan":
        drop.append("srgan.")
    if cfg.rebalance.method != "cgan":
        drop.append("cgan.")
    if cfg.rebalance.method == "none":
        drop += ["rebalance.threshold", "rebalance.target"]
    if cfg.classifier.loss != "focal":
        drop.append("classifier.focal_gamma")
    return {k: v for k, v in flat.items() if not k.startswith(tuple(drop))}


def stage_seed(seed: int, stage: str) -> int:
    """A per-stage seed derived from the trial seed, so stages draw independent streams."""
    return int(stable_hash([seed, stage]), 16) % (2**31 - 1)


@dataclass
class TrialContext:
    """What every step of one trial shares."""

    cfg: Config
    data: PreparedData
    device: torch.device
    cache: StageCache
    minority: list[int]
    cache_hits: dict[str, bool] = field(default_factory=dict)

    def with_config(self, cfg: Config) -> TrialContext:
        return TrialContext(cfg, self.data, self.device, self.cache, self.minority)

    def parts(self, **extra: Any) -> dict[str, Any]:
        """Cache-key parts common to every stage: data, preparation settings, seed."""
        return {
            "data": self.data.fingerprint,
            "prep": dataclasses.asdict(self.cfg.data),
            "seed": self.cfg.seed,
            **extra,
        }

    def section(self, name: str) -> dict[str, Any]:
        """The config section named after a method (``srgan``, ``cgan``), or {} if none."""
        sub = getattr(self.cfg, name, None)
        return dataclasses.asdict(sub) if dataclasses.is_dataclass(sub) else {}


@dataclass
class Upscaled:
    """Every split and the synthetic images after upscaling; uint8 (n, 3, H, H)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    synthetic: np.ndarray
    fitted_on: np.ndarray  # indices the upscaler was trained on (train only)


def rebalance(ctx: TrialContext, train: SplitArrays) -> tuple[np.ndarray, np.ndarray, dict]:
    """Synthetic (or repeated) LR training images: (lr (m,3,h,h) uint8, labels (m,), plan)."""
    cfg, k = ctx.cfg, ctx.data.num_classes
    h = train.lr.shape[-1]
    empty = (np.empty((0, 3, h, h), np.uint8), np.empty(0, np.int64))
    method = cfg.rebalance.method
    rebalancer = REBALANCERS.get(method)()
    plan = (
        {}
        if method == "none"
        else plan_counts(
            np.bincount(train.labels, minlength=k), cfg.rebalance.threshold, cfg.rebalance.target
        )
    )
    if not plan:
        return (*empty, plan)
    classes = (
        sorted(plan) if cfg.cgan.train_on == "augmented" else sorted(set(train.labels.tolist()))
    )
    weights = None
    if rebalancer.trainable:
        stage = f"rebalance_{method}"
        weights, hit = ctx.cache.get_or_create(
            stage,
            ctx.parts(stage_cfg=ctx.section(method), classes=classes),
            build=lambda: rebalancer.fit(
                cfg, train, classes, seed=stage_seed(cfg.seed, stage), device=ctx.device
            ),
            save=save_weights,
            load=load_weights,
        )
        ctx.cache_hits[stage] = hit
    lr, labels = rebalancer.generate(
        cfg, weights, train, plan, seed=stage_seed(cfg.seed, "generate"), device=ctx.device
    )
    return lr, labels, plan


def upscale_all(
    ctx: TrialContext,
    train: SplitArrays,
    val: SplitArrays,
    test: SplitArrays,
    synthetic_lr: np.ndarray,
) -> Upscaled:
    """Fit the upscaler on train LR/HR pairs (cached) and apply it to every split and synthetic.

    The oracle has no true HR for synthetic images: those are upscaled bicubically.
    """
    cfg, method = ctx.cfg, ctx.cfg.upscale.method
    upscaler = UPSCALERS.get(method)()
    weights = None
    if upscaler.trainable:
        stage = f"upscale_{method}"
        weights, hit = ctx.cache.get_or_create(
            stage,
            ctx.parts(stage_cfg=ctx.section(method)),
            build=lambda: upscaler.fit(
                cfg, train, seed=stage_seed(cfg.seed, stage), device=ctx.device
            ),
            save=save_weights,
            load=load_weights,
        )
        ctx.cache_hits[stage] = hit

    def apply(split: SplitArrays) -> np.ndarray:
        return upscaler.apply(
            cfg,
            weights,
            split.lr,
            device=ctx.device,
            hr_true=split.hr if upscaler.needs_hr else None,
        )

    synth_up = UPSCALERS.get("bicubic")() if upscaler.needs_hr else upscaler
    synthetic = (
        synth_up.apply(cfg, weights, synthetic_lr, device=ctx.device)
        if len(synthetic_lr)
        else np.empty((0, *train.hr.shape[1:]), np.uint8)
    )
    return Upscaled(apply(train), apply(val), apply(test), synthetic, train.index)


def _save_classifier(run: ClassifierRun, folder: Path) -> None:
    save_weights(run.model.state_dict(), folder)
    (folder / "history.json").write_text(
        json.dumps({"best_epoch": run.best_epoch, "history": run.history})
    )


def classify(
    ctx: TrialContext,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    report,
) -> ClassifierRun:
    """Train the paper's CNN (cached by effective config); replay the history on a cache hit."""
    cfg, k = ctx.cfg, ctx.data.num_classes

    def load(folder: Path) -> ClassifierRun:
        model = PaperCNN(k, int(train_x.shape[-1]), cfg.classifier.dense_units)
        model.load_state_dict(load_weights(folder))
        meta = json.loads((folder / "history.json").read_text())
        return ClassifierRun(model.to(ctx.device).eval(), meta["best_epoch"], meta["history"])

    def build() -> ClassifierRun:
        return train_classifier(
            cfg,
            train_x,
            train_y,
            val_x,
            val_y,
            num_classes=k,
            minority_classes=ctx.minority,
            seed=stage_seed(cfg.seed, "classify"),
            device=ctx.device,
            on_epoch=report,
        )

    run, hit = ctx.cache.get_or_create(
        "classifier",
        ctx.parts(config=effective_flat(cfg)),
        build=build,
        save=_save_classifier,
        load=load,
    )
    ctx.cache_hits["classifier"] = hit
    if hit and report is not None:  # ASHA still sees one report per epoch
        for scores in run.history:
            report(dict(scores))
    return run


def quality_metrics(
    ctx: TrialContext, out: dict[str, Any], feature_model: torch.nn.Module | None = None
) -> dict[str, Any]:
    """Secondary quality metrics (DESIGN 1.8): SR on the test split; cGAN image quality.

    ``feature_model`` is the baseline's classifier (trained on real images only) when the caller
    has it; otherwise it is taken from the stage cache or trained.
    """
    from galaxybench.metrics.image_quality import sr_quality

    cfg, data = ctx.cfg, ctx.data
    test = data.subset("test")
    up = out["upscaled"]
    srgan = up.test if cfg.upscale.method == "srgan" else None
    metrics: dict[str, Any] = dict(sr_quality(test.lr, test.hr, srgan, device=ctx.device))
    _synth_lr, synth_y = out["synthetic"]
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
    ctx: TrialContext, out: dict[str, Any], feature_model: torch.nn.Module | None
) -> dict[str, Any]:
    """FID/KID/PRC in the galaxy domain, Inception FID/IS when offline weights exist, and CAS."""
    from galaxybench.metrics.cas import classifier_accuracy_score
    from galaxybench.metrics.generative import domain_quality, inception_quality

    cfg, data = ctx.cfg, ctx.data
    up, (_, synth_y) = out["upscaled"], out["synthetic"]
    train, test = data.subset("train"), data.subset("test")
    classes = sorted(out["plan"])
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
