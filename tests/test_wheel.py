"""Packaging: ``python -m build`` makes a wheel that installs into a fresh venv and runs.

The wheel is installed without its dependencies (they come from this environment through
``PYTHONPATH``, placed after the venv's own site-packages), so the test checks what the wheel
itself carries: the package, its profiles and search spaces, and the console script.

Usage: ``pytest tests/test_wheel.py``.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_wheel_installs_and_runs_sweep_help(tmp_path):
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("galaxybench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "galaxybench/profiles/default.yaml" in names
    assert "galaxybench/search_spaces/default.yaml" in names
    assert "galaxybench/cluster/slurm.sbatch" in names  # galaxybench cluster slurm reads it
    assert "galaxybench/sweep/ray_backend/tuner.py" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    deps = os.pathsep.join(site.getsitepackages())
    env = {**os.environ, "PYTHONPATH": deps}
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import galaxybench; print(galaxybench.__file__, galaxybench.__version__)",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert where.stdout.startswith(str(venv))  # the wheel's copy, not the checkout
    out = subprocess.run(
        [str(venv / "bin" / "galaxybench"), "sweep", "--help"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert "--space" in out.stdout and "--tracker" in out.stdout
