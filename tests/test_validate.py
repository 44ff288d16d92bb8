"""``galaxybench validate``: the control rows, their statistics, and the CLI end to end.

Usage: ``pytest tests/test_validate.py -m 'not ray'`` (no Ray), ``-m ray`` (the CLI on a tiny file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_galaxy10_h5

from galaxybench import protocol, results
from galaxybench.report import controls, power
from galaxybench.sweep import plan

ROOT = Path(__file__).resolve().parents[1]
BASELINE = {"upscale.method": "bicubic", "rebalance.method": "none", "rebalance.threshold": 0.6}


def test_control_points_pair_each_control_with_the_baselines_split():
    points = plan.control_points(BASELINE, (1, 2))
    got = [(p["row"], p["seed"], p["data.split_seed"]) for p in points]
    other = protocol.ROW_BASELINE_OTHER_SEED
    assert got == [
        (protocol.ROW_BASELINE_AGAIN, 1, 1),
        (protocol.ROW_BASELINE_AGAIN, 2, 2),
        (other, 1 + protocol.CONTROL_SEED_OFFSET, 1),
        (other, 2 + protocol.CONTROL_SEED_OFFSET, 2),
        (protocol.ROW_ORACLE, 1, 1),
        (protocol.ROW_ORACLE, 2, 2),
        (protocol.ROW_ORACLE_REBALANCER, 1, 1),
        (protocol.ROW_ORACLE_REBALANCER, 2, 2),
    ]
    by_row = {p["row"]: p for p in points}
    assert {k: by_row[protocol.ROW_BASELINE_AGAIN][k] for k in BASELINE} == BASELINE
    assert by_row[protocol.ROW_ORACLE]["upscale.method"] == "oracle"
    assert by_row[protocol.ROW_ORACLE_REBALANCER]["rebalance.method"] == "oracle"


def _rows(row: str, scores: dict[int, float]) -> list[dict]:
    return [
        {
            "row": row,
            "seed": s,
            "split_seed": s,
            "status": results.STATUS_OK,
            results.MINORITY_F1: f1,
            "config": {"data.split_seed": s},
        }
        for s, f1 in scores.items()
    ]


BASE = {1: 0.40, 2: 0.42, 3: 0.38, 4: 0.41}


def _confirm(again: dict[int, float]) -> list[dict]:
    return [
        *_rows(protocol.ROW_BASELINE_AGAIN, again),
        *_rows(protocol.ROW_BASELINE_OTHER_SEED, {1: 0.43, 2: 0.40, 3: 0.40, 4: 0.39}),
        *_rows(protocol.ROW_ORACLE, {1: 0.50, 2: 0.51, 3: 0.49, 4: 0.50}),
        *_rows(protocol.ROW_ORACLE_REBALANCER, {1: 0.45, 2: 0.44, 3: 0.42, 4: 0.46}),
    ]


def test_controls_by_hand():
    out = controls.controls(
        _rows(protocol.ROW_BASELINE, BASE), _confirm(BASE), effect=0.05, n_seeds=5
    )
    again, other, oracle, _ = out["controls"]
    assert out["negative_exact"] and again["exact_zero"]
    assert (again["mean"], again["ci_low"], again["ci_high"], again["sd"]) == (0.0, 0.0, 0.0, 0.0)
    # another seed: differences +0.03, -0.02, +0.02, -0.02: mean +0.0025, sd 0.0262996
    d = np.array([0.03, -0.02, 0.02, -0.02])
    assert other["n"] == 4 and other["mean"] == pytest.approx(0.0025)
    assert other["sd"] == pytest.approx(0.0262996, abs=1e-7)
    # MDE at the space's n = 5: (2.776445 + 0.940965) x 0.0262996 / sqrt(5) = 0.0437227
    assert other["mde"] == pytest.approx(0.0437227, abs=1e-6)
    # seeds for +0.05: n = 4 gives (3.182446 + 0.978472) x 0.0262996 / 2 = 0.0547 > 0.05, n = 5
    # gives 0.0437 (above): 5
    assert other["seeds_needed"] == power.seeds_needed(float(np.std(d, ddof=1)), 0.05) == 5
    # oracle upscaler: +0.10, +0.09, +0.11, +0.09: the interval excludes 0
    assert oracle["mean"] == pytest.approx(0.0975) and oracle["ci_low"] > 0


def test_negative_control_flags_any_nonzero_difference():
    again = {**BASE, 3: 0.38 + 1e-12}
    out = controls.controls(
        _rows(protocol.ROW_BASELINE, BASE), _confirm(again), effect=0.05, n_seeds=5
    )
    assert not out["negative_exact"]
    missing = {k: v for k, v in BASE.items() if k != 4}  # a seed without its repeat
    out = controls.controls(
        _rows(protocol.ROW_BASELINE, BASE), _confirm(missing), effect=0.05, n_seeds=5
    )
    assert not out["negative_exact"]


def _validate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    env["GALAXYBENCH_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-m", "galaxybench", "validate", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )


def test_bad_effect_is_one_line(tmp_path):
    proc = _validate(tmp_path, "--effect", "0", "--space", "smoke")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "galaxybench: error: --effect must be a minority-F1 difference > 0, got 0.0"
    ]


@pytest.mark.ray
def test_validate_end_to_end_on_a_tiny_file(tmp_path):
    data = write_galaxy10_h5(
        tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16), size=16
    )
    smoke = yaml.safe_load((ROOT / "galaxybench" / "search_spaces" / "smoke.yaml").read_text())
    smoke["seeds"] = {"search": 0, "confirm": [1, 2]}  # two seeds: an interval and an MDE
    space = tmp_path / "smoke2.yaml"
    space.write_text(yaml.safe_dump(smoke))
    proc = _validate(
        tmp_path,
        "--space",
        str(space),
        "--data",
        str(data),
        "--storage",
        str(tmp_path / "exp"),
        "--num-cpus",
        "2",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    rows = [c["row"] for c in out["controls"]]
    assert rows == [row for row, _, _ in controls.CONTROLS]
    again, other, oracle, rebalancer = out["controls"]
    assert out["negative_exact"] and again["exact_zero"] and again["mean"] == 0.0
    assert all(c["n"] == 2 for c in out["controls"])
    for c in (other, oracle, rebalancer):
        assert c["mde"] == pytest.approx(power.mde(c["sd"], 2))
    assert out["n_seeds"] == 2 and out["effect"] == 0.05
    assert out["methods"]["mde"] == power.mde_label()
    counts = out["oracle_rebalancer_counts"]
    assert len(counts) == 2 and all(e["added"] for e in counts)
    # the trials ran through the sweep's phases: results/<phase>.jsonl of both
    exp = Path(out["experiment_dir"])
    confirm = plan.read_rows(exp / "results" / "confirm.jsonl")
    assert len(confirm) == 8 and all(r["status"] == results.STATUS_OK for r in confirm)
    assert len(plan.read_rows(exp / "results" / "baseline.jsonl")) == 2
