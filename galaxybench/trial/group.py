"""A fused group: K trials of one configuration on K seeds, their training fused, K results.

The confirm phase runs every row on every confirmation seed (and the baseline on every seed):
the same networks, K times, each alone. ``evaluate_group`` trains each stage of the K members as
one batched network (``galaxybench.stages.fused``) and stores every member's output in the stage
cache under the very key the member's own trial uses; then it runs each member's own
``evaluate_trial``, which finds every trained stage in the cache. So each member's result has the
row schema, the stage-cache entries, the leak and reserve checks of an unfused trial, and an
interrupted group resumes from whatever the cache holds. What is fused:

- a resumable rebalancer or upscaler with a fused trainer (``FUSED_TRAINERS``: the cGAN and the
  SRGAN), for the members that have nothing of that stage cached yet and share its classes;
- the classifier, for the members whose training sets have one size.

Anything else (a plugin stage, a member with a shorter checkpoint to continue, one member left)
trains unfused inside its own trial, as before. A member whose GAN diverges in the fused run gets
the result its own trial would give (status ``diverged``, the same reason) without training again.
Each member's inputs to the classifier are computed twice (once here, once in its trial): that is
inference only.

The seconds a fused stage took are shared equally by the members it trained and added to their
``compute_seconds``; ``results.FUSED`` records the group.

Usage::

    cfgs = [cfg.replace(seed=s, **{"data.split_seed": s}) for s in (1, 2, 3, 4, 5)]
    out = evaluate_group(cfgs, [datasets[s] for s in (1, 2, 3, 4, 5)], cache_dir="cache/")
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galaxybench import budget, paths, results
from galaxybench.cache import StageCache, save_state
from galaxybench.config import Config, to_flat
from galaxybench.data.arrays import PreparedData
from galaxybench.errors import TrialDiverged
from galaxybench.registry import REBALANCERS, UPSCALERS
from galaxybench.stages._common import set_threads
from galaxybench.trial.evaluate import default_device, evaluate_trial, scoring_minority
from galaxybench.trial.reserve import withhold_reserve
from galaxybench.trial.steps import (
    CLASSIFIER_STAGE,
    TrialContext,
    classifier_parts,
    input_stats,
    rebalance,
    rebalancer_classes,
    rebalancer_stage,
    rebalancing_plan,
    save_classifier,
    stage_seed,
    upscale_all,
    upscaler_stage,
)

log = logging.getLogger(__name__)

# Keys that name a member of a group, not its configuration.
_MEMBER_KEYS = ("seed", "data.split_seed")


def _fused_cgan(cfg, trains, classes, seeds, epochs, device):
    from galaxybench.stages.rebalance_cgan_fused import cgan_train_to_fused

    return cgan_train_to_fused(cfg, trains, classes, seeds, epochs, device=device)


def _fused_srgan(cfg, trains, classes, seeds, epochs, device):
    from galaxybench.stages.upscale_srgan_fused import srgan_train_to_fused

    return srgan_train_to_fused(cfg, trains, seeds, epochs, device=device)


# Cache stage -> fused trainer: (cfg, trains, classes, seeds, epochs, device) -> one checkpoint
# (as the unfused ``train_to`` from scratch returns it) or TrialDiverged per member.
FUSED_TRAINERS: dict[str, Callable[..., list[Any]]] = {
    "rebalance_cgan": _fused_cgan,
    "upscale_srgan": _fused_srgan,
}


@dataclasses.dataclass
class _Member:
    cfg: Config
    data: PreparedData  # as given (each member's trial withholds the reserve itself)
    ctx: TrialContext  # on the data without the reserve
    diverged: TrialDiverged | None = None
    shares: dict[str, float] = dataclasses.field(default_factory=dict)  # compute name -> seconds
    fused: dict[str, int] = dataclasses.field(default_factory=dict)  # cache stage -> members
    # What the group trained for this member (fused, or alone while preparing the classifier's
    # inputs), which its own trial then finds cached: cache stages, and the epoch each GAN
    # started from (by compute name).
    trained: set[str] = dataclasses.field(default_factory=set)
    starts: dict[str, int] = dataclasses.field(default_factory=dict)

    def note_context(self) -> None:
        """Fold in what the member's context trained alone (its charged seconds, the GAN epochs
        it started from, the stages it missed in the cache)."""
        for name, seconds in self.ctx.compute.items():
            self.shares[name] = self.shares.get(name, 0.0) + seconds
        for name, e in self.ctx.gan_epochs.items():
            if e["start"] != e["reached"]:
                self.starts[name] = e["start"]
        self.trained |= {stage for stage, hit in self.ctx.cache_hits.items() if not hit}


def check_group(cfgs: Sequence[Config]) -> None:
    """ValueError unless the configs differ only in their seed and split seed."""
    flats = [{k: v for k, v in to_flat(c).items() if k not in _MEMBER_KEYS} for c in cfgs]
    if any(f != flats[0] for f in flats[1:]):
        raise ValueError("a fused group's configs may differ only in seed and data.split_seed")


def _fuse_stage(
    members: list[_Member],
    stage: str,
    name: str,
    jobs: dict[int, tuple[dict[str, Any], Any, list[int]]],
    target: int,
    device: torch.device,
) -> None:
    """Train ``stage`` for ``jobs`` ({member: (key parts, train split, classes)}) fused, in groups
    of members sharing classes, and put each checkpoint in the cache at ``target`` epochs."""
    by_classes: dict[tuple[int, ...], list[int]] = {}
    for k, (_, _, classes) in jobs.items():
        by_classes.setdefault(tuple(classes), []).append(k)
    for ks in by_classes.values():
        if len(ks) < 2:
            continue
        cache = members[ks[0]].ctx.cache
        # Another trial or group may be training some of these (rows share GANs): wait for it.
        with cache.holding([(stage, jobs[k][0], target) for k in ks]):
            ks = [k for k in ks if not cache.epochs_cached(stage, jobs[k][0])]
            if len(ks) >= 2:
                _train_fused(members, stage, name, jobs, ks, target, device)


def _train_fused(
    members: list[_Member],
    stage: str,
    name: str,
    jobs: dict[int, tuple[dict[str, Any], Any, list[int]]],
    ks: list[int],
    target: int,
    device: torch.device,
) -> None:
    """One fused GAN run of members ``ks`` (their entries' locks held), stored in the cache."""
    started = time.perf_counter()
    try:
        out = FUSED_TRAINERS[stage](
            members[ks[0]].cfg,
            [jobs[k][1] for k in ks],
            list(jobs[ks[0]][2]),
            [stage_seed(members[k].cfg.seed, stage) for k in ks],
            target,
            device,
        )
    except ValueError as exc:  # shapes that do not line up: each trains in its own trial
        log.info("%s not fused: %s", stage, exc)
        return
    share = (time.perf_counter() - started) / len(ks)
    for k, state in zip(ks, out, strict=True):
        m = members[k]
        m.shares[name] = m.shares.get(name, 0.0) + share
        m.fused[stage] = len(ks)
        m.trained.add(stage)
        m.starts[name] = 0
        if isinstance(state, TrialDiverged):
            m.diverged = state
        else:
            m.ctx.cache.put(stage, jobs[k][0], state, save=save_state, epochs=target, held=True)


def _prefill_rebalancer(members: list[_Member], device: torch.device) -> None:
    cfg = members[0].cfg
    method = cfg.rebalance.method
    rebalancer = REBALANCERS.get(method)()
    stage = f"rebalance_{method}"
    if stage not in FUSED_TRAINERS or getattr(rebalancer, "needs_reserve", False):
        return
    jobs, target = {}, 0
    for k, m in enumerate(members):
        train = m.ctx.data.subset("train")
        plan = rebalancing_plan(cfg, train, m.ctx.data.num_classes)
        if not plan:
            continue
        stage, parts, full = rebalancer_stage(m.ctx, rebalancer_classes(m.cfg, plan, train))
        target = budget.epochs_at(full, m.ctx.fraction)
        if not m.ctx.cache.epochs_cached(stage, parts):  # else it continues in its trial
            jobs[k] = (parts, train, parts["classes"])
    _fuse_stage(members, stage, method, jobs, target, device)


def _prefill_upscaler(members: list[_Member], device: torch.device) -> None:
    method = members[0].cfg.upscale.method
    stage = f"upscale_{method}"
    if stage not in FUSED_TRAINERS or not UPSCALERS.get(method)().trainable:
        return
    jobs, target = {}, 0
    for k, m in enumerate(members):
        if m.diverged is not None:
            continue
        stage, parts, full = upscaler_stage(m.ctx)
        target = budget.epochs_at(full, m.ctx.fraction)
        if not m.ctx.cache.epochs_cached(stage, parts):  # else it continues in its trial
            jobs[k] = (parts, m.ctx.data.subset("train"), [])
    _fuse_stage(members, stage, method, jobs, target, device)


def _prefill_classifier(members: list[_Member], device: torch.device) -> None:
    from galaxybench.stages.classify_fused import ClassifierMember

    todo: list[tuple[int, ClassifierMember]] = []
    for k, m in enumerate(members):
        ctx = m.ctx
        if m.diverged is not None or ctx.cache.has(CLASSIFIER_STAGE, classifier_parts(ctx)):
            continue
        train, val, test = (ctx.data.subset(s) for s in ("train", "val", "test"))
        try:  # the GANs are in the cache now: generating and upscaling is inference
            synth_lr, synth_y, _ = rebalance(ctx, train)
            up = upscale_all(ctx, train, val, test, synth_lr)
        except TrialDiverged as exc:  # a stage without a fused trainer diverged on its own
            m.diverged = exc
            continue
        todo.append(
            (
                k,
                ClassifierMember(
                    np.concatenate([up.train, up.synthetic]),
                    np.concatenate([train.labels, synth_y]),
                    up.val,
                    val.labels,
                    seed=stage_seed(m.cfg.seed, "classify"),
                    input_stats=input_stats(ctx),
                ),
            )
        )
    if len(todo) < 2:
        return
    cache = members[todo[0][0]].ctx.cache
    entries = [(CLASSIFIER_STAGE, classifier_parts(members[k].ctx), None) for k, _ in todo]
    with cache.holding(entries):  # another trial may be training one of them: wait for it
        todo = [job for job, entry in zip(todo, entries, strict=True) if not cache.has(*entry[:2])]
        if len(todo) >= 2:
            _train_classifiers(members, todo, device)


def _train_classifiers(members: list[_Member], todo: list, device: torch.device) -> None:
    """The classifiers of ``todo`` ([(member, ClassifierMember)]) fused; their locks held."""
    from galaxybench.stages.classify_fused import train_classifiers_fused

    first = members[todo[0][0]].ctx
    started = time.perf_counter()
    try:
        runs = train_classifiers_fused(
            first.cfg,
            [c for _, c in todo],
            num_classes=first.data.num_classes,
            minority_classes=first.minority,
            device=device,
        )
    except ValueError as exc:  # training sets of different sizes
        log.info("classifier not fused: %s", exc)
        return
    share = (time.perf_counter() - started) / len(todo)
    for (k, _), run in zip(todo, runs, strict=True):
        m = members[k]
        m.shares[CLASSIFIER_STAGE] = m.shares.get(CLASSIFIER_STAGE, 0.0) + share
        m.fused[CLASSIFIER_STAGE] = len(todo)
        m.trained.add(CLASSIFIER_STAGE)
        m.ctx.cache.put(
            CLASSIFIER_STAGE, classifier_parts(m.ctx), run, save=save_classifier, held=True
        )


def _diverged_result(m: _Member) -> results.TrialResult:
    """The result the member's own trial gives when its GAN diverges."""
    return results.TrialResult(
        status=results.STATUS_DIVERGED,
        reason=str(m.diverged),
        config=to_flat(m.cfg),
        seed=m.cfg.seed,
        data_fingerprint=m.data.fingerprint,
        provenance=results.provenance(),
        metrics={
            results.STAGE_SECONDS: {},
            results.COMPUTE_SECONDS: {},
            results.COMPUTE_SECONDS_TOTAL: 0.0,
            results.GAN_EPOCHS: {},
            results.GAN_EPOCHS_TRAINED: 0,
            results.BUDGET_FRACTION: budget.FULL,
        },
    )


def _account(result: results.TrialResult, m: _Member, seeds: list[int]) -> None:
    """Charge the member its share of the fused training; mark the stages it trained there."""
    metrics = result.metrics
    compute = dict(metrics.get(results.COMPUTE_SECONDS) or {})
    for name, seconds in m.shares.items():
        compute[name] = round(compute.get(name, 0.0) + seconds, 3)
    metrics[results.COMPUTE_SECONDS] = compute
    metrics[results.COMPUTE_SECONDS_TOTAL] = round(
        float(metrics.get(results.COMPUTE_SECONDS_TOTAL) or 0.0) + sum(m.shares.values()), 3
    )
    gan = metrics.get(results.GAN_EPOCHS) or {}
    for name, start in m.starts.items():
        if name in gan:  # trained for this member in the group, from epoch ``start``
            gan[name] = {**gan[name], "start": start}
    for stage in m.trained:
        if stage in result.cache_hits:
            result.cache_hits[stage] = False
    if gan:
        metrics[results.GAN_EPOCHS_TRAINED] = sum(e["reached"] - e["start"] for e in gan.values())
    metrics[results.FUSED] = {"members": len(seeds), "seeds": seeds, "stages": dict(m.fused)}


def evaluate_group(
    cfgs: Sequence[Config],
    datas: Sequence[PreparedData],
    *,
    device: torch.device | str | None = None,
    cache_dir: str | Path | None = None,
    num_threads: int | None = None,
    artifacts_dirs: Sequence[str | Path | None] | None = None,
    baseline: bool = True,
) -> list[results.TrialResult]:
    """Run the trials of ``cfgs`` (one configuration on several seeds; ``datas[k]`` is member k's
    prepared data, its own split) with their training fused; one TrialResult per member, each
    as ``evaluate_trial(cfgs[k], datas[k], ...)`` gives it (float tolerance on the fused stages).

    The fused outputs travel through the stage cache: without one (``cache_dir`` None and no
    default) nothing is fused. ``baseline``: as ``evaluate_trial``'s. Raises ValueError when
    the configs differ in more than the seed.
    """
    check_group(cfgs)
    device = torch.device(device) if device is not None else default_device()
    set_threads(num_threads)
    cache_dir = cache_dir if cache_dir is not None else paths.stage_cache_dir()
    members = []
    for cfg, data in zip(cfgs, datas, strict=True):
        minority = scoring_minority(data, cfg.eval.minority_fraction)
        held = withhold_reserve(data, minority, cfg.data.split_seed)
        ctx = TrialContext(cfg, held, device, StageCache(cache_dir), minority)
        members.append(_Member(cfg, data, ctx))
    if len(members) > 1 and members[0].ctx.cache.enabled:
        _prefill_rebalancer(members, device)
        _prefill_upscaler(members, device)
        _prefill_classifier(members, device)
        for m in members:
            m.note_context()
    seeds = [m.cfg.seed for m in members]
    dirs = list(artifacts_dirs) if artifacts_dirs is not None else [None] * len(members)
    out = []
    for m, artifacts in zip(members, dirs, strict=True):
        if m.diverged is not None:
            result = _diverged_result(m)
        else:
            result = evaluate_trial(
                m.cfg,
                m.data,
                device=device,
                cache_dir=cache_dir,
                num_threads=num_threads,
                artifacts_dir=artifacts,
                baseline=baseline,
            )
        _account(result, m, seeds)
        out.append(result)
    return out
