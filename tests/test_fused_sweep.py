"""Fused groups in a sweep (``confirm.fuse``): one Tune trial per row, one results line per seed.

A fused group trains a row's confirmation seeds (and the baseline's) together; the sweep must
still write, for every seed, the line an unfused trial writes. Here the trial is a fast stand-in
(its score a function of the seed and the row) so the lines of a fused and an unfused sweep can be
compared exactly; ``tests/test_group.py`` checks the fused training itself.

Usage: ``pytest -m ray tests/test_fused_sweep.py``.
"""

from __future__ import annotations

import os

os.environ["RAY_AUTH_MODE"] = "disabled"  # before anything imports Ray

import json
from pathlib import Path

import pytest
import ray
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import DataConfig, to_flat
from galaxybench.errors import ConfigError
from galaxybench.sweep import groups, plan, run_experiment
from galaxybench.sweep.space import load_search_space, parse_search_space

SEEDS = [1, 2, 3]


def _space(fuse: str):
    tree = load_search_space("smoke").to_dict()
    tree["seeds"]["confirm"] = SEEDS
    tree["confirm"] = {"fuse": fuse}
    return parse_search_space(tree, f"smoke, fuse {fuse}")


def test_fuse_points_make_one_point_per_row_and_configuration():
    base = {**to_flat(load_search_space("smoke").base_config()), "rebalance.method": "none"}
    base = {k: v for k, v in base.items() if k != "seed"}
    best = {**base, "upscale.method": "srgan", "rebalance.method": "cgan"}
    points = plan.confirm_points(best, [best], base, tuple(SEEDS))
    fused = groups.fuse_points(points)
    assert len(fused) * len(SEEDS) == len(points)
    members = [m for p in fused for m in groups.group_members(p)]
    key = lambda p: (p[results.ROW], p["seed"], p[plan.SPLIT_SEED], plan.config_id(p))  # noqa: E731
    assert sorted(map(key, members)) == sorted(map(key, points))
    assert all(results.FUSE_SEEDS not in m for m in members)
    # The controls' noise-floor row runs seed s + offset on the split of s: kept per member.
    controls = groups.fuse_points(plan.control_points(base, (1, 2)))
    pairs = {p[results.ROW]: json.loads(p[results.FUSE_SEEDS]) for p in controls}
    assert any(seed != split for group in pairs.values() for seed, split in group)


def test_fuses_follows_the_space_and_the_device(monkeypatch):
    monkeypatch.delenv(groups.DEVICE_ENV, raising=False)
    on, off, auto = _space("on"), _space("off"), _space("auto")
    assert groups.fuses(on) and not groups.fuses(off) and not groups.fuses(auto)  # auto: CPU trials
    gpu = auto.with_options(gpus_per_trial=0.5)
    assert groups.fuses(gpu)
    monkeypatch.setenv(groups.DEVICE_ENV, "cpu")
    assert not groups.fuses(gpu) and groups.fuses(on)


def test_a_space_refuses_an_unknown_fuse_mode():
    tree = load_search_space("smoke").to_dict()
    tree["confirm"] = {"fuse": "yes"}
    with pytest.raises(ConfigError, match=r"bad\.yaml: confirm\.fuse must be one of auto, on, off"):
        parse_search_space(tree, "bad.yaml")


