"""Benchmark: a promoted trial's GAN continuation costs no more than 1.1x its increment's epochs.

The default space's SRGAN and cGAN (embedded data, HR 32) are trained three ways through the
stage cache: to the full budget in one go (``full``), to the first rung (``low``, 1/3 of the
epochs, rounded up) and then continued from that cached checkpoint to the full budget (``cont``).
The increment's own cost is what those epochs took inside the uninterrupted run, ``full - low``
(the setup both pay cancels out), so ``ratio = cont / (full - low)`` is what promotion really
pays per epoch of increment: checkpoint load and save and the networks' setup are the overhead.
Times are the process's CPU seconds (``time.process_time``, one torch thread): on a shared
machine wall time mostly measures the other processes. A one-epoch warm-up of each stage runs
first (the first convolutions of a process pay a one-off setup, measured at ~10 s). Repeats are
interleaved so a change in machine load hits every variant alike; medians are kept.

Usage: ``python bench/continuation.py [--repeats 3] [--fraction 0.3333] [--smoke]``; the last line
printed is JSON with ``bench``, ``ratio`` and ``goal``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import add_smoke_flag, finish, smoke_data_path

from galaxybench import budget
from galaxybench.cache import StageCache
from galaxybench.config import load_profile
from galaxybench.data import load_data
from galaxybench.registry import REBALANCERS, UPSCALERS
from galaxybench.stages.rebalance_plan import plan_counts
from galaxybench.sweep.space import load_search_space

GOAL = 1.1
# Smoke: the smoke profile's tiny GANs with enough epochs that the first rung is short of the end.
SMOKE_OVERRIDES = ["srgan.pretrain_epochs=1", "srgan.epochs=2", "cgan.epochs=3"]


def _stages(cfg, train):
    """(name, full epochs, train_to(state, target)) of the two GANs of ``cfg``."""
    counts = np.bincount(train.labels, minlength=int(train.labels.max()) + 1)
    classes = sorted(plan_counts(counts, cfg.rebalance.threshold, cfg.rebalance.target))
    up, gan = UPSCALERS.get("srgan")(), REBALANCERS.get("cgan")()
    cpu = torch.device("cpu")
    full = cfg.cgan.epochs
    return [
        (
            "srgan",
            cfg.srgan.pretrain_epochs + cfg.srgan.epochs,
            lambda state, target: up.train_to(cfg, train, state, target, seed=1, device=cpu),
        ),
        (
            "cgan",
            full,
            lambda state, target: gan.train_to(
                cfg,
                train,
                classes,
                state,
                target,
                seed=1,
                device=cpu,
                check_collapse=target == full,
            ),
        ),
    ]


def _timed(cache: StageCache, name: str, target: int, train_to) -> float:
    started = time.process_time()
    cache.get_or_continue(
        name, {"bench": name}, epochs=target, build=lambda state, _start: train_to(state, target)
    )
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=1 / 3)
    add_smoke_flag(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one trial's CPU in the default sweep
    if args.smoke:
        args.repeats = 1
        cfg = load_profile("smoke", SMOKE_OVERRIDES)
        train = load_data(str(smoke_data_path()), cfg.data).subset("train")
    else:
        cfg = load_search_space("default").base_config()
        train = load_data(None, cfg.data).subset("train")
    figures: dict[str, dict[str, list[float]]] = {}
    for _name, _full, train_to in _stages(cfg, train):  # warm-up, not measured
        train_to(None, 1)
    for _ in range(args.repeats):
        for name, full, train_to in _stages(cfg, train):
            low_epochs = budget.epochs_at(full, args.fraction)
            with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
                rec = figures.setdefault(name, {"full": [], "low": [], "cont": []})
                rec["full"].append(_timed(StageCache(Path(one)), name, full, train_to))
                ladder = StageCache(Path(two))
                rec["low"].append(_timed(ladder, name, low_epochs, train_to))
                rec["cont"].append(_timed(ladder, name, full, train_to))
            rec["epochs"] = [low_epochs, full]
    med = {
        name: {k: (statistics.median(v) if k != "epochs" else v) for k, v in rec.items()}
        for name, rec in figures.items()
    }
    increment = sum(m["full"] - m["low"] for m in med.values())
    cont = sum(m["cont"] for m in med.values())
    per_stage = {
        name: round(m["cont"] / max(m["full"] - m["low"], 1e-9), 3) for name, m in med.items()
    }
    finish(
        "continuation",
        ratio=cont / increment,
        goal=GOAL,
        smoke=args.smoke,
        seconds={
            n: {k: (round(v, 3) if k != "epochs" else v) for k, v in m.items()}
            for n, m in med.items()
        },
        ratio_by_stage=per_stage,
        fraction=round(args.fraction, 4),
        repeats=args.repeats,
        note="ratio = continuation CPU seconds / the same epochs' CPU seconds in one run (medians)",
    )


if __name__ == "__main__":
    main()
