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
    # Every Ray node's step asks for the node's CPUs (srun does not inherit them from sbatch).
    assert text.count('srun --nodes=1 --ntasks=1 --cpus-per-task="$SLURM_CPUS_PER_TASK"') == 2
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--nodes", "0"], "--nodes"),
        (["--time", "1h"], "--time"),
        (["--partition", "gpu\n#SBATCH --x"], "--partition"),
        (["--name", "../up"], "name"),
        (["--port", "80"], "--port"),
        (["typo"], "put sweep options after --"),
    ],
)
def test_bad_options_are_one_line(capsys, argv, named):
    assert main(["cluster", "slurm", *argv]) == 2
    out = capsys.readouterr()
    assert out.out == "" and named in out.err and len(out.err.strip().splitlines()) == 1


def _stand_ins(folder: Path, extra: dict[str, str] | None = None) -> Path:
    folder.mkdir()
    for name, text in {**STAND_INS, **(extra or {})}.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return folder


def _slurm_env(bin_dir: Path, **more: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "FAKE_SLURM_NODES": "node1 node2",
        "SLURM_JOB_NODELIST": "node[1-2]",
        "SLURM_JOB_ID": "4242",
        "SLURM_CPUS_PER_TASK": "1",
        "RAY_AUTH_MODE": "token",
        **more,
    }
    env.pop("RAY_ADDRESS", None)
    return env


# Stand-ins that log their arguments: the script's order and flags, without Ray.
LOGGING = {
    # A worker joins a second late, as a real one does (the head is up before it).
    "ray": '#!/bin/sh\ncase "$*" in "start --address"*) sleep 1;; esac\n'
    'echo "ray $*" >> "$CALLS"\nexec sleep 60\n',
    # `cluster wait --nodes N` returns once N nodes have started, as the real command does (here:
    # N `ray start` lines); without it the backgrounded worker may log after the script ended.
    "galaxybench": (
        '#!/bin/sh\necho "galaxybench $*" >> "$CALLS"\n'
        'if [ "$1 $2" = "cluster wait" ]; then\n'
        '  n=$(echo "$*" | sed -n "s/.*--nodes \\([0-9]*\\).*/\\1/p"); i=0\n'
        '  while [ "$(grep -c "^ray start" "$CALLS")" -lt "$n" ] && [ $i -lt 600 ]; do\n'
        "    sleep 0.1; i=$((i + 1))\n"
        "  done\n"
        "fi\n"
    ),
}


def test_the_script_starts_head_then_workers_then_resumes_its_sweep(capsys, tmp_path):
    token = tmp_path / "token"
    token.write_text("f" * 64)
    storage = tmp_path / "exp"
    (storage / "sweep-smoke-4242").mkdir(parents=True)
    (storage / "sweep-smoke-4242" / "sweep.yaml").write_text("space: {}\n")  # a requeued job
    script = tmp_path / "s.sbatch"
    script.write_text(
        _script(capsys, "--space", "smoke", "--storage", str(storage), "--setup", ":")
    )
    calls = tmp_path / "calls"
    env = _slurm_env(
        _stand_ins(tmp_path / "bin", LOGGING),
        CALLS=str(calls),
        GALAXYBENCH_RAY_PORT="7001",
        GALAXYBENCH_RAY_TOKEN_FILE=str(token),
    )
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = calls.read_text().splitlines()
    # The nodes start in the background: their lines may come in any order among the others.
    (head,) = [x for x in lines if x.startswith("ray start --head")]
    (worker,) = [x for x in lines if x.startswith("ray start --address")]
    assert head.startswith("ray start --head --node-ip-address=127.0.0.1 --port=7001")
    assert "--include-dashboard=false --dashboard-host=127.0.0.1" in head
    assert worker.startswith("ray start --address=127.0.0.1:7001 --node-ip-address=127.0.0.1")
    assert "--num-cpus 1 --num-gpus 0" in head and "--num-cpus 1 --num-gpus 0" in worker
    assert [x for x in lines if x.startswith("galaxybench")] == [
        "galaxybench cluster wait --address 127.0.0.1:7001 --nodes 1",
        "galaxybench cluster wait --address 127.0.0.1:7001 --nodes 2",
        f"galaxybench sweep --address 127.0.0.1:7001 --storage {storage} "
        "--name sweep-smoke-4242 --resume --space smoke",
    ]


def test_the_script_stops_in_one_line_without_a_token(capsys, tmp_path):
    script = tmp_path / "s.sbatch"
    script.write_text(_script(capsys, "--setup", ":"))
    calls = tmp_path / "calls"
    env = _slurm_env(
        _stand_ins(tmp_path / "bin", LOGGING),
        CALLS=str(calls),
        GALAXYBENCH_RAY_TOKEN_FILE=str(tmp_path / "none"),
    )
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and not calls.exists()  # nothing started
    assert run.stderr.startswith(f"galaxybench: error: no Ray token at {tmp_path / 'none'}")
    assert len(run.stderr.strip().splitlines()) == 1


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
    ray_tmp = tempfile.mkdtemp(prefix="gbslurm", dir="/tmp")  # short: Ray's socket paths
    env = _slurm_env(
        _stand_ins(tmp_path / "bin"),
        GALAXYBENCH_RAY_PORT=str(_free_port()),
        GALAXYBENCH_RAY_TMPDIR=ray_tmp,
        GALAXYBENCH_RAY_TOKEN_FILE=str(token),
        GALAXYBENCH_HOME=str(tmp_path / "home"),
    )
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
    # The sweep's first line: no GPU in this two-node Ray, so gpu: auto is the CPU.
    first = next(line for line in run.stderr.splitlines() if line.startswith("resources:"))
    assert (
        first
        == "resources: 2 trials at once x 1 CPU; CPU only: no CUDA (the Ray cluster has no GPU)"
    )
    exp = tmp_path / "exp" / "slurm"
    for phase in ("baseline", "search", "confirm"):
        assert (exp / "results" / f"{phase}.jsonl").read_text().strip(), phase
    assert leftovers == []  # the script's exit stopped both Ray nodes


def test_cluster_wait_without_a_head_is_one_line(capsys):
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    assert main(["cluster", "wait", "--address", address, "--timeout", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"galaxybench: error: no Ray head at {address} after 1 s")
    assert len(err.strip().splitlines()) == 1
