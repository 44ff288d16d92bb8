"""Resume after SIGKILL: a driver subprocess is killed mid-search, then the sweep resumes.

Finished trials are not re-run, the search ends with exactly ``num_samples`` trials and the
finished baseline phase is skipped. The driver runs its own local Ray (no module session here).

Usage: ``pytest -m ray tests/test_tune_resume.py``.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray  # noqa: F401  (a hard dependency: a broken Ray fails, never skips)

pytestmark = [pytest.mark.ray, pytest.mark.slow]
# Enough trials that the search is still running when Tune's saved state first shows two
# finished ones (Tune writes that state every few seconds; a quiet machine is fast).
NUM_SAMPLES = 7

DRIVER = '''
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import write_galaxy10_h5
from galaxybench import results
from galaxybench.config import DataConfig, to_flat
from galaxybench.data import prepare
from galaxybench.sweep.space import load_search_space
from galaxybench.sweep import run_experiment

LOG = {log!r}

def slow_trial(cfg, data, report=None, **kwargs):
    """Two 1.5-second epochs; appends 'row seed lr' to LOG when it finishes."""
    # The smoke space climbs a budget ladder: search trials are called once per rung, with
    # budget_fraction; only the full-budget call counts as the trial having run to the end.
    fraction = kwargs.get("budget_fraction", 1.0)
    for epoch in (1, 2):
        time.sleep(1.5 if fraction >= 1.0 else 0.75)
        report({{results.EPOCH: epoch, results.OBJECTIVE: cfg.cgan.lr * epoch}})
    flat = to_flat(cfg)
    if fraction >= 1.0:
        with open(LOG, "a") as f:
            f.write(f"{{flat['upscale.method']}} {{cfg.seed}} {{cfg.cgan.lr!r}}\\n")
    return results.TrialResult(status=results.STATUS_OK, config=flat, seed=cfg.seed,
                         metrics={{results.OBJECTIVE: cfg.cgan.lr * fraction,
                                   results.MINORITY_F1: 0.5,
                                   results.COMPUTE_SECONDS: {{"other": fraction}}}})

data = prepare(write_galaxy10_h5(Path({h5!r}), counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16)),
               DataConfig(hr_size=16))
space = None
if sys.argv[1] == "start":
    space = load_search_space("smoke").with_options(num_samples={n}, max_concurrent=1)
run_experiment(space, name="killed", storage={storage!r}, mode="sweep", data=data,
               resume=sys.argv[1] == "resume", trial_fn=slow_trial, num_cpus=2, report=False)
'''


def _terminated_search_trials(exp: Path) -> int:
    """TERMINATED trials in the search's saved experiment state (what a restore will keep)."""
    count = 0
    for path in glob.glob(str(exp / "search" / "experiment_state-*.json")):
        try:
            state = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError):
            continue  # being rewritten
        count = max(
            count, sum(json.loads(t[0]).get("status") == "TERMINATED" for t in state["trial_data"])
        )
    return count


def _driver(tmp_path: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), mode],
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{mode}.err", "w"),
    )


def test_sigkilled_sweep_resumes_without_losing_or_repeating_trials(tmp_path: Path):
    log = tmp_path / "calls.log"
    (tmp_path / "driver.py").write_text(
        DRIVER.format(
            tests=str(Path(__file__).parent),
            log=str(log),
            h5=str(tmp_path / "tiny.h5"),
            n=NUM_SAMPLES,
            storage=str(tmp_path),
        )
    )
    exp = tmp_path / "killed"
    proc = _driver(tmp_path, "start")
    deadline = time.monotonic() + 240
    try:
        while _terminated_search_trials(exp) < 2:
            assert proc.poll() is None, (tmp_path / "start.err").read_text()[-3000:]
            assert time.monotonic() < deadline, "the search never finished two trials"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        proc.wait()
    assert not (exp / "results" / "search.jsonl").exists()  # killed mid-search
    before = log.read_text().splitlines()
    assert sum(line.startswith("srgan") for line in before) >= 2
    baseline = (exp / "results" / "baseline.jsonl").read_text()  # finished before the kill

    resumed = _driver(tmp_path, "resume")
    try:
        assert resumed.wait(timeout=300) == 0, (tmp_path / "resume.err").read_text()[-3000:]
    finally:
        if resumed.poll() is None:
            os.killpg(resumed.pid, signal.SIGKILL)
    search = [json.loads(x) for x in (exp / "results" / "search.jsonl").read_text().splitlines()]
    assert len(search) == NUM_SAMPLES  # exactly the requested trials, none lost
    assert {r["status"] for r in search} <= {"ok", "pruned"}  # ASHA may stop the weakest
    # Every search row records its rungs: two for a trial that finished, one for a pruned one.
    assert all(len(r["rungs"]) == (2 if r["status"] == "ok" else 1) for r in search)
    after = log.read_text().splitlines()
    assert (exp / "results" / "baseline.jsonl").read_text() == baseline  # not re-run
    assert len(list((exp / "baseline").glob("trial_*"))) == 1
    search_runs = [line for line in after if line.startswith("srgan") and " 0 " in line]
    # Each search config ran to the end once, except a trial killed while running, which
    # restarts (it had not finished, so nothing finished is repeated).
    assert len(search_runs) <= NUM_SAMPLES + 1
    assert {float(line.split()[-1]) for line in search_runs} == {
        r["config"]["cgan.lr"] for r in search if r["status"] == "ok"
    }
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["phases"]["search"]["trials"] == NUM_SAMPLES and summary["exit_code"] == 0
