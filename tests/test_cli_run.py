"""End to end through the CLI: `galaxybench run` on a tiny Galaxy10-format file."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_galaxy10_h5

from galaxybench import results

COUNTS = (30, 30, 26, 24, 9, 26, 22, 20, 12, 10)


def _run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "galaxybench", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_galaxy10_h5(tmp_path_factory.mktemp("cli") / "tiny.h5", counts=COUNTS, size=16)


def test_run_writes_metrics_and_predictions_reproducibly(tiny, tmp_path) -> None:
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        proc = _run(
            "run",
            "--profile",
            "smoke",
            "--data",
            str(tiny),
            "--out",
            str(out),
            "--set",
            "rebalance.method=oversample",
            "--seed",
            "4",
            "--no-cache",
            "--json",
        )
        assert proc.returncode == 0, proc.stderr
        printed = json.loads(proc.stdout)
        metrics = json.loads((out / "metrics.json").read_text())
        assert printed[results.MINORITY_F1] == metrics[results.MINORITY_F1]
        outs.append((metrics, (out / "predictions.csv").read_text()))
        assert f"data: {tiny}" in proc.stderr or str(tiny) in proc.stderr
    (m0, p0), (m1, p1) = outs
    for m in (m0, m1):
        m.pop(results.STAGE_SECONDS)
        for key in ("compute_seconds", "compute_seconds_total"):  # timings too
            m.pop(key, None)
        m["provenance"].pop("git_revision")  # others may commit between the two runs
    assert m0 == m1 and p0 == p1  # identical on a CPU but for timings
    for key in (
        results.MINORITY_F1,
        results.MINORITY_F1_DELTA,
        results.MACRO_F1,
        results.ACCURACY,
        results.BALANCED_ACCURACY,
        results.PER_CLASS_F1,
        results.MINORITY_CLASSES,
        results.AUGMENTED_CLASSES,
        results.N_SYNTHETIC,
        "config",
        "seed",
        "data_fingerprint",
        "provenance",
    ):
        assert key in m0
    assert m0["seed"] == 4 and m0["config"]["rebalance.method"] == "oversample"
    rows = list(csv.DictReader(p0.splitlines()))
    assert list(rows[0]) == ["index", "label", "prediction"]
    labels = np.array([int(r["label"]) for r in rows])
    preds = np.array([int(r["prediction"]) for r in rows])
    assert m0[results.ACCURACY] == pytest.approx(float((labels == preds).mean()))
    assert (tmp_path / "run0" / "sr_strip.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (("--set", "cgan.lrr=1"), "unknown config key 'cgan.lrr'"),
        (("--set", "cgan.lr=fast"), "config key 'cgan.lr' must be a number"),
        (("--set", "upscale.method=magic"), "upscale.method must be one of"),
        (("--profile", "nope"), "unknown profile 'nope'"),
        (("--data", "/nonexistent/file.h5"), "/nonexistent/file.h5"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny, tmp_path, args, message) -> None:
    base = ["run", "--profile", "smoke", "--data", str(tiny), "--out", str(tmp_path / "o")]
    proc = _run(*base, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_diverged_run_exits_3_with_one_line(tiny, tmp_path) -> None:
    proc = _run(
        "run",
        "--profile",
        "smoke",
        "--data",
        str(tiny),
        "--no-cache",
        "--set",
        "rebalance.method=cgan",
        "--set",
        "cgan.lr=1.0e+30",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert proc.returncode == 3
    assert "diverged" in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
    printed = json.loads(proc.stdout)  # --json: the outcome on stdout all the same
    assert printed["status"] == "diverged" and "diverged" in printed["reason"]
    assert printed["stage"] == "rebalance"  # the cGAN trains in the rebalance stage


def test_run_json_prints_a_failed_trial_with_its_stage_and_keeps_the_exit_code(
    tiny, monkeypatch, capsys
) -> None:
    import errno

    import galaxybench.trial
    from galaxybench.cli import main

    def full_disk(cfg, data, report=None, on_stage=None, **kwargs):
        on_stage("upscale")
        raise OSError(errno.ENOSPC, "No space left on device", "/cache/x.pt")

    monkeypatch.setattr(galaxybench.trial, "evaluate_trial", full_disk)
    assert main(["run", "--profile", "smoke", "--data", str(tiny), "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "status": "failed",
        "reason": "No space left on device (ENOSPC): /cache/x.pt",
        "stage": "upscale",
    }
    assert err.strip().splitlines()[-1].startswith("galaxybench: error: No space left")
    # Bad input before any stage: JSON too, exit 2 as without --json.
    assert main(["run", "--profile", "nope", "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "failed" and json.loads(out)["stage"] is None
    assert "unknown profile 'nope'" in json.loads(out)["reason"]


def test_an_inert_setting_gets_one_warning_naming_the_method_that_reads_it(tiny) -> None:
    """cgan.lr without the cGAN does nothing: one warning line; focal_gamma with focal is read."""
    proc = _run(
        "run",
        "--profile",
        "smoke",
        "--data",
        str(tiny),
        "--set",
        "cgan.lr=1e-4",
        "--set",
        "classifier.loss=focal",
        "--set",
        "classifier.focal_gamma=1.5",
    )
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: cgan.lr has no effect: it is read only when rebalance.method is cgan (here: none)"
    ]
    assert "warning" not in proc.stdout
