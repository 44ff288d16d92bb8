"""Benchmark: paper-trial throughput at 1, 2 and 4 trials packed on one GPU (CUDA only).

search_spaces/paper.yaml packs four trials per GPU (resources {cpu: 4, gpu: 0.25}). This runs
K = 1, 2, 4 concurrent processes on GPU 0, each evaluating ``--trials`` `paper` trials (epoch
counts cut to ``--epochs`` through the same keys as ``galaxybench run --set``, quality metrics
off, stage cache off so every trial trains), on a Galaxy10 DECaLS-layout file (``--data``, or
one generated here with ``--n`` rows), and reports trials per hour and each process's peak GPU
memory. ratio = trials/hour at 4 per GPU / trials/hour at 1 (> 1: packing pays).

Without CUDA it fails with one line (exit status 1).

Usage: ``python bench/gpu_packing.py [--data FILE | --n 17736] [--epochs 1] [--trials 1]``
(``--smoke``: 240 rows, one epoch, one trial per process);
writes reports/bench/gpu_packing.json and prints one JSON object last.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SMOKE_LIKE_ROWS, add_smoke_flag, finish

PACKING = (1, 2, 4)


def _sets(epochs: int) -> list[str]:
    return [
        "upscale.method=srgan",
        "rebalance.method=cgan",
        f"srgan.pretrain_epochs={epochs}",
        f"srgan.epochs={epochs}",
        f"cgan.epochs={epochs}",
        f"classifier.epochs={epochs}",
        "metrics.enabled=false",
    ]


def _worker(data: str, epochs: int, trials: int, seed: int, out: mp.Queue) -> None:
    """Run `trials` trials on cuda:0; put (seconds per trial, peak GPU MB, statuses)."""
    from galaxybench import evaluate_trial, load_data, load_profile
    from galaxybench.signals import die_with_parent

    die_with_parent()  # a killed benchmark leaves no trial running on the GPU
    cfg = load_profile("paper", [*_sets(epochs), f"seed={seed}"])
    prepared = load_data(data, cfg.data)  # cached by the parent: a load, not a preparation
    statuses, start = [], time.perf_counter()
    for i in range(trials):
        cfg_i = load_profile("paper", [*_sets(epochs), f"seed={seed * 100 + i}"])
        statuses.append(
            evaluate_trial(
                cfg_i, prepared, device="cuda", use_cache=False, num_threads=4, baseline=False
            ).status
        )
    out.put(
        (
            (time.perf_counter() - start) / trials,
            torch.cuda.max_memory_allocated() / 2**20,
            statuses,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a Galaxy10 DECaLS-layout file")
    parser.add_argument("--n", type=int, default=17736, help="rows to generate without --data")
    parser.add_argument("--epochs", type=int, default=1, help="every stage's epochs")
    parser.add_argument("--trials", type=int, default=1, help="trials per process")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_packing: needs a CUDA device (torch.cuda.is_available() is False)")
    if args.smoke:
        args.n, args.epochs, args.trials = SMOKE_LIKE_ROWS, 1, 1
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("GALAXYBENCH_HOME", str(Path(tmp) / "home"))
        from galaxybench import load_data, load_profile

        data = args.data
        if data is None:
            from galaxybench.data.rehearsal import write_like

            data = str(write_like(Path(tmp) / "like.h5", n=args.n))
        load_data(data, load_profile("paper", _sets(args.epochs)).data)  # prepare once
        ctx, rows = mp.get_context("spawn"), []
        for k in PACKING:
            queue = ctx.Queue()
            procs = [
                ctx.Process(target=_worker, args=(data, args.epochs, args.trials, s, queue))
                for s in range(k)
            ]
            start = time.perf_counter()
            for p in procs:
                p.start()
            results = [queue.get() for _ in procs]
            for p in procs:
                p.join()
            wall = time.perf_counter() - start
            per_hour = k * args.trials / wall * 3600
            rows.append(
                {
                    "trials_per_gpu": k,
                    "wall_s": round(wall, 1),
                    "trials_per_hour": round(per_hour, 2),
                    "seconds_per_trial": [round(r[0], 1) for r in results],
                    "peak_gpu_mb": [round(r[1]) for r in results],
                    "statuses": [s for r in results for s in r[2]],
                }
            )
            print(f"{k} per GPU: {per_hour:.1f} trials/hour ({wall:.0f} s wall)", flush=True)
    finish(
        "gpu_packing",
        ratio=rows[-1]["trials_per_hour"] / rows[0]["trials_per_hour"],
        goal=1.0,
        smoke=args.smoke,
        card=torch.cuda.get_device_name(0),
        epochs_per_stage=args.epochs,
        trials_per_process=args.trials,
        packing=rows,
        load_average=os.getloadavg(),
    )


if __name__ == "__main__":
    main()
