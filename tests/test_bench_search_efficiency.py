"""bench/search_efficiency.py end to end on a shipped table: its last line is the benchmark's
JSON (bench, ratio, goal), every searcher and sub-ladder is replayed, and the ratio is the best
median it printed. Figures go to a temp folder, never to reports/bench.

Usage: ``pytest tests/test_bench_search_efficiency.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_search_efficiency_prints_its_json_last_and_replays_every_ladder(tmp_path: Path) -> None:
    env = {**os.environ, "GALAXYBENCH_BENCH_REPORTS": str(tmp_path), "RAY_AUTH_MODE": "disabled"}
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "search_efficiency.py"),
            "--table",
            str(ROOT / "benchmarks" / "default-reduced-3rung.csv"),
            "--seeds",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["bench"] == "search_efficiency" and last["goal"] == 0.4
    searchers = last["searchers"]
    ladders = ("1/4,1/2,1", "1/4,1", "1/2,1")  # the table's ladder and its two sub-ladders
    for kind in ("tpe+asha", "random+asha", "tpe+hyperband", "random+hyperband"):
        assert {f"{kind} @ {lad}" for lad in ladders} <= searchers.keys()
    assert {"random", "grid", "tpe"} <= searchers.keys()
    medians = [v["median_fraction"] for v in searchers.values() if v["median_fraction"] is not None]
    assert last["ratio"] == min(medians)
    assert searchers[last["best_searcher"]]["median_fraction"] == last["ratio"]
    # The grid visits each of the 36 configurations once, so it always reaches the grid's best.
    assert searchers["grid"]["seeds_reached"] == "2/2"
    assert (tmp_path / "search_efficiency.json").is_file()
    assert (tmp_path / "search_efficiency_anytime.png").is_file()
