"""The sweep's pure planning: confirm rows, top-k, results lines from Tune results (Ray-free).

Usage: ``pytest tests/test_sweep_plan.py``.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

from galaxybench import protocol, results
from galaxybench.config import from_flat, load_profile, to_flat
from galaxybench.sweep import plan

BASE = {k: v for k, v in to_flat(load_profile("smoke")).items() if k != "seed"}
BASELINE = {**BASE, **protocol.BASELINE}
BEST = {
    **BASE,
    "upscale.method": "srgan",
    "rebalance.method": "cgan",
    "cgan.lr": 1.0e-3,
    "rebalance.threshold": 0.5,
}


def _row(tid: str, value: float, status: str = results.STATUS_OK, **change) -> dict:
    flat = {**BEST, **change, "seed": 0}
    return {
        "trial_id": tid,
        "status": status,
        results.OBJECTIVE: value,
        "config": flat,
        "config_id": plan.config_id(flat),
    }


def test_confirm_points_rows_seeds_and_changes():
    second = {**BEST, "cgan.lr": 1.0e-4}
    points = plan.confirm_points(BEST, [BEST, second], BASELINE, (1, 2))
    rows = [p["row"] for p in points]
    expected = [
        "top-1",
        "top-2",
        "srgan off",
        "cgan off",
        "oversample",
        "weighted_ce",
        "dihedral",
        "oracle",
        "oracle rebalancer",
        "oracle + best rebalancer",
    ]
    assert rows == [r for r in expected for _ in (1, 2)]
    assert {p["seed"] for p in points} == {1, 2}
    # Every confirm run draws the split of its seed (the baseline does too: paired by seed).
    assert all(p["data.split_seed"] == p["seed"] for p in points)
    by_row = {p["row"]: p for p in points}
    assert by_row["srgan off"]["upscale.method"] == "bicubic"
    assert by_row["srgan off"]["rebalance.method"] == "cgan"
    assert by_row["cgan off"]["rebalance.method"] == "none"
    assert by_row["cgan off"]["upscale.method"] == "srgan"
    assert by_row["oversample"]["rebalance.method"] == "oversample"
    assert by_row["oversample"]["rebalance.threshold"] == 0.5  # the best config's threshold
    assert by_row["weighted_ce"]["classifier.loss"] == "weighted_ce"
    assert by_row["dihedral"]["classifier.augment"] == "dihedral"
    assert by_row["oracle"]["upscale.method"] == "oracle"
    assert by_row["oracle"]["rebalance.method"] == "none"
    # The rebalancing bound: the baseline plus withheld real images, at the best config's plan.
    orb = by_row["oracle rebalancer"]
    assert (orb["rebalance.method"], orb["upscale.method"], orb["rebalance.threshold"]) == (
        "oracle",
        "bicubic",
        0.5,
    )
    # The pipeline's bound: true HR with the best config's rebalancer (method, plan and cGAN).
    ob = by_row["oracle + best rebalancer"]
    assert ob["upscale.method"] == "oracle"
    assert {k: ob[k] for k in ("rebalance.method", "rebalance.threshold", "cgan.lr")} == {
        "rebalance.method": "cgan",
        "rebalance.threshold": 0.5,
        "cgan.lr": 1.0e-3,
    }
    for p in points:  # every point is a valid config
        from_flat({k: v for k, v in p.items() if k != "row"})


def test_confirm_points_drop_rows_equal_to_earlier_ones_or_the_baseline():
    best = {**BASE, "upscale.method": "srgan", "rebalance.method": "none"}  # no cGAN
    rows = [p["row"] for p in plan.confirm_points(best, [best], BASELINE, (1,))]
    assert "cgan off" not in rows  # identical to top-1
    best = dict(BASELINE)  # the search found the baseline itself
    rows = [p["row"] for p in plan.confirm_points(best, [best], BASELINE, (1,))]
    assert "top-1" not in rows and "srgan off" not in rows and "cgan off" not in rows
    # Without rebalancing, "oracle + best rebalancer" trains what "oracle" trains (SRGAN keys are
    # unused under the oracle): run once.
    best = {**BASE, "upscale.method": "srgan", "rebalance.method": "none", "srgan.depth": 3}
    rows = [p["row"] for p in plan.confirm_points(best, [best], BASELINE, (1,))]
    assert "oracle" in rows and "oracle + best rebalancer" not in rows


def test_baseline_points_and_ids_pair_replicates_by_seed_and_split():
    points = plan.baseline_points(BASELINE, (1, 2, 3))
    assert [(p["row"], p["seed"], p["data.split_seed"]) for p in points] == [
        ("baseline", s, s) for s in (1, 2, 3)
    ]
    # The replicates of one config (seed and split) share its id; the search's rows too.
    assert len({plan.config_id(p) for p in points}) == 1
    assert plan.config_id(points[0]) == plan.config_id({**BASELINE, "seed": 0})
    line = plan.row_of(_result({}, error=RuntimeError("x")), "search")
    assert line["split_seed"] == BEST["data.split_seed"]  # the search's fixed split
    conf = SimpleNamespace(
        metrics={},
        error=RuntimeError("x"),
        path="/x/confirm/trial_1",
        config=plan.confirm_point(BEST, "top-1", 4),
    )
    assert plan.row_of(conf, "confirm")["split_seed"] == 4


def test_top_configs_rank_ok_distinct_configs():
    rows = [
        _row("a", 0.5),
        _row("b", 0.7, **{"cgan.lr": 2.0e-3}),
        _row("c", 0.9, results.STATUS_FAILED),
        _row("d", 0.6),
        _row("e", 0.4, results.STATUS_PRUNED, **{"cgan.lr": 5.0e-3}),
        _row("f", 0.3, **{"cgan.lr": 3.0e-3}),
    ]
    top = plan.top_configs(rows, 3)
    assert [t["cgan.lr"] for t in top] == [2.0e-3, 1.0e-3, 3.0e-3]  # d repeats a's config
    assert all("seed" not in t for t in top)
    assert plan.top_configs([_row("c", 0.9, results.STATUS_DIVERGED)], 2) == []


def test_phase_stats_counts_each_status():
    rows = [{"status": s} for s in ("ok", "ok", "diverged", "failed", "pruned")]
    assert plan.phase_stats(rows, 12.345) == {
        "trials": 5,
        "ok": 2,
        "diverged": 1,
        "failed": 1,
        "pruned": 1,
        "seconds": 12.35,
    }


def _result(metrics: dict, error=None, row: str = "search") -> SimpleNamespace:
    return SimpleNamespace(
        metrics=metrics,
        error=error,
        config={**BEST, "seed": 3, "row": row},
        path="/x/search/trial_abc123",
    )


def test_row_of_ok_failed_pruned_and_metricless_results():
    done = results.TrialResult(
        status="ok",
        metrics={"minority_f1": 0.4, results.OBJECTIVE: 0.5},
        config={**BEST, "seed": 3},
        seed=3,
    ).to_dict()
    line = plan.row_of(
        _result({results.RESULT_JSON: json.dumps(done), "trial_id": "abc123", "time_total_s": 4.5}),
        "search",
    )
    assert line["status"] == "ok" and line["minority_f1"] == 0.4
    assert (line["phase"], line["row"], line["trial_id"], line["time_total_s"]) == (
        "search",
        "search",
        "abc123",
        4.5,
    )
    assert line["config_id"] == plan.config_id({**BEST, "seed": 99})  # seeds share a config id
    failed = plan.row_of(_result({}, error=RuntimeError("boom\nValueError: bad things")), "confirm")
    assert failed["status"] == "failed" and "bad things" in failed["reason"]
    assert failed["trial_id"] == "abc123" and failed["seed"] == 3
    pruned = plan.row_of(
        _result({results.VAL_OBJECTIVE_STEP: 0.2, "training_iteration": 1}), "search"
    )
    assert pruned["status"] == "pruned" and "1 epochs" in pruned["reason"]
    # A stopped trial keeps its last per-epoch value, never the objective of a finished trial.
    assert pruned[results.VAL_OBJECTIVE_STEP] == 0.2 and results.OBJECTIVE not in pruned
    assert results.N_SYNTHETIC not in pruned  # nothing reported, nothing invented
    planned = plan.row_of(
        _result(
            {results.VAL_OBJECTIVE_STEP: 0.2, "training_iteration": 2, results.N_SYNTHETIC: 236}
        ),
        "search",
    )
    assert planned["status"] == "pruned" and planned[results.N_SYNTHETIC] == 236
    silent = plan.row_of(_result({"time_total_s": 1.0}), "search")
    assert silent["status"] == "failed" and results.OBJECTIVE in silent["reason"]


def test_a_pruned_row_keeps_what_its_last_epoch_report_said_it_cost():
    gans = {"cgan": {"key": "k", "start": 0, "reached": 30, "full": 30}}
    metrics = {
        results.VAL_OBJECTIVE_STEP: 0.2,
        "training_iteration": 2,
        "compute_seconds.srgan": 0.0,
        "compute_seconds.cgan": 6.5,
        "compute_seconds.classifier": 2.0,
        "compute_seconds.other": 1.5,
        results.COMPUTE_SECONDS_TOTAL: 10.0,
        results.GAN_EPOCHS_TRAINED: 30,
        results.GAN_EPOCHS: json.dumps(gans),
        results.FINISHED_AT: 1700000000.5,
    }
    row = plan.row_of(_result(metrics), "search")
    assert row["status"] == results.STATUS_PRUNED
    assert row[results.COMPUTE_SECONDS] == {
        "srgan": 0.0,
        "cgan": 6.5,
        "classifier": 2.0,
        "other": 1.5,
    }
    assert row[results.COMPUTE_SECONDS_TOTAL] == 10.0 and row[results.FINISHED_AT] == 1700000000.5
    assert row[results.GAN_EPOCHS] == gans and row[results.GAN_EPOCHS_TRAINED] == 30
    # The phase's compute summary now counts the stopped trial (it used to be left out).
    summary = plan.compute_summary([row])
    assert summary[results.COMPUTE_SECONDS_TOTAL] == 10.0
    assert summary[results.GAN_EPOCHS_TRAINED] == 30 and summary["gan_epochs_saved"] == 0


def test_sweep_points_follow_finishing_order_and_choose_on_validation_only():
    from galaxybench.report.anytime import sweep_points

    def row(tid, at, seconds, status="ok", val=None, test=None):
        r = {"trial_id": tid, "status": status, results.FINISHED_AT: at}
        r[results.COMPUTE_SECONDS_TOTAL] = seconds
        if val is not None:
            r[results.OBJECTIVE], r[results.MINORITY_F1] = val, test
        return r

    rows = [  # file order is trial id order; they finished c, a, d, b
        row("a", 20.0, 10.0, val=0.5, test=0.40),
        row("b", 40.0, 5.0, val=0.7, test=0.30),
        row("c", 10.0, 3.0, status=results.STATUS_PRUNED),
        row("d", 30.0, 8.0, val=0.4, test=0.90),  # a better test value never moves the choice
    ]
    points = sweep_points(rows)
    assert [p[0] for p in points] == [3.0, 13.0, 21.0, 26.0]
    assert points[0][1] != points[0][1]  # NaN: nothing finished at full budget yet
    assert [p[1:] for p in points[1:]] == [(0.5, 0.40), (0.5, 0.40), (0.7, 0.30)]
    assert sweep_points([{"trial_id": "x", "status": "ok"}]) == []  # no compute: no curve


def test_planning_imports_no_ray():
    """The plan, the space and the experiment's order of phases are importable without Ray."""
    import subprocess

    code = (
        "import sys, galaxybench.sweep, galaxybench.sweep.plan, galaxybench.sweep.space; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_study_outcome_completes_only_finished_ok_trials():
    """What the Optuna study is told: COMPLETE only with a finished trial's objective."""
    final_ok = {
        "status": results.STATUS_OK,
        results.OBJECTIVE: 0.61,
        results.VAL_OBJECTIVE_STEP: 0.61,
        "training_iteration": 3,
    }
    assert plan.study_outcome(final_ok) == (plan.STUDY_COMPLETE, 0.61)
    # Stopped by ASHA: the last result is a per-epoch one (no status, no objective).
    epoch = {results.VAL_OBJECTIVE_STEP: 0.4, "training_iteration": 1, results.EPOCH: 1}
    assert plan.study_outcome(epoch) == (plan.STUDY_PRUNED, None)
    assert plan.study_outcome(None) == (plan.STUDY_PRUNED, None)  # stopped before it reported
    # Diverged and failed trials are FAIL, never a 0.0 score.
    nan = float("nan")
    for status in (results.STATUS_DIVERGED, results.STATUS_FAILED):
        assert plan.study_outcome({"status": status, results.VAL_OBJECTIVE_STEP: nan}) == (
            plan.STUDY_FAIL,
            None,
        )
    assert plan.study_outcome({"status": results.STATUS_OK, results.OBJECTIVE: nan}) == (
        plan.STUDY_FAIL,
        None,
    )
    assert plan.study_outcome(final_ok, error=True) == (plan.STUDY_FAIL, None)  # a crash
    # The names are Optuna's own states.
    from optuna.trial import TrialState

    assert {TrialState[s] for s in (plan.STUDY_COMPLETE, plan.STUDY_PRUNED, plan.STUDY_FAIL)} == {
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.FAIL,
    }


def test_every_confirm_row_keeps_its_status_counts_and_reasons(capsys):
    """A row whose runs diverged is listed with why; the terminal summary prints every row."""
    from galaxybench.cli.sweep_cmd import _print_summary

    def run(row: str, seed: int, status: str = "ok", f1: float = 0.5, reason=None) -> dict:
        return {
            "row": row,
            "seed": seed,
            "status": status,
            results.MINORITY_F1: f1,
            "reason": reason,
        }

    collapse = "cgan: mode collapse (diversity 0.21 of the real images')"
    phases = {
        "baseline": [run("baseline", s, f1=0.4) for s in (1, 2, 3)],
        "confirm": [
            run("top-1", 1, f1=0.6),
            run("top-1", 2, "diverged", reason=collapse),
            run("top-1", 3, "diverged", reason=collapse),
            run("cgan off", 1, "failed", reason="RuntimeError: out of memory"),
            run("cgan off", 2, "diverged", reason="srgan: non-finite loss"),
            run("cgan off", 3, "diverged", reason="srgan: non-finite loss"),
        ],
    }
    rows = plan.best_and_rows(phases)["rows"]
    assert rows["top-1"] == {
        "n": 1,
        results.MINORITY_F1: 0.6,
        "trials": 3,
        "diverged": 2,
        "failed": 0,
        "reasons": {collapse: 2},
    }
    assert rows["cgan off"][results.MINORITY_F1] is None and rows["cgan off"]["failed"] == 1
    summary = {
        "experiment_dir": "experiments/x",
        "seconds": 1.0,
        "phases": {},
        "rows": rows,
        "exit_code": 0,
    }
    _print_summary(summary, as_json=False)
    lines = capsys.readouterr().out.splitlines()
    assert (
        f"  top-1        ok 1/3  diverged 2  failed 0  test {results.MINORITY_F1} 0.6000 (n=1): "
        f"{collapse} (x2)"
    ) in lines
    assert (
        "  cgan off     ok 0/3  diverged 2  failed 1  no result: RuntimeError: out of memory; "
        "srgan: non-finite loss (x2)"
    ) in lines
    assert any(line.startswith("  baseline     ok 3/3  diverged 0  failed 0") for line in lines)
