"""Fault injection on a local sweep: a trial's worker SIGKILLed mid-stage; a full results disk.

- A trial function kills its own worker process (SIGKILL) in the middle of its first search
  attempt: Ray Tune retries the trial (``search.max_failures``) and every trial is accounted for.
- The write of ``results/search.jsonl`` raises ENOSPC (a patched write; making a small tmpfs
  needs root): the sweep stops with one line, keeps the baseline's results, and ``--resume``
  completes it without re-running them.

Each sweep starts its own private local Ray. Usage: ``pytest -m ray tests/test_sweep_faults.py``.
"""

from __future__ import annotations

import os

os.environ["RAY_AUTH_MODE"] = "disabled"  # before anything imports Ray

import errno
import functools
import json
from pathlib import Path

import pytest
import ray  # noqa: F401  (a hard dependency: a broken Ray fails, never skips)
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import DataConfig, to_flat
from galaxybench.sweep.space import load_search_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from galaxybench.data import prepare

    folder = tmp_path_factory.mktemp("data")
    path = write_galaxy10_h5(folder / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    return prepare(path, DataConfig(hr_size=16))


def _logging_trial(log_dir: str, kill_first_search: bool):
    """A stand-in trial that logs each call; may SIGKILL its first search call."""

    def trial(cfg, data, report=None, **kwargs):
        import signal
        import uuid

        from ray import tune

        ctx = tune.get_context()
        phase, trial_id = ctx.get_experiment_name(), ctx.get_trial_id()
        log = Path(log_dir)
        (log / f"{phase}-{trial_id}-{uuid.uuid4().hex[:6]}.call").write_text(str(os.getpid()))
        report({results.EPOCH: 1, results.OBJECTIVE: 0.25})  # the first epoch of the stage is done
        marker = log / "killed"
        if kill_first_search and phase == "search" and not marker.exists():
            marker.write_text(trial_id)
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-stage, nothing cleaned up
        return results.TrialResult(
            status=results.STATUS_OK,
            config=to_flat(cfg),
            seed=cfg.seed,
            metrics={results.OBJECTIVE: cfg.cgan.lr, results.MINORITY_F1: 0.4},
        )

    return trial


def _calls(log: Path, phase: str) -> list[str]:
    return [p.name.split("-")[1] for p in log.glob(f"{phase}-*.call")]


def _lines(exp: Path, phase: str) -> list[dict]:
    return [json.loads(x) for x in (exp / "results" / f"{phase}.jsonl").read_text().splitlines()]


def test_sigkilled_trial_worker_is_retried_and_every_trial_accounted_for(tmp_path: Path, data):
    from galaxybench.sweep import run_experiment

    log = tmp_path / "log"
    log.mkdir()
    space = load_search_space("smoke").with_options(num_samples=3)
    summary = run_experiment(
        space,
        name="killed",
        storage=tmp_path,
        data=data,
        num_cpus=2,
        trial_fn=_logging_trial(str(log), kill_first_search=True),
        report=False,
    )
    killed = (log / "killed").read_text()
    exp = tmp_path / "killed"
    search = _lines(exp, "search")
    # Every trial has its line, none failed (ASHA may stop the weakest on the ladder's rung).
    assert len(search) == 3 and {r["status"] for r in search} <= {"ok", "pruned"}
    assert killed in {r["trial_id"] for r in search}  # the killed trial ended on its retry
    calls = _calls(log, "search")
    assert calls.count(killed) >= 2  # the SIGKILLed attempt, then the retry
    assert summary["phases"]["search"]["trials"] == 3 and summary["failed"] == 0
    assert summary["exit_code"] == 0
    assert all(r["status"] == "ok" for r in _lines(exp, "baseline") + _lines(exp, "confirm"))


def test_full_disk_stops_with_one_line_keeps_results_and_resume_completes(
    tmp_path: Path, data, monkeypatch, capsys
):
    import galaxybench.sweep as sweep_pkg
    from galaxybench.cli import main
    from galaxybench.sweep import plan
    from galaxybench.sweep.experiment import run_experiment

    log = tmp_path / "log"
    log.mkdir()
    # The CLI runs the real experiment, on the prepared data and the stand-in trial.
    monkeypatch.setattr(
        sweep_pkg,
        "run_experiment",
        functools.partial(
            run_experiment, data=data, trial_fn=_logging_trial(str(log), kill_first_search=False)
        ),
    )
    real_write = plan.atomic_write_text

    def full_disk(path, text):
        if Path(path).name == "search.jsonl":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write(path, text)

    monkeypatch.setattr(plan, "atomic_write_text", full_disk)
    argv = [
        "sweep",
        "--space",
        "smoke",
        "--name",
        "full",
        "--storage",
        str(tmp_path),
        "--num-samples",
        "2",
        "--num-cpus",
        "2",
        "--no-report",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    exp = tmp_path / "full"
    assert err.strip().splitlines()[-1] == (
        f"galaxybench: error: No space left on device (ENOSPC): {exp / 'results' / 'search.jsonl'}"
    )
    baseline = (exp / "results" / "baseline.jsonl").read_bytes()  # written before: kept
    assert not (exp / "results" / "search.jsonl").exists()
    assert not list((exp / "results").glob(".*.tmp"))  # no temp file left behind
    baseline_calls = len(_calls(log, "baseline"))
    search_calls = len(_calls(log, "search"))

    monkeypatch.setattr(plan, "atomic_write_text", real_write)  # space freed
    assert (
        main(
            [
                "sweep",
                "--name",
                "full",
                "--storage",
                str(tmp_path),
                "--resume",
                "--num-cpus",
                "2",
                "--no-report",
            ]
        )
        == 0
    )
    assert (exp / "results" / "baseline.jsonl").read_bytes() == baseline
    assert len(_calls(log, "baseline")) == baseline_calls  # not re-run
    assert len(_calls(log, "search")) == search_calls  # finished trials restored, not re-run
    assert len(_lines(exp, "search")) == 2
    assert {r["status"] for r in _lines(exp, "search")} <= {"ok", "pruned"}
    assert all(r["status"] == "ok" for r in _lines(exp, "confirm"))
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["phases"]["search"]["trials"] == 2
