"""The tabular benchmark and replay: discretisation, CSV round trip, deterministic replay, grid
finds the table's maximum, and ASHA's promotion order on a hand-made table (Ray's own scheduler,
driven without a cluster)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from galaxybench.errors import ConfigError, DataError
from galaxybench.sweep.replay import compute_to_reach, replay
from galaxybench.sweep.space import load_search_space
from galaxybench.sweep.tabular import Table, config_key, discretise, read_table, write_table

LADDER = [0.5, 1.0]


def _table(
    values: dict[tuple[int, float], tuple[float, float]], costs: tuple[float, float] = (1.0, 2.0)
) -> Table:
    """A hand-made table over srgan.depth x cgan.lr: (depth, lr) -> (rung-1, rung-2) objective.
    Rung 1 costs costs[0] s (half of it GAN), rung 2 costs[1] s; test F1 = objective - 0.1."""
    depths = sorted({d for d, _ in values})
    lrs = sorted({lr for _, lr in values})
    rows = []
    for (depth, lr), objs in values.items():
        params = {"srgan.depth": depth, "cgan.lr": lr}
        for rung, (obj, cost) in enumerate(zip(objs, costs, strict=True), start=1):
            rows.append(
                {
                    "config_id": config_key(params),
                    **params,
                    "rung": rung,
                    "budget_fraction": LADDER[rung - 1],
                    "status": "ok",
                    "val_objective": obj,
                    "minority_f1": obj - 0.1 if rung == 2 else math.nan,
                    "minority_f1_delta": math.nan,
                    "macro_f1": math.nan,
                    "compute_srgan": 0.0,
                    "compute_cgan": cost / 2,
                    "compute_classifier": cost / 4,
                    "compute_other": cost / 4,
                    "compute_seconds": cost,
                    "measured_seconds": cost,
                    "gan_epochs_trained": 1,
                }
            )
    meta = {
        "space": load_search_space("smoke").to_dict(),
        "space_source": "smoke.yaml",
        "ladder": LADDER,
        "discretisation": {"srgan.depth": depths, "cgan.lr": lrs},
    }
    return Table(rows, meta)


def _random_table(n_depth: int = 3, n_lr: int = 4, seed: int = 0) -> Table:
    rng = np.random.default_rng(seed)
    lrs = [1e-4 * 2**i for i in range(n_lr)]
    vals = {}
    for d in range(1, n_depth + 1):
        for lr in lrs:
            full = float(rng.uniform(0.1, 0.9))
            vals[(d, lr)] = (full - float(rng.uniform(0, 0.2)), full)
    return _table(vals)


def test_discretise_log_spaced_levels_and_explicit_values() -> None:
    space = load_search_space("smoke")  # cgan.lr loguniform [1e-4, 1e-2], srgan.depth grid
    disc = discretise(space, {"cgan.lr": 3}, {"cgan.batch_size": [16, 32]})
    assert disc["cgan.lr"] == pytest.approx(np.geomspace(1e-4, 1e-2, 3).tolist(), rel=1e-3)
    assert disc["srgan.depth"] == [1, 2] and disc["cgan.batch_size"] == [16, 32]
    with pytest.raises(ConfigError, match="not a searched parameter"):
        discretise(space, {"cgan.beta": 3})
    with pytest.raises(ConfigError, match=r"cgan\.batch_size"):
        discretise(space, values={"cgan.batch_size": [0]})


def test_a_mistyped_levels_key_gets_the_searched_one_and_a_binary_table_one_line(tmp_path) -> None:
    space = load_search_space("smoke")
    with pytest.raises(ConfigError, match=r"did you mean 'cgan.lr'\?"):
        discretise(space, {"cgan.lrr": 3})
    (tmp_path / "t.csv").write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe\xe9")
    with pytest.raises(DataError, match=r"t.csv: not a galaxybench table \(binary"):
        read_table(tmp_path / "t.csv")


def test_csv_round_trip_keeps_values_and_provenance(tmp_path) -> None:
    table = _random_table()
    write_table(table, tmp_path / "t.csv", note="hand-made")
    back = read_table(tmp_path / "t.csv")
    assert back.meta == table.meta
    for a, b in zip(back.rows, table.rows, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])), k
    assert back.grid_full_seconds() == pytest.approx(12 * (0.5 + 1.0 + 1.0))


@pytest.mark.parametrize("searcher", ["tpe", "random+asha", "tpe+hyperband"])
def test_replay_with_a_fixed_seed_gives_the_same_curve_twice(searcher: str) -> None:
    table = _random_table()
    a = replay(table, searcher, seed=3, workers=2)
    b = replay(table, searcher, seed=3, workers=2)
    assert a.points == b.points and a.events == b.events
    assert len(a.points) > 3
    c = replay(table, searcher, seed=4, workers=2)
    assert c.events != a.events  # the seed matters


def test_grid_replay_finds_the_tables_maximum() -> None:
    table = _random_table()
    rep = replay(table, "grid", seed=0, workers=2)
    best = table.best_full()
    assert len({e["config_id"] for e in rep.events}) == 12  # every configuration once
    assert rep.points[-1][1] == best["val_objective"]
    assert rep.points[-1][2] == best["minority_f1"]
    # All 12 full-budget runs: the grid's full-budget compute, no more.
    assert rep.points[-1][0] == pytest.approx(table.grid_full_seconds())
    assert compute_to_reach(rep, best["val_objective"]) <= table.grid_full_seconds()


def test_asha_promotion_order_on_a_three_config_table() -> None:
    # Rung-1 objectives 0.5, 0.8, 0.3 in that order, one worker. ASHA (reduction factor 2)
    # promotes a trial whose value is >= the 50th percentile of the rung's recorded values:
    # A: nothing recorded -> promote; B: 0.8 >= median{0.5} -> promote;
    # C: 0.3 < median{0.5, 0.8} = 0.65 -> stop.
    table = _table({(1, 1e-4): (0.5, 0.6), (1, 2e-4): (0.8, 0.9), (1, 4e-4): (0.3, 0.95)})
    order = [{"srgan.depth": 1, "cgan.lr": lr} for lr in (1e-4, 2e-4, 4e-4)]
    rep = replay(
        table, "random+asha", seed=0, workers=1, enqueue=order, max_trials=3, budget_seconds=1e9
    )
    got = [(e["trial"], e["rung"], e["action"]) for e in rep.events]
    assert got == [
        (0, 1, "promote"),
        (0, 2, "complete"),
        (1, 1, "promote"),
        (1, 2, "complete"),
        (2, 1, "stop"),
    ]
    # Compute: A and B pay both rungs (1 + 2 s), C only rung 1; C's 0.95 is never seen.
    assert rep.points[-1][0] == pytest.approx(7.0)
    assert rep.points[-1][1] == 0.9


def test_asha_with_two_workers_decides_on_results_finished_so_far() -> None:
    # Two workers start A and B together; A (0.5) finishes rung 1 with nothing recorded and is
    # promoted, B (0.8) is compared with {A}: promoted; C then starts and is stopped.
    table = _table({(1, 1e-4): (0.5, 0.6), (1, 2e-4): (0.8, 0.9), (1, 4e-4): (0.3, 0.95)})
    order = [{"srgan.depth": 1, "cgan.lr": lr} for lr in (1e-4, 2e-4, 4e-4)]
    rep = replay(
        table, "random+asha", seed=0, workers=2, enqueue=order, max_trials=3, budget_seconds=1e9
    )
    actions = {(e["trial"], e["rung"]): e["action"] for e in rep.events}
    assert actions == {
        (0, 1): "promote",
        (1, 1): "promote",
        (0, 2): "complete",
        (1, 2): "complete",
        (2, 1): "stop",
    }


def _three_rung_table() -> Table:
    """Two configurations on the ladder 1/9, 1/3, 1 (costs per rung: srgan 1, cgan 2,
    classifier 3, other 4 times the rung number); the second diverges at rung 2."""
    rows = []
    for lr, n_rungs in ((1e-4, 3), (2e-4, 2)):
        params = {"srgan.depth": 1, "cgan.lr": lr}
        for rung in range(1, n_rungs + 1):
            ok = not (lr == 2e-4 and rung == 2)
            rows.append(
                {
                    "config_id": config_key(params),
                    **params,
                    "rung": rung,
                    "budget_fraction": (1 / 9, 1 / 3, 1.0)[rung - 1],
                    "status": "ok" if ok else "diverged",
                    "val_objective": 0.1 * rung if ok else math.nan,
                    "minority_f1": 0.5 if rung == 3 else math.nan,
                    "minority_f1_delta": math.nan,
                    "macro_f1": math.nan,
                    "compute_srgan": 1.0 * rung,
                    "compute_cgan": 2.0 * rung,
                    "compute_classifier": 3.0 * rung,
                    "compute_other": 4.0 * rung,
                    "compute_seconds": 10.0 * rung,
                    "measured_seconds": 10.0 * rung,
                    "gan_epochs_trained": rung,
                }
            )
    meta = {
        "space": load_search_space("smoke").to_dict(),
        "ladder": [1 / 9, 1 / 3, 1.0],
        "discretisation": {"srgan.depth": [1], "cgan.lr": [1e-4, 2e-4]},
    }
    return Table(rows, meta)


def test_a_sub_ladder_folds_skipped_rungs_gans_and_drops_their_classifier() -> None:
    table = _three_rung_table()
    sub = table.sub_ladder([1 / 3, 1.0])
    assert sub.ladder == (1 / 3, 1.0)
    a, b = sub.lookup().values()
    # Config A: new rung 1 = old rungs 1-2 (GANs 1+2 and 2+4, classifier/other of rung 2 only).
    assert [r["rung"] for r in a] == [1, 2]
    assert (a[0]["compute_srgan"], a[0]["compute_cgan"]) == (3.0, 6.0)
    assert (a[0]["compute_classifier"], a[0]["compute_other"]) == (6.0, 8.0)
    assert a[0]["compute_seconds"] == 23.0 and a[0]["gan_epochs_trained"] == 3
    assert a[0]["val_objective"] == pytest.approx(0.2) and a[1]["val_objective"] == pytest.approx(
        0.3
    )
    assert a[1]["compute_seconds"] == 30.0
    # Without a ladder a configuration costs the same on either table (its GANs end where they
    # end; only the last rung's classifier is paid).
    cid = a[0]["config_id"]
    assert sub.full_budget_seconds(cid) == table.full_budget_seconds(cid) == 6 + 12 + 7 * 3
    # Config B diverged at old rung 2: it ends at new rung 1 with that status.
    assert [(r["rung"], r["status"]) for r in b] == [(1, "diverged")]
    assert b[0]["compute_seconds"] == 23.0
    # Skipping the middle rung: rung 1 unchanged, rung 2 pays the GANs of rungs 2 and 3.
    skip = table.sub_ladder([1 / 9, 1.0])
    a2 = skip.lookup()[cid]
    assert a2[0] == {**table.lookup()[cid][0]}
    assert (a2[1]["compute_srgan"], a2[1]["compute_classifier"]) == (5.0, 9.0)
    with pytest.raises(ConfigError, match="not a rung"):
        table.sub_ladder([0.5, 1.0])
    with pytest.raises(ConfigError, match=r"end at 1\.0"):
        table.sub_ladder([1 / 9, 1 / 3])


def test_the_shipped_three_rung_table_restricted_to_half_and_full_is_the_two_rung_table() -> None:
    # Both tables ran the same 36 configurations; continuation is bit-identical, so the values a
    # 0.5-then-1 climb reports are the same whether rung 0.25 ran before or not.
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    three = read_table(root / "default-reduced-3rung.csv").sub_ladder([0.5, 1.0])
    two = read_table(root / "default-reduced.csv")
    got = {(r["config_id"], r["rung"]): r["val_objective"] for r in three.rows}
    want = {(r["config_id"], r["rung"]): r["val_objective"] for r in two.rows}
    assert got.keys() == want.keys() and len(got) > 40
    assert all(got[k] == want[k] or (math.isnan(got[k]) and math.isnan(want[k])) for k in got)


def test_hyperband_has_one_bracket_per_rung_and_spares_some_trials_the_first_judgement() -> None:
    from galaxybench.sweep.ray_backend import hyperband_brackets
    from galaxybench.sweep.replay import table_scheduler

    assert hyperband_brackets(1, 9.0, 3) == 3  # milestones 1, 3, 9
    assert hyperband_brackets(1, 3.0, 3) == 2
    assert hyperband_brackets(2, 5, 2) == 2  # epochs: milestones 2, 4 (8 > max_t 5)
    table = _three_rung_table()
    sched = table_scheduler(table, "hyperband")
    assert [len(b._rungs) for b in sched._brackets] == [3, 2, 1]  # Ray's own bracket objects
    assert len(table_scheduler(table, "asha")._brackets) == 1
    # Many trials, fixed seed: Hyperband draws brackets (softmax over their sizes), so some
    # trials skip the rung-1 decision; ASHA judges every trial at rung 1.
    rng = np.random.default_rng(0)
    vals = {(1, 1e-4 * (i + 1)): (float(rng.uniform()), 0.5) for i in range(30)}
    flat = _table(vals)
    kinds = {}
    for searcher in ("random+asha", "random+hyperband"):
        rep = replay(flat, searcher, seed=0, workers=1, max_trials=30, budget_seconds=1e9)
        kinds[searcher] = [e["action"] for e in rep.events if e["rung"] == 1]
    assert "stop" in kinds["random+asha"]
    assert kinds["random+hyperband"].count("stop") < kinds["random+asha"].count("stop")


def test_anytime_band_is_the_step_functions_median_and_quartiles() -> None:
    from galaxybench.report.anytime import anytime_figure, band, step_values

    xs = np.array([0.0, 1.0, 2.5, 4.0])
    a = [(1.0, 0.2, 0.1), (3.0, 0.5, 0.4)]
    b = [(2.0, 0.3, 0.2)]
    c = [(0.5, 0.1, 0.0), (2.5, 0.6, 0.5)]
    np.testing.assert_array_equal(step_values(a, xs, 1), [np.nan, 0.2, 0.2, 0.5])
    lo, med, hi = band([a, b, c], xs, 1)
    # At x=2.5 the runs stand at 0.2, 0.3, 0.6. At x=1 a and c have values (0.2, 0.1) and b none,
    # which counts as lowest: sorted (none, 0.1, 0.2), so the median is 0.1, the 75th percentile
    # 0.15, and the 25th falls between "none" and 0.1: undefined. At x=0 no run has a value.
    assert med[2] == pytest.approx(0.3) and lo[2] == pytest.approx(0.25)
    assert hi[2] == pytest.approx(0.45)
    assert med[1] == pytest.approx(0.1) and hi[1] == pytest.approx(0.15) and np.isnan(lo[1])
    assert np.isnan(med[0])
    # One seed finishes early and high, two later and lower: counting the unfinished as lowest,
    # the median waits for the second seed (0.2) instead of showing 0.9 and then dropping.
    early, late1, late2 = [(1.0, 0.9, 0.5)], [(2.0, 0.2, 0.1)], [(3.0, 0.3, 0.2)]
    _, med, _ = band([early, late1, late2], np.array([1.5, 2.5, 3.5]), 1)
    assert np.isnan(med[0]) and med[1] == pytest.approx(0.2) and med[2] == pytest.approx(0.3)
    # Best-so-far curves of many replays: every quantile is non-decreasing in compute.
    table = _random_table()
    runs = [replay(table, "random+asha", seed=s, workers=2).points for s in range(12)]
    grid_xs = np.linspace(0, table.grid_full_seconds(), 200)
    for curve in band(runs, grid_xs, 1):
        seen = curve[~np.isnan(curve)]
        assert len(seen) > 100 and np.all(np.diff(seen) >= 0)
    fig = anytime_figure({"x": [a, b, c]}, grid_seconds=4.0, best=0.6, best_test=0.5)
    assert len(fig.axes) == 2


@pytest.mark.slow
def test_tabulate_cli_builds_a_table_and_charges_shared_gans(tmp_path, capsys) -> None:
    # Two configurations sharing one SRGAN (depth 1), two rungs, through the command line.
    from galaxybench.cli import main

    out = tmp_path / "t.csv"
    code = main(
        [
            "tabulate",
            "--space",
            "smoke",
            "--values",
            "srgan.depth=1",
            "cgan.lr=0.001,0.002",
            "--ladder",
            "0.5,1.0",
            "--cache",
            str(tmp_path / "c"),
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    table = read_table(out)
    assert table.meta["discretisation"] == {"srgan.depth": [1], "cgan.lr": [0.001, 0.002]}
    assert table.meta["ladder"] == [0.5, 1.0] and table.meta["data_fingerprint"]
    first, second = table.lookup().values()
    assert [r["rung"] for r in first] == [1, 2]
    # The first configuration trains the SRGAN (1 of its 2 epochs per rung: continued, not
    # retrained); the second reuses it (0 epochs trained) but is charged the same seconds.
    assert first[0]["compute_srgan"] > 0
    for a, b in zip(first, second, strict=False):
        assert b["compute_srgan"] == a["compute_srgan"]
        assert b["measured_seconds"] >= 0
    assert math.isnan(first[0]["minority_f1"])  # no test metric below the full rung
