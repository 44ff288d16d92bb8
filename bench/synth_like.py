"""Benchmark: the Galaxy10 DECaLS rehearsal file (time, peak memory, gzip ratio, layout checks).

Runs ``write_like`` at ``--n`` rows (default: the full 17,736) with ``--workers`` processes and
reports wall seconds, images per second, the extrapolated full-size time, the peak RSS of the
parent and of the largest worker (ru_maxrss), and the compression ratio of ``images`` (stored
bytes / raw bytes; the real Galaxy10_DECals.h5 is about 0.73). ratio = 0.73 / measured, so 1.0
is a perfect match. The machine's load average is recorded: the 2 cores may be shared.

Usage: ``python bench/synth_like.py [--n 17736] [--workers 2] [--out FILE] [--smoke]``; writes
reports/bench/synth_like.json and prints one JSON object with bench, ratio and goal last.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SMOKE_LIKE_ROWS, add_smoke_flag, finish

from galaxybench.data.classes import DECALS_COUNTS
from galaxybench.data.rehearsal import like_counts, write_like

REAL_RATIO = 2.54 / 3.49  # the real download (GB) over its raw pixels (GB)


def stored_ratio(path: Path) -> float:
    """Stored bytes of ``images`` (sum over chunks) / raw bytes."""
    with h5py.File(path, "r") as f:
        images = f["images"]
        return images.id.get_storage_size() / (images.size * images.dtype.itemsize)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=sum(DECALS_COUNTS))
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--out", help="keep the file here (default: a temp dir, removed)")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.n = SMOKE_LIKE_ROWS
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.out or Path(tmp) / "rehearsal.h5")
        t0 = time.perf_counter()
        write_like(path, n=args.n, workers=args.workers)
        seconds = time.perf_counter() - t0
        ratio = stored_ratio(path)
        with h5py.File(path, "r") as f:
            labels = f["ans"][()]
            shape, chunks = f["images"].shape, f["images"].chunks
            nan_z = int(np.isnan(f["redshift"][()]).sum())
            pxscales = sorted(set(np.round(f["pxscale"][()], 3).tolist()))
        file_mb = path.stat().st_size / 2**20
    n = int(like_counts(args.n).sum())
    full = sum(DECALS_COUNTS)
    finish(
        "synth_like",
        ratio=REAL_RATIO / ratio,
        goal=1.0,
        smoke=args.smoke,
        n=n,
        workers=args.workers,
        seconds=round(seconds, 1),
        images_per_second=round(n / seconds, 1),
        full_size_seconds_extrapolated=round(seconds * full / n, 0),
        compression_ratio=round(ratio, 4),
        real_compression_ratio=round(REAL_RATIO, 4),
        file_mb=round(file_mb, 1),
        shape=list(shape),
        chunks=list(chunks),
        counts=np.bincount(labels, minlength=10).tolist(),
        sorted_by_class=bool(np.all(np.diff(labels) >= 0)),
        redshift_nan=nan_z,
        pxscale_values=pxscales,
        parent_peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        worker_peak_rss_mb=round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        cpus=os.cpu_count(),
        load_average_start=[round(x, 2) for x in load],
        load_average_end=[round(x, 2) for x in os.getloadavg()],
    )


if __name__ == "__main__":
    from galaxybench.signals import exit_status, handle_termination

    try:  # SIGTERM as Ctrl-C: the rendering workers stop and the temp folder is removed
        with handle_termination():
            main()
    except KeyboardInterrupt as exc:
        sys.exit(exit_status(exc))
