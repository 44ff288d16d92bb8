"""The report's headrooms, captured fractions, oracle-rebalancer counts and MDE beside the
finding, on the small fixture with an oracle rebalancer row added."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import scipy.stats

from galaxybench import results
from galaxybench.protocol import ROW_ORACLE_REBALANCER
from galaxybench.report import build_report, power

FIXTURE = Path(__file__).parent / "fixtures" / "experiment_small"
BASE = {100: 0.40, 101: 0.42, 102: 0.38}  # the fixture's baseline, by seed


def _with_oracle_rebalancer(tmp_path: Path, gains: tuple[float, ...]) -> Path:
    exp = tmp_path / "exp"
    shutil.copytree(FIXTURE, exp)
    path = exp / "results" / "confirm.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    for r in [r for r in recs if r["row"] == "oversample"]:
        o = copy.deepcopy(r)
        o["row"] = ROW_ORACLE_REBALANCER
        o["config"]["rebalance.method"] = "oracle"
        o["minority_f1"] = round(BASE[o["seed"]] + gains[o["seed"] - 100], 4)
        o[results.PLANNED_PER_CLASS] = {"Disturbed": 20, "Edge-on, boxy": 31 + o["seed"] % 2}
        o[results.ADDED_PER_CLASS] = {"Disturbed": 8, "Edge-on, boxy": 5}
        recs.append(o)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return exp


def _lines(exp: Path, out: Path) -> dict[str, str]:
    md = (build_report(exp, out) / "leaderboard.md").read_text().splitlines()
    return {
        k: next(x for x in md if x.startswith(k)) for k in ("Finding:", "Headroom:", "Captured:")
    }


def test_both_headrooms_counts_captured_fractions_and_mde(tmp_path):
    lines = _lines(_with_oracle_rebalancer(tmp_path, (0.08, 0.06, 0.07)), tmp_path / "out")
    head = lines["Headroom:"]
    low, high = scipy.stats.t.interval(0.95, 2, loc=0.07, scale=scipy.stats.sem([0.08, 0.06, 0.07]))
    assert f"Oracle rebalancer minus baseline +0.070 [{low:+.3f}, {high:+.3f}] at n = 3" in head
    assert "a rebalancer can show an effect" in head
    assert "Disturbed 8 of 20 planned, Edge-on, boxy 5 of 31-32 planned" in head
    cap = lines["Captured:"]
    # top-1 gains 0.07, 0.04, 0.07 (mean 0.06): 0.06 / 0.07 of the rebalancing headroom, and
    # 0.06 / 0.10333 of the upscaling one (oracle upscaler gains 0.10, 0.10, 0.11)
    assert cap.startswith("Captured: top-1 +0.86 [")
    assert "of the rebalancing headroom, +0.58 [" in cap
    assert "srgan off" in cap and "cgan off" in cap and "Fieller" in cap
    # The finding compares top-1 with oversample: differences 0.05, 0.04, 0.05, sd 0.0057735;
    # (t_{0.975,2} 4.302653 + t_{0.8,2} 1.060660) x 0.0057735 / sqrt(3) = 0.017878
    assert "Effects smaller than +0.018 cannot be resolved at n = 3" in lines["Finding:"]
    assert power.mde(float(np.std([0.05, 0.04, 0.05], ddof=1)), 3) == pytest_approx(0.017878)


def pytest_approx(x: float):
    import pytest

    return pytest.approx(x, abs=2e-6)


def test_captured_fraction_undefined_when_the_headroom_is_within_noise(tmp_path):
    lines = _lines(_with_oracle_rebalancer(tmp_path, (0.12, -0.02, 0.05)), tmp_path / "out")
    assert "within noise: no rebalancer can show an effect" in lines["Headroom:"]
    cap = lines["Captured:"]
    assert "top-1 undefined for the rebalancing headroom (not resolved at n = 3)" in cap
    # mean +0.05 beats oversampling (+0.013), but a bound is never the classical row
    assert "oracle rebalancer" not in lines["Finding:"]
