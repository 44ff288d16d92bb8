"""Benchmark: seconds per stage and peak memory of a `default` trial on the embedded data.

The trial is the full pipeline (SRGAN + cGAN + classifier + quality metrics) with the stage cache
off, so every stage is trained. Goals: at most 60 s and 3 GB on a 2-core CPU.
ratio = 60 s / measured seconds (>= 1 meets the goal). With a GPU, a `paper` trial runs too and
its seconds are reported with the card's name.

Usage: ``python bench/trial_profile.py [--paper] [--smoke]``
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import add_smoke_flag, finish, peak_rss_mb, smoke_data_path

from galaxybench.config import load_profile
from galaxybench.data import load_data
from galaxybench.trial import evaluate_trial

GOAL_SECONDS, GOAL_MB = 60.0, 3072.0


def timed_trial(profile: str, data_name: str | None) -> tuple[float, dict, str]:
    cfg = load_profile(profile, ["upscale.method=srgan", "rebalance.method=cgan"])
    data = load_data(data_name, cfg.data)
    start = time.perf_counter()
    result = evaluate_trial(cfg, data, use_cache=False)
    return time.perf_counter() - start, result.metrics.get("stage_seconds", {}), result.status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paper", action="store_true", help="also a paper trial (GPU only)")
    parser.add_argument("--data", default=None, help="data for the paper trial")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.paper = False
        seconds, stages, status = timed_trial("smoke", str(smoke_data_path()))
    else:
        seconds, stages, status = timed_trial("default", "embedded")
    figures = {
        "default_trial_seconds": round(seconds, 1),
        "default_stage_seconds": stages,
        "status": status,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "memory_goal_mb": GOAL_MB,
        "torch_threads": torch.get_num_threads(),
    }
    if args.paper and torch.cuda.is_available():
        p_seconds, p_stages, p_status = timed_trial("paper", args.data)
        figures.update(
            paper_trial_seconds=round(p_seconds, 1),
            paper_stage_seconds=p_stages,
            paper_status=p_status,
            card=torch.cuda.get_device_name(0),
        )
    finish("trial_profile", ratio=GOAL_SECONDS / seconds, goal=1.0, smoke=args.smoke, **figures)


if __name__ == "__main__":
    main()
