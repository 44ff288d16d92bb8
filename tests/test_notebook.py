"""The README's notebook session runs as written (Python API: load, trial, raw arrays, sweep).

The code block between the ``notebook:start`` and ``notebook:end`` markers of README.md is run
in a fresh interpreter, in a temporary directory with its own galaxybench home.

Usage: ``pytest tests/test_notebook.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def notebook_code() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- notebook:start -->\s*```python\n(.*?)```\s*<!-- notebook:end -->", text, re.S
    )
    assert match, "README.md has no notebook block"
    return match.group(1)


def test_readme_notebook_block_is_short_and_uses_the_public_api():
    code = notebook_code()
    assert len(code.strip().splitlines()) <= 12
    for name in ("gb.load_data", "gb.evaluate_trial", "gb.load_galaxy10", "gb.sweep"):
        assert name in code


def test_readme_notebook_session_runs(tmp_path):
    env = {
        **os.environ,
        "GALAXYBENCH_HOME": str(tmp_path / "home"),
        "RAY_AUTH_MODE": "disabled",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", notebook_code()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ok ")  # the trial's status and its delta
    assert lines[1].startswith("(") and "64, 64, 3)" in lines[1]  # raw embedded images
    report = Path(lines[-1].split()[0])
    assert report == tmp_path / "reports" / "notebook"
    assert (report / "index.html").exists()
    assert (tmp_path / "reports" / "index.html").exists()  # where `galaxybench leaderboard` looks
    assert int(lines[-1].split()[1]) >= 1  # the Optuna study has the search's trials
