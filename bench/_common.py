"""Shared bits of the benchmarks: the result line, the JSON record, peak memory, the card name.

Usage: ``finish("trial_overhead", ratio=0.95, goal=0.9, **figures)`` prints the figures, writes
``reports/bench/<bench>.json`` and prints the one-line JSON result last. Every benchmark takes
``--smoke`` (``add_smoke_flag``): a run of seconds that checks it still works end to end; its
figures mean nothing, so a smoke run never writes into the repository's reports/bench.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
from pathlib import Path
from typing import Any

# Where the JSON records and figures go: the repository's reports/bench, unless a test points
# $GALAXYBENCH_BENCH_REPORTS elsewhere (so running a benchmark in a test never rewrites them).
COMMITTED_REPORTS = Path(__file__).resolve().parents[1] / "reports" / "bench"
REPORTS = Path(os.environ.get("GALAXYBENCH_BENCH_REPORTS") or COMMITTED_REPORTS)


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--smoke``: the benchmark at a tiny size, to check that it still runs."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run (seconds) that checks the benchmark still works; its figures mean nothing",
    )


def reports_dir(smoke: bool) -> Path | None:
    """Where to write figures: None for a smoke run aimed at the committed reports/bench."""
    if smoke and REPORTS.resolve() == COMMITTED_REPORTS.resolve():
        return None
    REPORTS.mkdir(parents=True, exist_ok=True)
    return REPORTS


# A smoke run's data: 3% of Galaxy10 DECaLS' class counts (534 images, the minority set kept) at
# 32 px. The same arguments give the same bytes, so the file is made once and shared.
SMOKE_SCALE, SMOKE_SIZE = 0.03, 32
SMOKE_LIKE_ROWS = 240  # the fewest rows a rehearsal file may have (12 per class, twice)


def smoke_data_path() -> Path:
    """A tiny synthetic Galaxy10 file for ``--smoke`` runs, written on first use."""
    from galaxybench.data.synthetic import write_synthetic

    path = Path(tempfile.gettempdir()) / f"galaxybench-smoke-{SMOKE_SCALE}-{SMOKE_SIZE}.h5"
    if not path.is_file():  # write_synthetic renames into place: a reader never sees half a file
        write_synthetic(path, scale=SMOKE_SCALE, size=SMOKE_SIZE, seed=0)
    return path


def smoke_like_path() -> Path:
    """A DECaLS-layout rehearsal file at its smallest size (240 rows) for ``--smoke`` runs."""
    from galaxybench.data.rehearsal import write_like

    path = Path(tempfile.gettempdir()) / "galaxybench-smoke-like-240.h5"
    if not path.is_file():  # write_like renames into place as well
        write_like(path, n=SMOKE_LIKE_ROWS)
    return path


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def finish(
    bench: str, *, ratio: float, goal: float | None, smoke: bool = False, **figures: Any
) -> None:
    """Print figures, store them in reports/bench/<bench>.json, print the JSON line last.

    A smoke run's record says ``"smoke": true`` and is not stored in the committed reports/bench.
    """
    record = {
        "bench": bench,
        "ratio": round(float(ratio), 4),
        "goal": goal,
        "device": device_name(),
        **({"smoke": True} if smoke else {}),
        **figures,
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    folder = reports_dir(smoke)
    if folder is not None:
        (folder / f"{bench}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps(record, default=str))
