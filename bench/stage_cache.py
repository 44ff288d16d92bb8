"""Benchmark: the stage cache trains each SRGAN once per (depth, seed) and speeds a sweep up >= 2x.

A small sweep of trials that share their SRGAN settings (they differ only in cGAN learning rate,
on one seed) runs twice on the embedded data, with the stage cache and without it, interleaved
trial by trial so that the shared machine's changing load hits both alike. The figures are the
number of SRGAN trainings of each and the ratio of their summed trial times.

Usage: ``python bench/stage_cache.py [--trials 3] [--smoke]``; writes reports/bench/stage_cache.json
and the last line printed is JSON with ``bench``, ``ratio`` and ``goal``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import add_smoke_flag, finish, smoke_data_path

from galaxybench.config import load_profile
from galaxybench.data import load_data
from galaxybench.trial import evaluate_trial

GOAL = 2.0
# The `default` profile's SRGAN (depth 4, 32 channels) with short cGAN and classifier runs: the
# cache can at best remove the SRGAN share, so 2x needs SRGAN >= 2x the rest of a trial.
OVERRIDES = [
    "upscale.method=srgan",
    "rebalance.method=cgan",
    "srgan.depth=4",
    "srgan.pretrain_epochs=2",
    "srgan.epochs=3",
    "cgan.epochs=2",
    "classifier.epochs=1",
    "metrics.enabled=false",
]
# The smoke profile's tiny networks: seconds per trial, enough to see the cache train SRGAN once.
SMOKE_OVERRIDES = ["upscale.method=srgan", "rebalance.method=cgan", "classifier.epochs=1"]


def _trial(cfg, data, cache_dir: Path | None) -> tuple[float, bool]:
    """(seconds, whether an SRGAN was trained) of one trial."""
    started = time.perf_counter()
    result = evaluate_trial(
        cfg,
        data,
        cache_dir=cache_dir,
        use_cache=cache_dir is not None,
        num_threads=2,
        baseline=False,
    )
    return time.perf_counter() - started, not result.cache_hits.get("upscale_srgan", False)


def _sweeps(configs: list, data, cache_dir: Path) -> dict[str, float]:
    """Both sweeps, interleaved trial by trial so that a change in machine load hits both."""
    totals = {"cached_s": 0.0, "uncached_s": 0.0, "cached_trainings": 0, "uncached_trainings": 0}
    for cfg in configs:
        for label, folder in (("cached", cache_dir), ("uncached", None)):
            seconds, trained = _trial(cfg, data, folder)
            totals[f"{label}_s"] += seconds
            totals[f"{label}_trainings"] += trained
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.trials = 2
    base = load_profile(*(("smoke", SMOKE_OVERRIDES) if args.smoke else ("default", OVERRIDES)))
    data = load_data(str(smoke_data_path()) if args.smoke else None, base.data)
    lrs = [1.0e-4 * (1.5**i) for i in range(args.trials)]
    configs = [base.replace(**{"cgan.lr": lr}) for lr in lrs]
    with tempfile.TemporaryDirectory() as tmp:
        t = _sweeps(configs, data, Path(tmp))
    ratio = t["uncached_s"] / t["cached_s"]
    print(
        f"{args.trials} trials sharing one SRGAN: {t['cached_trainings']} SRGAN training(s) "
        f"and {t['cached_s']:.1f} s with the cache, {t['uncached_trainings']} and "
        f"{t['uncached_s']:.1f} s without"
    )
    finish(
        "stage_cache",
        ratio=ratio,
        goal=GOAL,
        smoke=args.smoke,
        trials=args.trials,
        data=data.source,
        srgan_trainings_cached=t["cached_trainings"],
        srgan_trainings_uncached=t["uncached_trainings"],
        seconds_cached=round(t["cached_s"], 2),
        seconds_uncached=round(t["uncached_s"], 2),
        met=ratio >= GOAL and t["cached_trainings"] == 1,
        load_average_1min=round(os.getloadavg()[0], 2),
    )


if __name__ == "__main__":
    main()
