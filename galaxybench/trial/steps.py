"""The steps evaluate_trial chains (rebalance, upscale, classify), each through the stage cache.

Usage (inside ``galaxybench.trial``)::

    ctx = TrialContext(cfg, data, device, cache, minority)
    synth_lr, synth_y, plan = rebalance(ctx, data.subset("train"))
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galaxybench import budget, results
from galaxybench.cache import StageCache, load_weights, save_weights
from galaxybench.config import Config, stable_hash
from galaxybench.data.arrays import PreparedData, SplitArrays
from galaxybench.protocol import RESERVE_FRACTION, RESERVE_SPLIT, effective_flat
from galaxybench.registry import REBALANCERS, UPSCALERS
from galaxybench.stages.classify_cnn import (
    ClassifierRun,
    InputStats,
    PaperCNN,
    classifier_input_stats,
    train_classifier,
)
from galaxybench.stages.rebalance_plan import plan_counts

# The name under which ``TrialContext.consumed`` records the reserve the oracle rebalancer read:
# the one stage allowed to read it (``trial.reserve.check_reserve_withheld``).
RESERVE_USE = "oracle_rebalancer_reserve"


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
    # Dataset positions each stage really consumed ("upscaler_fit", "rebalancer_fit",
    # "classifier_train", "classifier_val"), recorded where the stage is handed its data; the
    # leak check reads these, not what the caller meant to pass.
    consumed: dict[str, np.ndarray] = field(default_factory=dict)

    # Fraction of every trained stage's epochs this pass runs (a rung of the budget ladder).
    fraction: float = budget.FULL
    # Seconds spent training, by stage ("srgan", "cgan", "classifier"); cache hits add nothing.
    compute: dict[str, float] = field(default_factory=dict)
    # Per GAN stage: {"key", "start", "reached", "full"} epochs (sequence positions for the SRGAN).
    gan_epochs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # {class id: images} the rebalancing plan asked for, before the oracle's cap at the reserve.
    planned: dict[int, int] = field(default_factory=dict)
    # perf_counter() when the trial started: "other" compute is the time not charged to a stage.
    started: float = field(default_factory=time.perf_counter)

    def compute_so_far(self, **running: float) -> dict[str, float]:
        """Flat fields of a per-epoch report: compute seconds by stage so far
        (``compute_seconds.<stage>``; ``running``: seconds of a stage still training), the rest
        as ``other``, their total and the GAN epochs trained so far. A trial the scheduler stops
        keeps its last report, so its row still says what it cost."""
        compute = dict(self.compute)
        for stage, seconds in running.items():
            compute[stage] = compute.get(stage, 0.0) + seconds
        total = time.perf_counter() - self.started
        compute["other"] = max(total - sum(compute.values()), 0.0)
        out = {f"{results.COMPUTE_SECONDS}.{k}": round(v, 3) for k, v in compute.items()}
        out[results.COMPUTE_SECONDS_TOTAL] = round(total, 3)
        out[results.GAN_EPOCHS_TRAINED] = sum(
            e["reached"] - e["start"] for e in self.gan_epochs.values()
        )
        return out

    def gan_epochs_json(self) -> str:
        """The GAN epochs so far as JSON (a per-epoch report carries scalars and strings only)."""
        return json.dumps(self.gan_epochs, sort_keys=True)

    def with_config(self, cfg: Config) -> TrialContext:
        # The baseline of the same trial: same budget, its training counted in the same place.
        return TrialContext(
            cfg,
            self.data,
            self.device,
            self.cache,
            self.minority,
            fraction=self.fraction,
            compute=self.compute,
        )

    def charge(self, stage: str, seconds: float) -> None:
        """Add training seconds to ``stage``."""
        self.compute[stage] = round(self.compute.get(stage, 0.0) + seconds, 3)

    def parts(self, **extra: Any) -> dict[str, Any]:
        """Cache-key parts common to every stage: data, preparation settings, seed."""
        return {
            "data": self.data.fingerprint,
            "prep": dataclasses.asdict(self.cfg.data),
            "seed": self.cfg.seed,
            "reserve": RESERVE_FRACTION,  # every stage trains without the reserve
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
    # dataset positions of the images in train / val / test above, as the upscaler was given them
    split_index: dict[str, np.ndarray] = field(default_factory=dict)


def _without(section: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k not in keys}


def _final_checks(stage_obj: Any, ctx: TrialContext) -> dict[str, Any]:
    """Checks of the finished generator (mode collapse) run at the full budget only."""
    if ctx.fraction != budget.FULL and getattr(stage_obj, "train_to", None) is not None:
        import inspect

        if "check_collapse" in inspect.signature(stage_obj.train_to).parameters:
            return {"check_collapse": False}
    return {}


def _continue(
    ctx: TrialContext, stage: str, name: str, parts: dict[str, Any], full: int, train_to, weights_of
) -> Any:
    """A resumable GAN stage at the context's budget fraction, through the stage cache.

    The cache key leaves out the epoch count; the run continues from the longest cached
    checkpoint below its target (promotion pays only the increment). Returns the weights.
    """
    target = budget.epochs_at(full, ctx.fraction)
    started = time.perf_counter()
    state, start = ctx.cache.get_or_continue(
        stage, parts, epochs=target, build=lambda state, _start: train_to(state, target)
    )
    if ctx.fraction == budget.FULL and state.get("collapse_checked") is False:
        # A lower rung of another config stored this count unchecked: check it now (no epochs).
        state = train_to(state, target)
    ctx.cache_hits[stage] = start == target
    if start != target:
        ctx.charge(name, time.perf_counter() - started)
    ctx.gan_epochs[name] = {
        "key": ctx.cache.key(stage, parts),
        "start": start,
        "reached": target,
        "full": full,
    }
    return weights_of(state)


def rebalancing_plan(cfg: Config, train: SplitArrays, num_classes: int) -> dict[int, int]:
    """{class id: images to add} for the training split (empty without rebalancing)."""
    if cfg.rebalance.method == "none":
        return {}
    counts = np.bincount(train.labels, minlength=num_classes)
    return plan_counts(counts, cfg.rebalance.threshold, cfg.rebalance.target)


def rebalancer_classes(cfg: Config, plan: dict[int, int], train: SplitArrays) -> list[int]:
    """The classes a trained rebalancer learns: the planned ones, or every training class."""
    if cfg.cgan.train_on == "augmented":
        return sorted(plan)
    return sorted(set(train.labels.tolist()))


def rebalancer_stage(ctx: TrialContext, classes: list[int]) -> tuple[str, dict[str, Any], int]:
    """(cache stage, key parts without the epoch count, full epochs) of a resumable rebalancer."""
    method = ctx.cfg.rebalance.method
    section = ctx.section(method)
    parts = ctx.parts(stage_cfg=_without(section, "epochs"), classes=classes)
    return f"rebalance_{method}", parts, section.get("epochs", 0)


def upscaler_stage(ctx: TrialContext) -> tuple[str, dict[str, Any], int]:
    """(cache stage, key parts, full sequence length) of a resumable upscaler. The key leaves out
    the adversarial epoch count: the sequence position says how far it went."""
    method = ctx.cfg.upscale.method
    section = ctx.section(method)
    full = section.get("pretrain_epochs", 0) + section.get("epochs", 0)
    return f"upscale_{method}", ctx.parts(stage_cfg=_without(section, "epochs")), full


def rebalance(ctx: TrialContext, train: SplitArrays) -> tuple[np.ndarray, np.ndarray, dict]:
    """Synthetic (or repeated) LR training images: (lr (m,3,h,h) uint8, labels (m,), plan)."""
    cfg, k = ctx.cfg, ctx.data.num_classes
    h = train.lr.shape[-1]
    empty = (np.empty((0, 3, h, h), np.uint8), np.empty(0, np.int64))
    method = cfg.rebalance.method
    rebalancer = REBALANCERS.get(method)()
    plan = rebalancing_plan(cfg, train, k)
    ctx.planned = dict(plan)
    if getattr(rebalancer, "needs_reserve", False):  # the oracle: real withheld images
        train = ctx.data.subset(RESERVE_SPLIT)
        held = np.bincount(train.labels, minlength=k)
        plan = {c: min(n, int(held[c])) for c, n in plan.items() if held[c] > 0}
        ctx.consumed[RESERVE_USE] = train.index
    if not plan:
        return (*empty, plan)
    classes = rebalancer_classes(cfg, plan, train)
    weights = None
    if RESERVE_USE not in ctx.consumed:
        ctx.consumed["rebalancer_fit"] = train.index  # fit and generate (oversampling) read train
    if rebalancer.trainable and hasattr(rebalancer, "train_to"):
        stage, parts, full = rebalancer_stage(ctx, classes)
        weights = _continue(
            ctx,
            stage,
            method,
            parts,
            full,
            lambda state, target: rebalancer.train_to(
                cfg,
                train,
                classes,
                state,
                target,
                seed=stage_seed(cfg.seed, stage),
                device=ctx.device,
                **_final_checks(rebalancer, ctx),
            ),
            rebalancer.weights_of,
        )
    elif rebalancer.trainable:
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
        ctx.consumed["upscaler_fit"] = train.index
        stage = f"upscale_{method}"
    if upscaler.trainable and hasattr(upscaler, "train_to"):
        stage, parts, full = upscaler_stage(ctx)
        weights = _continue(
            ctx,
            stage,
            method,
            parts,
            full,
            lambda state, target: upscaler.train_to(
                cfg, train, state, target, seed=stage_seed(cfg.seed, stage), device=ctx.device
            ),
            upscaler.weights_of,
        )
    elif upscaler.trainable:
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
    return Upscaled(
        apply(train),
        apply(val),
        apply(test),
        synthetic,
        train.index,
        {"train": train.index, "val": val.index, "test": test.index},
    )


CLASSIFIER_STAGE = "classifier"


def classifier_parts(
    ctx: TrialContext, cfg: Config | None = None, budget_part: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The classifier's cache-key parts: the trial's effective config (``cfg``: with a lower
    rung's epochs) and, below the full budget, the rung."""
    return ctx.parts(config=effective_flat(cfg or ctx.cfg), **(budget_part or {}))


