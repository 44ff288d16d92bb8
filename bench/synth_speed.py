"""Benchmark: synthetic Galaxy10 generation speed at 128 px (goal: 3,000 images in <= 60 s).

Times ``write_synthetic`` for about 3,000 images of 128 px into a temp dir, and, in the same run,
a reference: allocating and writing an array of the same shape and dtype to HDF5 (the I/O floor
no generator can beat). ratio = 60 s / generation seconds, so ratio >= 1 meets the goal; the
generation / write-only time shows what the rendering itself costs.

Usage: ``python bench/synth_speed.py [--images 3000] [--size 128] [--smoke]``; writes
reports/bench/synth_speed.json and prints one JSON object with bench, ratio and goal last.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from _common import add_smoke_flag, finish

from galaxybench.data import synthetic

GOAL = 1.0  # ratio = 60 s / seconds for 3,000 images at 128 px: at least 1
BUDGET_SECONDS = 60.0


def write_only_seconds(path: Path, n: int, size: int) -> float:
    """Allocate n uint8 images of (size, size, 3) and write them to HDF5: the reference floor."""
    start = time.perf_counter()
    images = np.zeros((n, size, size, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, track_times=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=128)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.images, args.size = 300, 32
    scale = args.images / sum(synthetic.class_counts(1.0))
    n = int(synthetic.class_counts(scale).sum())
    with tempfile.TemporaryDirectory() as tmp:
        reference = write_only_seconds(Path(tmp) / "ref.h5", n, args.size)
        start = time.perf_counter()
        synthetic.write_synthetic(Path(tmp) / "synth.h5", scale=scale, size=args.size, seed=0)
        seconds = time.perf_counter() - start
    budget = BUDGET_SECONDS * n / 3000  # the goal scaled to the image count actually made
    rate = n / seconds
    print(f"synthetic: {n} images of {args.size} px in {seconds:.2f} s ({rate:.0f} images/s)")
    print(f"reference: allocate + write the same uint8 array to HDF5 in {reference:.3f} s")
    print(f"goal: <= {budget:.0f} s for {n} images -> ratio {budget / seconds:.2f} (>= {GOAL})")
    finish(
        "synth_speed",
        ratio=budget / seconds,
        goal=GOAL,
        smoke=args.smoke,
        images=n,
        size=args.size,
        seconds=round(seconds, 3),
        images_per_second=round(rate, 1),
        write_only_seconds=round(reference, 3),
        generation_over_write_only=round(seconds / reference, 1),
        cpu_count=os.cpu_count(),
    )


if __name__ == "__main__":
    main()
