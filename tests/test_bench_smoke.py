"""Every benchmark in bench/ still runs: each at its ``--smoke`` size as a subprocess, writing to a
temp reports folder, its last stdout line a JSON object with bench, ratio and goal; the CUDA-only
ones fail with one clear line on a machine without CUDA. A new bench/ script that this file does
not list fails the coverage test, so no benchmark can rot unseen.

Usage: ``pytest -m slow tests/test_bench_smoke.py``. Measured: 667 s for the eleven smoke runs on
a 2-core machine shared with other jobs (load average 8 to 13); not yet timed on a quiet one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
COMMITTED = ROOT / "reports" / "bench"

# Benchmarks that run anywhere: their --smoke run must succeed on a CPU.
SMOKE = (
    "concurrency",
    "continuation",
    "data_prep",
    "fused_confirm",
    "gpu_default_sweep",
    "gpu_step_ceiling",
    "metrics_cost",
    "oracle_controls",
    "paper_stage_costs",
    "search_efficiency",
    "stage_cache",
    "synth_like",
    "synth_speed",
    "trial_overhead",
    "trial_profile",
)
# Benchmarks that measure a GPU: without CUDA they must refuse with one line.
CUDA_ONLY = ("gpu_packing.py", "gpu_checks.sh")


def _env(reports: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GALAXYBENCH_BENCH_REPORTS": str(reports),
        "GALAXYBENCH_HOME": str(reports / "home"),
        "RAY_AUTH_MODE": "disabled",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        # `python` in gpu_checks.sh is this interpreter.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_every_benchmark_is_covered() -> None:
    scripts = {p.name for p in BENCH.iterdir() if p.suffix in (".py", ".sh")}
    scripts -= {"_common.py"}  # shared helpers, run by every benchmark
    covered = {f"{name}.py" for name in SMOKE} | set(CUDA_ONLY)
    assert scripts == covered, (
        f"not covered by a smoke run: {sorted(scripts - covered)}; "
        f"listed but missing: {sorted(covered - scripts)}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("bench", SMOKE)
def test_benchmark_runs_at_smoke_size(bench: str, tmp_path: Path) -> None:
    before = _digests(COMMITTED)
    out = subprocess.run(
        [sys.executable, str(BENCH / f"{bench}.py"), "--smoke"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,  # a script writing to a relative reports/bench would write here
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines, out.stderr[-3000:]
    last = json.loads(lines[-1])
    assert isinstance(last, dict)
    assert last["bench"] == bench and last["smoke"] is True
    assert isinstance(last["ratio"], (int, float)) and not math.isnan(last["ratio"])
    assert "goal" in last
    assert json.loads((tmp_path / f"{bench}.json").read_text())["bench"] == bench
    assert not (tmp_path / "reports").exists()
    assert _digests(COMMITTED) == before  # the committed figures are never rewritten


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
@pytest.mark.parametrize("script", CUDA_ONLY)
def test_cuda_benchmark_fails_with_one_line_without_cuda(script: str, tmp_path: Path) -> None:
    command = ["bash"] if script.endswith(".sh") else [sys.executable]
    out = subprocess.run(
        [*command, str(BENCH / script), *(["--smoke"] if script.endswith(".py") else [])],
        capture_output=True,
        text=True,
        env={**_env(tmp_path), "CUDA_VISIBLE_DEVICES": ""},
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode != 0
    said = (out.stdout + out.stderr).strip().splitlines()
    assert len(said) == 1 and "CUDA" in said[0] and "Traceback" not in said[0], said
    assert not (tmp_path / "reports").exists()