# --- through Ray ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from galaxybench.data import prepare

    folder = tmp_path_factory.mktemp("data")
    path = write_galaxy10_h5(folder / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    return prepare(path, DataConfig(hr_size=16))


def _stand_in(crash_row: str | None = None):
    """A fast trial: its score depends on the seed, the split and the row's methods only."""

    def trial(cfg, data, report=None, **kwargs):
        flat = to_flat(cfg)
        if crash_row is not None and cfg.rebalance.method == crash_row:
            raise RuntimeError("simulated crash")
        score = (
            0.1 * cfg.seed + 0.01 * cfg.data.split_seed + 0.001 * len(flat["upscale.method"])
        ) % 1
        if cfg.rebalance.method == "cgan" and cfg.seed == 2:
            return results.TrialResult(
                status=results.STATUS_DIVERGED,
                reason="cgan: non-finite loss (nan)",
                config=flat,
                seed=cfg.seed,
            )
        return results.TrialResult(
            status=results.STATUS_OK,
            config=flat,
            seed=cfg.seed,
            metrics={results.OBJECTIVE: score, results.MINORITY_F1: score},
        )

    return trial


def _lines(exp: Path, phase: str) -> list[dict]:
    return [json.loads(x) for x in (exp / "results" / f"{phase}.jsonl").read_text().splitlines()]


def _view(line: dict) -> tuple:
    return (
        line[results.ROW],
        line["seed"],
        line["split_seed"],
        line[results.CONFIG_ID],
        line[results.STATUS],
        line.get(results.REASON),
        line.get(results.MINORITY_F1),
    )


@pytest.mark.ray
@pytest.mark.slow
def test_a_fused_sweep_writes_the_lines_of_an_unfused_one(ray_session, data, tmp_path):
    runs = {}
    for fuse in ("off", "on"):
        run_experiment(
            _space(fuse),
            name=f"fuse-{fuse}",
            storage=tmp_path,
            data=data,
            mode="ablate",
            trial_fn=_stand_in(),
            report=False,
        )
        runs[fuse] = tmp_path / f"fuse-{fuse}"
    for phase in ("baseline", "confirm"):
        off, on = _lines(runs["off"], phase), _lines(runs["on"], phase)
        assert sorted(map(_view, on)) == sorted(map(_view, off))
        assert len({line[results.TRIAL_ID] for line in on}) == len(on)
        assert {line[results.PHASE] for line in on} == {phase}
        # One Tune trial per row: a third of the unfused count with three seeds.
        tune_trials = [d for d in (runs["on"] / phase).iterdir() if d.is_dir()]
        assert len(tune_trials) * len(SEEDS) == len(on)
    diverged = [x for x in _lines(runs["on"], "confirm") if x[results.STATUS] == "diverged"]
    assert diverged and all(x["seed"] == 2 for x in diverged)


@pytest.mark.ray
@pytest.mark.slow
def test_a_crashed_group_gives_each_member_a_failed_line(ray_session, data, tmp_path):
    run_experiment(
        _space("on"),
        name="crash",
        storage=tmp_path,
        data=data,
        mode="ablate",
        trial_fn=_stand_in(crash_row="oversample"),
        report=False,
    )
    lines = _lines(tmp_path / "crash", "confirm")
    crashed = [x for x in lines if x["config"]["rebalance.method"] == "oversample"]
    assert sorted(x["seed"] for x in crashed) == SEEDS
    assert all(
        x[results.STATUS] == "failed" and "simulated crash" in x[results.REASON] for x in crashed
    )


@pytest.mark.ray
@pytest.mark.slow
def test_the_real_pipeline_fused_under_tune_writes_the_unfused_lines(ray_session, data, tmp_path):
    """``evaluate_trial`` itself: each row's seeds train fused in one Tune trial, and every line
    (status, scores, GAN epochs trained) and every stage-cache entry is the unfused sweep's."""
    space = _space("on")
    tree = space.to_dict()
    tree["seeds"]["confirm"] = SEEDS[:2]
    runs = {}
    for fuse in ("off", "on"):
        tree["confirm"] = {"fuse": fuse}
        run_experiment(
            parse_search_space(tree, f"smoke, two seeds, fuse {fuse}"),
            name=f"real-{fuse}",
            storage=tmp_path,
            data=data,
            mode="ablate",
            report=False,
        )
        runs[fuse] = tmp_path / f"real-{fuse}"
    for phase in ("baseline", "confirm"):
        off = sorted(_lines(runs["off"], phase), key=lambda x: (x[results.ROW], x["seed"]))
        on = sorted(_lines(runs["on"], phase), key=lambda x: (x[results.ROW], x["seed"]))
        assert [_view(x)[:-1] for x in on] == [_view(x)[:-1] for x in off]
        for a, b in zip(off, on, strict=True):
            assert b.get(results.MINORITY_F1) == pytest.approx(a.get(results.MINORITY_F1))
            assert b.get(results.CONFUSION_MATRIX) == a.get(results.CONFUSION_MATRIX)

        # Each GAN is trained once per seed, fused or not; which of the rows sharing it is
        # charged depends on which ran first, so the phase's total is what must agree.
        def trained(lines: list[dict]) -> int:
            return sum(x.get(results.GAN_EPOCHS_TRAINED, 0) for x in lines)

        assert trained(on) == trained(off)
        assert trained(on) > 0 if phase == "confirm" else trained(on) == 0
    fused = [x for x in _lines(runs["on"], "confirm") if x.get(results.FUSED)]
    assert fused and all(x[results.FUSED]["members"] == 2 for x in fused)
    trained = {s for x in fused for s in x[results.FUSED]["stages"]}
    assert {"rebalance_cgan", "upscale_srgan", "classifier"} <= trained

    def entries(run: Path) -> set[str]:
        cache = run / "cache"
        return {p.parent.relative_to(cache).as_posix() for p in cache.rglob("entry.json")}

    assert entries(runs["on"]) == entries(runs["off"])


def test_a_groups_progress_line_names_its_members():
    from galaxybench.sweep import progress
    from galaxybench.sweep.ray_backend.trainable import _members_line

    finals = [
        {results.STATUS: "ok", results.REASON: ""},
        {results.STATUS: "diverged", results.REASON: "cgan: non-finite loss (nan)"},
        {results.STATUS: "ok", results.REASON: ""},
    ]
    line = _members_line(finals)
    assert line == "fused group of 3 seeds: 2 ok, 1 diverged (cgan: non-finite loss (nan))"

    from types import SimpleNamespace

    trial = SimpleNamespace(  # what the progress callback reads of Tune's Trial
        trial_id="abc_00001",
        config={results.ROW: "top-1"},
        last_result={results.STATUS: "diverged", results.REASON: line},
    )
    outcome = progress.trial_outcome("confirm", trial)
    assert outcome[results.STATUS] == "diverged" and outcome[results.REASON] == line
