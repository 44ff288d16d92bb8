"""Benchmark: the stage cache trains each SRGAN once per (depth, seed) and speeds a sweep up >= 2x.

A small sweep of trials that share their SRGAN settings (they differ only in cGAN learning rate,
on one seed) runs twice on the embedded data: with the stage cache, then without it. The figures
are the number of SRGAN trainings of each run and the ratio of their wall times (the reference
is the same sweep in the same process, so the machine's load cancels out as far as it can).

Usage: ``python bench/stage_cache.py [--trials 4] [--out reports/bench/stage_cache.json]``;
the last line printed is JSON with ``bench``, ``ratio`` and ``goal``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from galaxybench.config import load_profile
from galaxybench.data import load_data
from galaxybench.trial import evaluate_trial

GOAL = 2.0
# SRGAN-heavy trials as in the default sweep, with short GAN/classifier epochs.
OVERRIDES = ["upscale.method=srgan", "rebalance.method=cgan", "srgan.depth=4",
             "srgan.channels=16", "srgan.pretrain_epochs=2", "srgan.epochs=2", "cgan.epochs=2",
             "classifier.epochs=2", "metrics.enabled=false"]


def _sweep(configs: list, data, cache_dir: Path | None) -> tuple[float, int]:
    """(seconds, SRGAN trainings) of running every config in turn."""
    started, trainings = time.perf_counter(), 0
    for cfg in configs:
        result = evaluate_trial(cfg, data, cache_dir=cache_dir, use_cache=cache_dir is not None,
                                num_threads=2, baseline=False)
        trainings += not result.cache_hits.get("upscale_srgan", False)
    return time.perf_counter() - started, trainings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--out", default="reports/bench/stage_cache.json")
    args = parser.parse_args()
    base = load_profile("default", OVERRIDES)
    data = load_data(None, base.data)
    lrs = [1.0e-4 * (1.5 ** i) for i in range(args.trials)]
    configs = [base.replace(**{"cgan.lr": lr}) for lr in lrs]
    with tempfile.TemporaryDirectory() as tmp:
        cached_s, cached_trainings = _sweep(configs, data, Path(tmp))
    uncached_s, uncached_trainings = _sweep(configs, data, None)
    result = {
        "bench": "stage_cache", "trials": args.trials, "data": data.source,
        "srgan_trainings_cached": cached_trainings, "srgan_trainings_uncached": uncached_trainings,
        "seconds_cached": round(cached_s, 2), "seconds_uncached": round(uncached_s, 2),
        "ratio": round(uncached_s / cached_s, 3), "goal": GOAL,
        "met": uncached_s / cached_s >= GOAL and cached_trainings == 1,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.trials} trials sharing one SRGAN: {cached_trainings} SRGAN training(s) and "
          f"{cached_s:.1f} s with the cache, {uncached_trainings} and {uncached_s:.1f} s without")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
