"""Shared bits of the benchmarks: the result line, the JSON record, peak memory, the card name.

Usage: ``finish("trial_overhead", ratio=0.95, goal=0.9, **figures)`` prints the figures, writes
``reports/bench/<bench>.json`` and prints the one-line JSON result last.
"""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path
from typing import Any

# Where the JSON records and figures go: the repository's reports/bench, unless a test points
# $GALAXYBENCH_BENCH_REPORTS elsewhere (so running a benchmark in a test never rewrites them).
REPORTS = Path(
    os.environ.get("GALAXYBENCH_BENCH_REPORTS")
    or Path(__file__).resolve().parents[1] / "reports" / "bench"
)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def finish(bench: str, *, ratio: float, goal: float, **figures: Any) -> None:
    """Print figures, store them in reports/bench/<bench>.json, print the JSON line last."""
    record = {
        "bench": bench,
        "ratio": round(float(ratio), 4),
        "goal": goal,
        "device": device_name(),
        **figures,
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{bench}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps(record, default=str))
