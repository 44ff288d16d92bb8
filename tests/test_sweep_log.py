"""The sweep's progress log: plain timestamped lines, one per event, written as they happen.

- A smoke sweep with stderr on a pipe (as under ``nohup`` or a batch job): its lines are read as
  they arrive; each arrives within seconds of its own timestamp, in the order of the sweep, and
  ``--log-file`` holds the same lines.
- The summary line's estimate of the time left, and the bad options, without Ray.

Usage: ``pytest -m ray tests/test_sweep_log.py`` (the sweep), ``pytest tests/test_sweep_log.py -m
'not ray'`` (the rest).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_galaxy10_h5

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00) (.*)$")


def _stamped(line: str) -> tuple[dt.datetime, str]:
    match = STAMP.match(line)
    assert match, f"not a timestamped log line: {line!r}"
    return dt.datetime.fromisoformat(match.group(1)), match.group(2)


def _kind(text: str) -> str:
    """'phase start phase=search trials=2' -> 'phase start search'; 'trial phase=x ...' -> ..."""
    words = text.split()
    if words[0] == "phase":
        return f"phase {words[1]} {words[2].removeprefix('phase=')}"
    if words[0] == "trial":
        return f"trial {words[1].removeprefix('phase=')}"
    return " ".join(words[:2])


def _collapse(kinds: list[str]) -> list[str]:
    """Runs of equal kinds as one (a phase's trials end in any number and order)."""
    return [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]


@pytest.mark.ray
@pytest.mark.slow
def test_a_piped_sweep_writes_its_log_lines_as_they_happen(tmp_path) -> None:
    data = write_galaxy10_h5(
        tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16), size=16
    )
    log_file = tmp_path / "sweep.log"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    env["GALAXYBENCH_HOME"] = str(tmp_path / "home")
    argv = [sys.executable, "-m", "galaxybench", "sweep", "--space", "smoke", "--data", str(data)]
    argv += ["--name", "piped", "--storage", str(tmp_path / "exp"), "--num-cpus", "2"]
    argv += ["--no-report", "--json", "--progress-every", "0.05", "--log-file", str(log_file)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    arrived: list[tuple[float, str]] = []  # (wall-clock time of arrival, line)
    assert proc.stderr is not None and proc.stdout is not None
    for line in iter(proc.stderr.readline, ""):
        arrived.append((time.time(), line.rstrip("\n")))
    out = proc.stdout.read()
    assert proc.wait(timeout=600) == 0, "\n".join(line for _, line in arrived)
    ended = time.time()

    logged = [(t, line) for t, line in arrived if STAMP.match(line)]
    for t, line in logged:  # each line was flushed when its event happened, not at the end
        stamp, _ = _stamped(line)
        assert abs(t - stamp.timestamp()) < 3, line
    kinds = [_kind(_stamped(line)[1]) for _, line in logged]
    events = _collapse([k for k in kinds if not k.startswith("progress")])
    assert events == [
        "sweep start",
        "phase start baseline",
        "trial baseline",
        "phase end baseline",
        "phase start search",
        "trial search",
        "phase end search",
        "phase start confirm",
        "trial confirm",
        "phase end confirm",
        "sweep end",
    ]
    stamped = list(zip(logged, kinds, strict=True))
    first_trial = next(t for (t, _), k in stamped if k.startswith("trial"))
    assert ended - first_trial > 5  # read while the sweep still ran
    start = _stamped(logged[0][1])[1]
    for key in ("space=smoke", f"data={data}", "experiment=", "cpu_per_trial=1", "device=cpu"):
        assert key in start
    trial = next(_stamped(line)[1] for (_, line), k in stamped if k == "trial baseline")
    for key in ("phase=baseline", "id=", "status=ok", "objective=", "compute_s=", "elapsed_s="):
        assert key in trial
    summaries = [_stamped(line)[1] for _, line in logged if "progress phase=" in line]
    assert summaries and all("eta_basis=" in s and "ended=" in s for s in summaries)
    assert any("phase_eta_s=" in s for s in summaries)
    # The same lines in --log-file; stdout is the JSON summary alone.
    assert log_file.read_text().splitlines() == [line for _, line in logged]
    assert json.loads(out)["exit_code"] == 0


def test_the_summary_estimates_the_phase_time_left_from_ended_trials() -> None:
    from galaxybench.cli.sweep_log import SweepLog

    stream = io.StringIO()
    log = SweepLog([stream])
    log.event({"event": "phase_start", "phase": "search", "trials": 8, "elapsed_s": 1.0})
    log.snapshot({"phase": "search", "total": 4, "done": 0, "running": 2, "failed": 0})
    for seconds in (30.0, 50.0, 40.0):
        log.event(
            {"event": "trial", "phase": "search", "trial_id": "t", "status": "ok",
             "objective": 0.5, "trial_s": seconds, "elapsed_s": 60.0}
        )  # fmt: skip
    log.snapshot({"phase": "search", "total": 5, "done": 3, "running": 2, "failed": 0, "best": 0.5})
    eta, basis = log.eta()
    assert eta == pytest.approx(5 * 40 / 2)  # 5 left x median 40 s / 2 at once
    assert basis == "5 trials left x median 40 s per ended trial / 2 at once"
    line = log.summary_line()
    assert "ended=3/8" in line and "ok=3" in line and "phase_eta_s=100" in line
    lines = stream.getvalue().splitlines()
    assert [_stamped(x)[1].split()[0] for x in lines] == ["phase", "trial", "trial", "trial"]


def test_event_lines_quote_values_with_spaces() -> None:
    from galaxybench.cli.sweep_log import event_line

    text = event_line(
        {"event": "trial", "phase": "confirm", "trial_id": "a_1", "row": "srgan off",
         "status": "diverged", "objective": None, "trial_s": 3.25, "reason": "cgan diverged: nan"}
    )  # fmt: skip
    assert text == (
        'trial phase=confirm id=a_1 row="srgan off" status=diverged elapsed_s=3.25 '
        'reason="cgan diverged: nan"'
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--log-file", "."], "--log-file . is a directory; give a file path"),
        (
            ["--log-file", "no/dir/x.log"],
            "--log-file no/dir/x.log: the directory no/dir does not exist",
        ),
        (["--progress-every", "-1"], "--progress-every -1: minutes must be 0 (off) or more"),
    ],
)
def test_bad_log_options_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, message):
    from galaxybench.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["sweep", "--space", "smoke", "--name", "x", "--storage", str(tmp_path), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"galaxybench: error: {message}"]
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_an_ended_trial_is_told_by_its_last_result() -> None:
    from types import SimpleNamespace

    from galaxybench.sweep.progress import trial_outcome

    def trial(last_result):
        return SimpleNamespace(trial_id="t1", config={"row": "top-1"}, last_result=last_result)

    payload = json.dumps({"compute_seconds_total": 12.5})
    ok = trial_outcome(
        "confirm",
        trial({"status": "ok", "val_minority_f1": 0.5, "trial_result_json": payload,
               "time_total_s": 14.0}),
    )  # fmt: skip
    assert ok == {
        "phase": "confirm",
        "trial_id": "t1",
        "row": "top-1",
        "status": "ok",
        "objective": 0.5,
        "compute_s": 12.5,
        "trial_s": 14.0,
        "reason": "",
    }
    diverged = trial_outcome("search", trial({"status": "diverged", "reason": "cgan: nan"}))
    assert diverged["status"] == "diverged" and diverged["objective"] is None
    assert diverged["reason"] == "cgan: nan"
    stopped = trial_outcome("search", trial({"val_minority_f1_step": 0.3, "training_iteration": 2}))
    assert stopped["status"] == "pruned" and stopped["objective"] is None
    crashed = trial_outcome("search", trial(None), error="RuntimeError: boom")
    assert crashed["status"] == "failed" and crashed["reason"] == "RuntimeError: boom"
