"""A tiny real sweep with a budget ladder (the smoke space) under Ray: every rung is recorded.

Usage: ``pytest -m ray tests/test_ladder_sweep.py``.
"""

from __future__ import annotations

import os

os.environ["RAY_AUTH_MODE"] = "disabled"  # before anything imports Ray

import json
from pathlib import Path

import pytest
import ray  # noqa: F401  (a hard dependency: a broken Ray fails, never skips)
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import DataConfig
from galaxybench.sweep import run_experiment
from galaxybench.sweep.space import load_search_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_smoke_sweep_climbs_the_ladder_and_records_every_rung(tmp_path: Path):
    from ray.tune import ExperimentAnalysis

    from galaxybench.data import prepare

    data = prepare(
        write_galaxy10_h5(tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16)),
        DataConfig(hr_size=16),
    )
    space = load_search_space("smoke")
    assert space.search.ladder == (0.5, 1.0)
    summary = run_experiment(
        space, name="ladder", storage=tmp_path, data=data, num_cpus=2, report=False
    )
    exp = tmp_path / "ladder"
    search = [json.loads(x) for x in (exp / "results" / "search.jsonl").read_text().splitlines()]
    assert len(search) == 2
    for row in search:
        rungs = row[results.RUNGS]
        assert [r[results.RUNG] for r in rungs] == list(range(1, len(rungs) + 1))
        assert [r[results.BUDGET_FRACTION] for r in rungs] == [0.5, 1.0][: len(rungs)]
        assert all(isinstance(r[results.OBJECTIVE], float) for r in rungs)
        assert row[results.COMPUTE_SECONDS_TOTAL] == pytest.approx(
            sum(sum(r[results.COMPUTE_SECONDS].values()) for r in rungs), abs=0.01
        )
    # ASHA never stops the first trial to reach a rung (nothing to compare it with yet), and the
    # smoke space's seeds are fixed, so at least one trial climbs both rungs and finishes: the
    # promotion checks below always run.
    ok = [r for r in search if r["status"] == results.STATUS_OK]
    assert ok, [r["status"] for r in search]
    for row in ok:
        rungs = row[results.RUNGS]
        assert len(rungs) == 2 and results.MINORITY_F1 in row  # test metrics: last rung only
        assert row[results.OBJECTIVE] == rungs[-1][results.OBJECTIVE]
        # Promoted: the SRGAN went on from the half-budget checkpoint (position 1 of 2).
        assert rungs[1][results.GAN_EPOCHS]["srgan"]["start"] >= 1
    # Ray Tune itself holds one result per rung climbed (ASHA's time: results.BUDGET, 1 then 2).
    analysis = ExperimentAnalysis(str(exp / "search"))
    for trial_id, frame in analysis.trial_dataframes.items():
        assert list(frame[results.RUNG]) == list(range(1, len(frame) + 1)), trial_id
        assert list(frame[results.BUDGET]) == [1.0, 2.0][: len(frame)]
    # The search's own anytime curve: one point per trial in finishing order, ending at the
    # compute of all of them; the choice is the best finished trial by validation objective.
    from galaxybench.report.anytime import sweep_points

    assert all(isinstance(r[results.FINISHED_AT], float) for r in search)
    points = sweep_points(search)
    assert len(points) == 2
    assert points[-1][0] == pytest.approx(sum(r[results.COMPUTE_SECONDS_TOTAL] for r in search))
    best = max(ok, key=lambda r: r[results.OBJECTIVE])
    assert points[-1][1:] == (best[results.OBJECTIVE], best[results.MINORITY_F1])
    compute = summary["phases"]["search"]["compute"]
    assert compute[results.GAN_EPOCHS_TRAINED] <= compute["gan_epochs_full_budget"]
    assert compute["exhaustive_full_budget_seconds"] > 0 and summary["compute"]
    assert summary["exit_code"] == 0


