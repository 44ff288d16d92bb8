"""Benchmark: the cost of the quality metrics in a `default` trial (goal: at most 1.15x).

The same `default` trial (SRGAN + cGAN, so every metric runs: PSNR/SSIM, domain FID/KID/PRC,
Inception when weights exist, the classifier accuracy score) with and without
``metrics.enabled``, stage cache off, interleaved (without, with, without, with) and the best of
each kept against machine noise. ratio = seconds with / seconds without; the goal is ratio <= 1.15.

Usage: ``python bench/metrics_cost.py [--repeats 2] [--smoke]``
"""

from __future__ import annotations

import argparse
import time

from _common import add_smoke_flag, finish, smoke_data_path

from galaxybench.config import load_profile
from galaxybench.data import load_data
from galaxybench.trial import evaluate_trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    add_smoke_flag(parser)
    args = parser.parse_args()
    base = ["upscale.method=srgan", "rebalance.method=cgan"]
    if args.smoke:
        args.repeats = 1
        base += ["metrics.kid_subsets=2", "metrics.max_samples=100"]
    profile = "smoke" if args.smoke else "default"
    configs = {
        flag: load_profile(profile, [*base, f"metrics.enabled={flag}"])
        for flag in ("false", "true")
    }
    data = load_data(str(smoke_data_path()) if args.smoke else "embedded", configs["true"].data)
    seconds: dict[str, list[float]] = {"false": [], "true": []}
    quality: list[float] = []
    for _ in range(args.repeats):
        for flag, cfg in configs.items():
            start = time.perf_counter()
            result = evaluate_trial(cfg, data, use_cache=False)
            seconds[flag].append(round(time.perf_counter() - start, 2))
            if flag == "true":
                quality.append(result.metrics["stage_seconds"]["quality"])
    without, with_metrics = min(seconds["false"]), min(seconds["true"])
    finish(
        "metrics_cost",
        ratio=with_metrics / without,
        goal=1.15,
        smoke=args.smoke,
        goal_direction="ratio <= goal",
        seconds_without=seconds["false"],
        seconds_with=seconds["true"],
        quality_stage_seconds=quality,
    )


if __name__ == "__main__":
    main()
