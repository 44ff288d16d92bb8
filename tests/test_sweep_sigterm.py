"""SIGTERM to a running ``galaxybench sweep``: it stops, saves, unlocks and resumes exactly.

The driver runs the real CLI (``galaxybench.cli.main``) with a fast stand-in objective and its
own local Ray. SIGTERM goes to the driver alone (as Kubernetes and cloud preemption send it) in
the baseline and confirm phases, and to its whole process group (as Slurm and ``timeout`` send
it, Ray's processes included) in the search phase. The driver must exit 143, print the exact
``--resume`` command, leave no process of its own behind, release the experiment's lock and
not mark the interrupted phase finished; the printed command then ends with exactly the rows
of an uninterrupted sweep.

Usage: ``pytest -m ray tests/test_sweep_sigterm.py``.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray  # noqa: F401  (a hard dependency: a broken Ray fails, never skips)

psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.ray, pytest.mark.slow]
NUM_SAMPLES = 3

DRIVER = '''
import functools, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import write_galaxy10_h5
from galaxybench import results
from galaxybench.config import DataConfig, to_flat
from galaxybench.data import prepare
import galaxybench.sweep
from galaxybench.cli import main

def slow_trial(cfg, data, report=None, **kwargs):
    """Two short epochs; the objective depends on the config only (reruns give equal rows)."""
    fraction = kwargs.get("budget_fraction", 1.0)
    for epoch in (1, 2):
        time.sleep(2.0 if fraction >= 1.0 else 0.5)  # time to signal a running trial
        report({{results.EPOCH: epoch, results.OBJECTIVE: cfg.cgan.lr * epoch}})
        if epoch == 1:  # the test signals the driver when a trial of the phase is this far
            with open({epochs!r}, "a") as f:
                f.write("1\\n")
    return results.TrialResult(status=results.STATUS_OK, config=to_flat(cfg), seed=cfg.seed,
                         metrics={{results.OBJECTIVE: cfg.cgan.lr * fraction,
                                   results.MINORITY_F1: 0.5 + cfg.seed / 100,
                                   results.COMPUTE_SECONDS: {{"other": fraction}}}})

data = prepare(write_galaxy10_h5(Path("tiny.h5"), counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16)),
               DataConfig(hr_size=16))
galaxybench.sweep.run_experiment = functools.partial(
    galaxybench.sweep.run_experiment, data=data, trial_fn=slow_trial)
sys.exit(main(sys.argv[1:]))
'''


def _start(tmp: Path, argv: list[str], tag: str) -> subprocess.Popen:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.Popen(
        [sys.executable, str(tmp / "driver.py"), *argv],
        env=env,
        cwd=tmp,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{tag}.err", "w"),
    )


def _finish(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _rows(exp: Path) -> dict[tuple, tuple]:
    """Every phase's rows by (phase, config, seed) -> (status, objective, minority F1)."""
    out = {}
    for phase in ("baseline", "search", "confirm"):
        for line in (exp / "results" / f"{phase}.jsonl").read_text().splitlines():
            r = json.loads(line)
            key = (phase, json.dumps(r.get("config"), sort_keys=True), r.get("seed"))
            metrics = r.get("metrics") or r
            out[key] = (r["status"], metrics.get("val_minority_f1"), metrics.get("minority_f1"))
    return out


def _epochs(tmp: Path) -> int:
    """First epochs reported so far, by every trial of every phase."""
    path = tmp / "epochs.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _wait_mid_phase(proc: subprocess.Popen, tmp: Path, phase: str) -> None:
    """Until a trial of ``phase`` is half-way (the search: its second trial or rung)."""
    exp, deadline, before = tmp / "cut", time.monotonic() + 240, None
    while before is None or _epochs(tmp) < before + (2 if phase == "search" else 1):
        assert proc.poll() is None, (tmp / "cut.err").read_text()[-3000:]
        assert time.monotonic() < deadline, f"the {phase} phase never started a trial"
        if before is None and (exp / phase).is_dir():  # Tune has started the phase
            before = _epochs(tmp)
        time.sleep(0.1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple, tuple]:
    """The rows of an uninterrupted sweep."""
    tmp = tmp_path_factory.mktemp("reference")
    (tmp / "driver.py").write_text(
        DRIVER.format(tests=str(Path(__file__).parent), epochs=str(tmp / "epochs.log"))
    )
    proc = _start(tmp, [*_sweep_args(tmp, "whole")], "whole")
    assert _finish(proc, 300) == 0, (tmp / "whole.err").read_text()[-3000:]
    return _rows(tmp / "whole")


def _sweep_args(tmp: Path, name: str) -> list[str]:
    return [
        "sweep",
        "--space",
        "smoke",
        "--name",
        name,
        "--storage",
        str(tmp),
        "--num-samples",
        str(NUM_SAMPLES),
        "--max-concurrent",
        "1",
        "--num-cpus",
        "2",
        "--no-report",
    ]


@pytest.mark.parametrize("phase", ["baseline", "search", "confirm"])
def test_sigterm_stops_the_sweep_and_resume_gives_the_same_rows(
    tmp_path: Path, phase: str, reference: dict[tuple, tuple]
):
    tests, epochs = str(Path(__file__).parent), str(tmp_path / "epochs.log")
    (tmp_path / "driver.py").write_text(DRIVER.format(tests=tests, epochs=epochs))
    exp = tmp_path / "cut"
    proc = _start(tmp_path, _sweep_args(tmp_path, "cut"), "cut")
    try:
        _wait_mid_phase(proc, tmp_path, phase)
        ours = psutil.Process(proc.pid).children(recursive=True)
        assert ours  # Ray's processes, started by the driver
        if phase == "search":  # the whole group, as Slurm and `timeout` send it
            os.killpg(proc.pid, signal.SIGTERM)
        else:  # the driver only, as Kubernetes and a cloud preemption send it
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = (tmp_path / "cut.err").read_text()
    assert "galaxybench: terminated" in err and "Traceback" not in err, err[-3000:]
    _, alive = psutil.wait_procs(ours, timeout=30)
    assert not alive, [p.info for p in alive]  # nothing of ours outlives the command
    assert not (exp / "results" / f"{phase}.jsonl").exists()  # not marked finished
    from filelock import FileLock

    FileLock(str(exp / ".lock"), timeout=0).acquire()  # released: raises Timeout if held
    [command] = [ln.split(": ", 1)[1] for ln in err.splitlines() if ln.startswith("resume with:")]
    argv = shlex.split(command)
    assert argv == [
        "galaxybench",
        "sweep",
        "--name",
        "cut",
        "--storage",
        str(tmp_path.resolve()),
        "--resume",
        "--num-cpus",
        "2",
        "--no-report",
    ]
    resumed = _start(tmp_path, argv[1:], "resume")
    assert _finish(resumed, 300) == 0, (tmp_path / "resume.err").read_text()[-3000:]
    assert _rows(exp) == reference