# Validation objective of each cGAN learning rate at each rung (a hand-made table).
TABLE = {0.001: {0.5: 0.5, 1.0: 0.55}, 0.002: {0.5: 0.4, 1.0: 0.9}, 0.003: {0.5: 0.6, 1.0: 0.7}}


def _table_trial(calls: Path):
    """A fake trial reading TABLE; logs 'lr fraction' per call."""

    def trial(cfg, data, report=None, **kwargs):
        from galaxybench.config import to_flat

        fraction = kwargs.get("budget_fraction", 1.0)
        value = TABLE.get(cfg.cgan.lr, {}).get(fraction, 0.3)
        with open(calls, "a") as f:
            f.write(f"{cfg.cgan.lr} {fraction}\n")
        return results.TrialResult(
            status=results.STATUS_OK,
            config=to_flat(cfg),
            seed=cfg.seed,
            metrics={
                results.OBJECTIVE: value,
                results.MINORITY_F1: value,
                results.COMPUTE_SECONDS: {"other": fraction},
            },
        )

    return trial


def _table_sweep(tmp_path: Path, name: str, **search) -> list[dict]:
    """A grid search over TABLE's learning rates on the ladder 0.5, 1 (reduction factor 2), run
    under Ray with the table trial; its search rows."""
    from galaxybench.data import prepare
    from galaxybench.sweep.space import parse_search_space

    data = prepare(write_galaxy10_h5(tmp_path / "tiny.h5"), DataConfig(hr_size=16))
    space = parse_search_space(
        {
            "base": {"profile": "smoke", "set": {"rebalance.method": "cgan"}},
            "params": {"cgan.lr": {"grid": list(TABLE)}},
            "search": {
                "algorithm": "grid",
                "max_concurrent": 1,
                "reduction_factor": 2,
                "ladder": [0.5, 1.0],
                **search,
            },
            "seeds": {"search": 0, "confirm": [1]},
        }
    )
    run_experiment(
        space,
        name=name,
        storage=tmp_path,
        data=data,
        num_cpus=2,
        report=False,
        trial_fn=_table_trial(tmp_path / "calls.log"),
    )
    path = tmp_path / name / "results" / "search.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_asha_promotes_and_stops_on_the_rung_results(tmp_path: Path):
    rows = _table_sweep(tmp_path, "table", num_samples=1)
    status = {r["config"]["cgan.lr"]: r["status"] for r in rows}
    # In order: 0.001 is alone at rung 1 (promoted), 0.002 is below the median of {0.5, 0.4}
    # (stopped), 0.003 is above the median of {0.5, 0.4, 0.6} (promoted).
    assert status == {0.001: "ok", 0.002: "pruned", 0.003: "ok"}
    by_lr = {r["config"]["cgan.lr"]: r for r in rows}
    assert by_lr[0.003][results.OBJECTIVE] == 0.7 and len(by_lr[0.002][results.RUNGS]) == 1
    calls = (tmp_path / "calls.log").read_text().split("\n")
    assert "0.002 1.0" not in calls  # a stopped trial never pays for its full budget


def test_hyperband_runs_the_ladder_under_ray_and_never_pays_a_stopped_trials_full_rung(
    tmp_path: Path,
):
    rows = _table_sweep(tmp_path, "hb", num_samples=2, scheduler="hyperband")
    assert len(rows) == 6 and {r["status"] for r in rows} <= {"ok", "pruned"}
    assert any(r["status"] == "ok" for r in rows)
    for r in rows:  # every trial reported its rungs in order; a stopped one only rung 1
        assert [x[results.RUNG] for x in r[results.RUNGS]] == [1, 2][: len(r[results.RUNGS])]
        assert len(r[results.RUNGS]) == (1 if r["status"] == "pruned" else 2)
    # Six search trials each ran rung 1 once (the ladder is the search's only: baseline and
    # confirmation runs are single full-budget passes).
    fractions = (tmp_path / "calls.log").read_text().split()[1::2]
    assert fractions.count("0.5") == 6
