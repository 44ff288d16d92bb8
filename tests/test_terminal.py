"""The CLI inside a real terminal: tmux at 80x24, screen read back with ``capture-pane``.

Usage: ``pytest tests/test_terminal.py`` (needs tmux; ``.ci/run`` installs it, and CI sets
``GALAXYBENCH_REQUIRE_TMUX=1`` so a missing tmux fails instead of skipping).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "experiment_small"


@pytest.fixture
def tmux():
    if shutil.which("tmux") is None:
        if os.environ.get("GALAXYBENCH_REQUIRE_TMUX"):
            pytest.fail("tmux is required here (GALAXYBENCH_REQUIRE_TMUX is set)")
        pytest.skip("tmux not installed")
    session = f"gb-{uuid.uuid4().hex[:8]}"
    yield session
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def _screen(session: str, command: str, done: str, timeout: float = 120.0) -> list[str]:
    """Run ``command`` in an 80x24 tmux window and return the screen once ``done`` shows."""
    galaxybench = Path(sys.executable).with_name("galaxybench")
    shell = (
        f"cd {os.getcwd()} && {command.replace('galaxybench', str(galaxybench), 1)}; "
        f"echo {done}; sleep 60"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", shell],
        check=True,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "80"},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
        ).stdout
        if done in out:
            return out.splitlines()
        time.sleep(0.5)
    raise AssertionError(f"{command!r} did not finish within {timeout} s:\n{out}")


def test_leaderboard_fits_an_80x24_terminal(tmux, tmp_path, monkeypatch):
    from galaxybench.report import publish_experiment

    publish_experiment(FIXTURE, tmp_path / "reports", name="small")
    monkeypatch.chdir(tmp_path)
    screen = _screen(tmux, "galaxybench leaderboard --reports reports", "__DONE__")
    text = "\n".join(screen)
    assert all(len(line) <= 80 for line in screen)
    assert "small" in text  # the report's name
    assert "synthetic-small" in text  # the data by name, not a hash
    assert "top-1" in text and "+0.060" in text  # the best row and its gain, uncut
    assert "Traceback" not in text


def test_no_arguments_prints_usage_and_commands(tmux, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    screen = _screen(tmux, "galaxybench", "__DONE__", timeout=60)
    text = "\n".join(screen)
    for command in ("sweep", "run", "report", "leaderboard", "data"):
        assert command in text
    assert all(len(line) <= 80 for line in screen)