def save_classifier(run: ClassifierRun, folder: Path) -> None:
    save_weights(run.model.state_dict(), folder)
    (folder / "history.json").write_text(
        json.dumps(
            {
                "best_epoch": run.best_epoch,
                "history": run.history,
                "degenerate_reason": run.degenerate_reason,
                "stopped_early": run.stopped_early,
            }
        )
    )


# Standardisation statistics by (data fingerprint, split, standardize, stretch, softening):
# computed once per prepared dataset and split in a process, whatever the trial.
_INPUT_STATS: dict[tuple, InputStats] = {}


def input_stats(ctx: TrialContext, split: str = "train") -> InputStats:
    """The classifier's input statistics: the ``split``'s true HR images, after the stretch.

    Why true HR of the train split and not the upscaled training inputs: every trial of a sweep
    (any upscaler, any rebalancer, the baseline) then standardises by the same numbers, so no
    method can win or lose by shifting the input transform; bicubic and SR outputs keep the
    per-channel mean of their HR targets closely, so the statistics fit them too.
    """
    ccfg = ctx.cfg.classifier
    key = (
        ctx.data.fingerprint,
        split,
        len(ctx.data.splits[split]),  # the training split without the reserve
        ccfg.standardize,
        ccfg.stretch,
        ccfg.asinh_softening,
    )
    if key not in _INPUT_STATS:
        _INPUT_STATS[key] = classifier_input_stats(
            ctx.cfg, ctx.data.hr[ctx.data.splits[split]], f"{split} split, true HR"
        )
    return _INPUT_STATS[key]


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
    stats = input_stats(ctx)
    budget_part: dict[str, Any] = {}
    if ctx.fraction != budget.FULL:  # a lower rung: fewer epochs, on that rung's GAN images
        epochs = budget.epochs_at(cfg.classifier.epochs, ctx.fraction)
        cfg = dataclasses.replace(
            cfg, classifier=dataclasses.replace(cfg.classifier, epochs=epochs)
        )
        budget_part = {"budget": ctx.fraction}

    def load(folder: Path) -> ClassifierRun:
        model = PaperCNN(
            k,
            int(train_x.shape[-1]),
            cfg.classifier.dense_units,
            stretch=stats.stretch,
            softening=stats.softening,
        )
        model.load_state_dict(load_weights(folder))
        meta = json.loads((folder / "history.json").read_text())
        return ClassifierRun(
            model.to(ctx.device).eval(),
            meta["best_epoch"],
            meta["history"],
            meta.get("degenerate_reason"),
            bool(meta.get("stopped_early", False)),
        )

    def build() -> ClassifierRun:
        started = time.perf_counter()
        try:
            return _train(started)
        finally:
            ctx.charge("classifier", time.perf_counter() - started)

    def _train(started: float) -> ClassifierRun:
        def on_epoch(scores: dict[str, Any]) -> None:
            assert report is not None
            spent = ctx.compute_so_far(classifier=time.perf_counter() - started)
            report({**scores, **spent, results.GAN_EPOCHS: ctx.gan_epochs_json()})

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
            on_epoch=on_epoch if report is not None else None,
            input_stats=stats,
        )

    run, hit = ctx.cache.get_or_create(
        CLASSIFIER_STAGE,
        classifier_parts(ctx, cfg, budget_part),
        build=build,
        save=save_classifier,
        load=load,
    )
    ctx.cache_hits["classifier"] = hit
    if hit and report is not None:  # ASHA still sees one report per epoch
        for scores in run.history:
            report({**scores, **ctx.compute_so_far(), results.GAN_EPOCHS: ctx.gan_epochs_json()})
    return run
