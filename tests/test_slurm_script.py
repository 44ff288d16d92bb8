"""``galaxybench cluster slurm``: the batch script, and its Ray start run on two stand-in nodes.

The script runs under bash with stand-ins on PATH: ``scontrol show hostnames`` names two nodes,
``srun`` runs its command on this machine (Slurm's flags dropped), ``hostname --ip-address`` says
127.0.0.1. The head and the worker get their own temp dirs and a free port; the token comes from a
file at run time. A smoke sweep must finish through the two-node Ray that the script started.

Usage: ``pytest -m ray tests/test_slurm_script.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from galaxybench.cli import main

STAND_INS = {
    "scontrol": '#!/bin/sh\n[ "$1 $2" = "show hostnames" ] && printf "%s\\n" $FAKE_SLURM_NODES\n',
    "srun": "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n"
    '  case "$1" in -w|-N|-n|-c) shift 2;; -*) shift;; *) break;; esac\ndone\nexec "$@"\n',
    "hostname": "#!/bin/sh\necho 127.0.0.1\n",
}


def _script(capsys, *argv: str) -> str:
    assert main(["cluster", "slurm", *argv]) == 0
    return capsys.readouterr().out


def test_the_script_asks_slurm_for_the_options_and_holds_no_token(capsys, tmp_path):
    text = _script(
        capsys,
        *("--nodes", "3", "--gpus-per-node", "2", "--cpus", "16", "--time", "1-00:00:00"),
        *("--partition", "gpu", "--account", "astro", "--storage", str(tmp_path / "exp")),
        *("--space", "paper", "--data", "galaxy10-decals", "--", "--num-samples", "48"),
    )
    for line in (
        "#SBATCH --nodes=3",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --cpus-per-task=16",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --time=1-00:00:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=astro",
        f"STORAGE={tmp_path / 'exp'}",
        'NAME="sweep-paper-${SLURM_JOB_ID}"',
    ):
        assert line in text.splitlines(), line
    assert "--space paper --data galaxy10-decals --num-samples 48" in text
    assert "--include-dashboard=false --dashboard-host=127.0.0.1" in text
    assert "0.0.0.0" not in text and "RAY_AUTH_TOKEN=" not in text
    assert 'export RAY_AUTH_TOKEN_PATH="$TOKEN_FILE"' in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--nodes", "0"], "--nodes"),
        (["--time", "1h"], "--time"),
        (["--partition", "gpu\n#SBATCH --x"], "--partition"),
        (["--name", "../up"], "name"),
        (["--port", "80"], "--port"),
    ],
)
def test_bad_options_are_one_line(capsys, argv, named):
    assert main(["cluster", "slurm", *argv]) == 2
    out = capsys.readouterr()
    assert out.out == "" and named in out.err and len(out.err.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (this test's own temp dir)."""
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split() if int(pid) != os.getpid()]


@pytest.mark.slow
@pytest.mark.ray
def test_a_smoke_sweep_finishes_on_the_ray_the_script_starts(capsys, tmp_path):
    from conftest import write_galaxy10_h5

    data = write_galaxy10_h5(tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    token = tmp_path / "token"
    token.write_text("f" * 64)
    token.chmod(0o600)
    script = tmp_path / "sweep.sbatch"
    script.write_text(
        _script(
            capsys,
            *("--nodes", "2", "--cpus", "1", "--space", "smoke", "--data", str(data)),
            *("--storage", str(tmp_path / "exp"), "--name", "slurm", "--setup", ":"),
            *("--", "--no-report"),
        )
    )
    assert "f" * 64 not in script.read_text()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in STAND_INS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    ray_tmp = tempfile.mkdtemp(prefix="gbslurm", dir="/tmp")  # short: Ray's socket paths
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "FAKE_SLURM_NODES": "node1 node2",
        "SLURM_JOB_NODELIST": "node[1-2]",
        "SLURM_JOB_ID": "4242",
        "SLURM_CPUS_PER_TASK": "1",
        "GALAXYBENCH_RAY_PORT": str(_free_port()),
        "GALAXYBENCH_RAY_TMPDIR": ray_tmp,
        "GALAXYBENCH_RAY_TOKEN_FILE": str(token),
        "GALAXYBENCH_HOME": str(tmp_path / "home"),
        "RAY_AUTH_MODE": "token",
    }
    env.pop("RAY_ADDRESS", None)
    try:
        run = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, timeout=900
        )
    finally:
        leftovers = _ours(ray_tmp)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "2 Ray node(s) at 127.0.0.1:" in run.stdout
    exp = tmp_path / "exp" / "slurm"
    for phase in ("baseline", "search", "confirm"):
        assert (exp / "results" / f"{phase}.jsonl").read_text().strip(), phase
    assert leftovers == []  # the script's exit stopped both Ray nodes
