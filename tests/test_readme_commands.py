"""Every `galaxybench` command in README.md is accounted for: each parses with the real parser, and
each one that can run on a 2-core CI machine without network or GPU runs as written.

A command the README gains must be placed in RUN or NOT_RUN below (with the reason and the test
that covers its code instead), or this test fails. Commands run in order in one temporary project
folder with its own galaxybench home, so `report`, `publish` and `leaderboard` see the smoke sweep.

Usage: ``pytest tests/test_readme_commands.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from galaxybench.cli import build_parser
from galaxybench.sweep.space import load_search_space

ROOT = Path(__file__).resolve().parents[1]
SWEEP_NAME = "readme-smoke"

# Commands run as written, in this order (NAME in a README placeholder is the smoke sweep's name).
RUN = (
    "galaxybench data synth --out synth.h5 --scale 0.1 --size 64 --preview synth.png",
    "galaxybench data info synth.h5",
    "galaxybench run --profile smoke --set upscale.method=srgan --set rebalance.method=cgan --json",
    "galaxybench sweep --space smoke",
    "galaxybench report experiments/NAME --out reports/NAME",
    "galaxybench publish",
    "galaxybench leaderboard",
    "galaxybench cluster slurm --nodes 2 --gpus-per-node 4",
    "galaxybench cluster slurm --nodes 2 --gpus-per-node 4 --cpus 32 --time 1-00:00:00 "
    "--partition gpu --account astro --space paper --data galaxy10-decals "
    "--storage /shared/$USER/experiments",
)
# Commands not run here: why, and what covers their code.
NOT_RUN = {
    "galaxybench sweep": "the full default sweep (about 10 min); reports/default is its output, "
    "and `sweep --space smoke` above runs the same phases",
    "galaxybench run --set upscale.method=srgan --set rebalance.method=cgan --out runs/one": (
        "a default-profile trial (minutes on 2 cores); `run --profile smoke` above and "
        "tests/test_cli_run.py run the same command with a smaller profile"
    ),
    "galaxybench validate --data FILE --effect 0.05": "FILE is a placeholder; the default "
    "space's controls take minutes; tests/test_validate.py runs validate on a tiny file",
    "galaxybench ablate --set rebalance.method=cgan": "ablation grid of 8 rows x seeds; "
    "tests/test_tune_sweep.py runs the ablate phase",
    "galaxybench data download galaxy10-decals": "network; tests/test_download.py serves the "
    "download from a local HTTP server",
    "galaxybench data info galaxy10-decals": "needs the 2.54 GB download",
    "galaxybench run --profile paper --data galaxy10-decals": "needs the download and a GPU",
    "galaxybench sweep --space paper --data galaxy10-decals --name paper": "needs a GPU cluster",
    "galaxybench sweep --space paper --data galaxy10-decals --gpus-per-trial 0.25": "a GPU",
    "galaxybench sweep --space paper --name paper-1 --log-file paper-1.log": "a GPU; "
    "tests/test_sweep_log.py runs a smoke sweep with --log-file and its output on a pipe",
    "galaxybench data synth --like galaxy10-decals --out rehearsal.h5": "writes 17,736 images "
    "of 256 px; tests/test_synthetic.py runs --like on a few rows",
    "galaxybench data synth --like galaxy10-decals --n 2000 --out small.h5": "2,000 images of "
    "256 px; tests/test_synthetic.py runs --like on a few rows",
}


def readme_commands() -> list[str]:
    """Every `galaxybench ...` command in the README's shell blocks, comments stripped."""
    found, language = [], None  # language: None outside a fenced block
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")  # shell line continuations
    for line in text.splitlines():
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
            continue
        if language not in ("bash", "sh", "console", ""):
            continue
        for part in line.split(" #", 1)[0].split("&&"):
            part = re.split(r"\s[12]?>|\s&$", part)[0]  # output redirection, background
            part = " ".join(part.split()).removeprefix("nohup ")
            if part.startswith("galaxybench "):
                found.append(part)
    return list(dict.fromkeys(found))


def test_every_readme_command_is_run_or_says_why_not():
    commands = readme_commands()
    assert len(commands) >= 10, commands
    placed = set(RUN) | set(NOT_RUN)
    assert [c for c in commands if c not in placed] == [], "README commands with no test"
    assert [c for c in placed if c not in commands] == [], "stale entries: not in README.md"


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_parses(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the clone, as a user who installed the package
    argv = shlex.split(command)[1:]
    args = build_parser().parse_args(argv)
    assert callable(args.func)
    if getattr(args, "space", None):
        load_search_space(args.space)  # valid from any folder


@pytest.mark.slow
@pytest.mark.ray
def test_readme_commands_run_as_written(tmp_path):
    env = {
        **os.environ,
        "GALAXYBENCH_HOME": str(tmp_path / "home"),
        "GALAXYBENCH_PROJECT": str(tmp_path),
        "RAY_AUTH_MODE": "disabled",
    }
    for command in RUN:
        argv = shlex.split(command.replace("NAME", SWEEP_NAME))[1:]
        if argv[0] == "sweep":
            argv += ["--name", SWEEP_NAME]  # the README's default name holds the date and time
        proc = subprocess.run(
            [sys.executable, "-m", "galaxybench", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, command
        if argv[0] == "leaderboard":
            assert SWEEP_NAME in proc.stdout  # the leaderboard lists the sweep
    assert (tmp_path / "synth.h5").is_file() and (tmp_path / "synth.png").is_file()
    assert (tmp_path / "reports" / SWEEP_NAME / "leaderboard.md").is_file()
    assert "#SBATCH --gres=gpu:4" in proc.stdout  # the batch script, on stdout
