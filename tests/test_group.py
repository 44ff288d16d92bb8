"""A fused group's results equal its members' unfused trials, through the stage cache.

``evaluate_group`` trains the K members' cGANs, SRGANs and classifiers as fused networks, stores
each member's output under its own trial's cache key, then runs each member's ``evaluate_trial``.
Against K unfused trials in another cache: the same statuses, test scores and predictions, the
same cache entries (stage and key), and the fused stages charged to the members. The stage
modules' own tests (tests/test_*_fused.py) compare weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_galaxy10_h5

from galaxybench import load_profile, results
from galaxybench.config import DataConfig
from galaxybench.errors import TrialDiverged
from galaxybench.sweep.splits import datasets_by_split
from galaxybench.trial import evaluate_trial
from galaxybench.trial import group as group_mod
from galaxybench.trial.group import evaluate_group

SEEDS = (1, 2, 3)
FUSED_STAGES = {"rebalance_cgan", "upscale_srgan", "classifier"}


@pytest.fixture(scope="module")
def datas(tmp_path_factory):
    from galaxybench.data import prepare

    folder = tmp_path_factory.mktemp("data")
    path = write_galaxy10_h5(folder / "tiny.h5", counts=(40, 24, 40, 36, 12, 36, 24, 40, 20, 24))
    data = prepare(path, DataConfig(hr_size=16))
    return datasets_by_split(str(path), DataConfig(hr_size=16), SEEDS, data)


def _members(**sets):
    cfg = load_profile("smoke", [f"{k}={v}" for k, v in sets.items()])
    return [cfg.replace(seed=s, **{"data.split_seed": s}) for s in SEEDS]


def _entries(cache: Path) -> set[str]:
    return {p.parent.relative_to(cache).as_posix() for p in cache.rglob("entry.json")}


@pytest.mark.slow
def test_a_fused_group_gives_each_member_its_unfused_result(datas, tmp_path):
    cfgs = _members(**{"upscale.method": "srgan", "rebalance.method": "cgan"})
    members = [datas[s] for s in SEEDS]
    unfused = [
        evaluate_trial(c, d, device="cpu", cache_dir=tmp_path / "unfused")
        for c, d in zip(cfgs, members, strict=True)
    ]
    fused = evaluate_group(cfgs, members, device="cpu", cache_dir=tmp_path / "fused")
    assert [r.status for r in fused] == [r.status for r in unfused] == ["ok"] * len(SEEDS)
    for u, f in zip(unfused, fused, strict=True):
        for key in (results.MINORITY_F1, results.MACRO_F1, results.BASELINE_MINORITY_F1):
            assert f.metrics[key] == pytest.approx(u.metrics[key], abs=1e-9), key
        assert f.predictions == u.predictions
        assert f.metrics[results.BEST_EPOCH] == u.metrics[results.BEST_EPOCH]
        assert f.metrics[results.N_SYNTHETIC] == u.metrics[results.N_SYNTHETIC]
        assert f.metrics[results.GAN_EPOCHS_TRAINED] == u.metrics[results.GAN_EPOCHS_TRAINED]
        fused_info = f.metrics[results.FUSED]
        assert fused_info["members"] == len(SEEDS) and fused_info["seeds"] == list(SEEDS)
        assert set(fused_info["stages"]) == FUSED_STAGES
        compute = f.metrics[results.COMPUTE_SECONDS]
        assert all(compute[name] > 0 for name in ("cgan", "srgan", "classifier"))
        assert results.FUSED not in u.metrics
    # The very entries each member's own trial would have stored (the baseline's included).
    assert _entries(tmp_path / "fused") == _entries(tmp_path / "unfused")


def test_one_member_is_its_unfused_trial_exactly(datas, tmp_path):
    cfg = _members(**{"upscale.method": "srgan", "rebalance.method": "cgan"})[0]
    alone = evaluate_trial(cfg, datas[SEEDS[0]], device="cpu", cache_dir=tmp_path / "a")
    (group,) = evaluate_group([cfg], [datas[SEEDS[0]]], device="cpu", cache_dir=tmp_path / "b")
    assert group.metrics[results.MINORITY_F1] == alone.metrics[results.MINORITY_F1]
    assert group.predictions == alone.predictions
    assert group.metrics[results.FUSED]["stages"] == {}


def test_a_member_that_diverges_in_the_fused_run_is_reported_diverged(datas, tmp_path, monkeypatch):
    real = group_mod.FUSED_TRAINERS["rebalance_cgan"]

    def second_diverges(*args, **kwargs):
        out = real(*args, **kwargs)
        out[1] = TrialDiverged("cgan", "non-finite loss (nan)")
        return out

    monkeypatch.setitem(group_mod.FUSED_TRAINERS, "rebalance_cgan", second_diverges)
    cfgs = _members(**{"upscale.method": "srgan", "rebalance.method": "cgan"})
    out = evaluate_group(cfgs, [datas[s] for s in SEEDS], device="cpu", cache_dir=tmp_path)
    assert [r.status for r in out] == ["ok", "diverged", "ok"]
    assert out[1].reason == str(TrialDiverged("cgan", "non-finite loss (nan)"))
    assert out[1].metrics[results.FUSED]["stages"] == {"rebalance_cgan": 3}
    # Its SRGAN and classifier were never trained: the group went on with two members.
    assert out[0].metrics[results.FUSED]["stages"]["upscale_srgan"] == 2


def test_a_group_refuses_configs_that_differ_in_more_than_the_seed(datas, tmp_path):
    a = _members(**{"rebalance.method": "oversample"})
    b = _members(**{"rebalance.method": "none"})
    with pytest.raises(ValueError, match="only in seed"):
        evaluate_group([a[0], b[1]], [datas[1], datas[2]], device="cpu", cache_dir=tmp_path)


def test_members_whose_training_sets_differ_in_size_train_unfused(datas, tmp_path):
    cfgs = _members(**{"upscale.method": "bicubic", "rebalance.method": "none"})
    # Another file's split: a training set of another size. The classifier cannot be fused.
    small = datas[SEEDS[1]]
    keep = small.splits["train"][:-3]
    import dataclasses

    small = dataclasses.replace(small, splits={**small.splits, "train": keep})
    members = [datas[SEEDS[0]], small, datas[SEEDS[2]]]
    out = evaluate_group(cfgs, members, device="cpu", cache_dir=tmp_path)
    assert all(r.ok for r in out)
    stages = [r.metrics[results.FUSED]["stages"] for r in out]
    assert all("classifier" not in s for s in stages)
    alone = evaluate_trial(cfgs[1], small, device="cpu", cache_dir=tmp_path / "alone")
    assert out[1].metrics[results.MINORITY_F1] == alone.metrics[results.MINORITY_F1]
    assert np.array_equal(out[1].predictions["prediction"], alone.predictions["prediction"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_fused_group_on_cuda_agrees_with_its_unfused_trials(datas, tmp_path):
    """bf16 autocast and the fused Adam kernel: the same statuses and fused stages, and the
    members' test predictions agree with their unfused runs on CUDA (bf16 tolerance: the
    trajectories may part, so most predictions, not all, must match)."""
    cfgs = _members(**{"upscale.method": "srgan", "rebalance.method": "cgan"})
    members = [datas[s] for s in SEEDS]
    unfused = [
        evaluate_trial(c, d, device="cuda", cache_dir=tmp_path / "unfused")
        for c, d in zip(cfgs, members, strict=True)
    ]
    fused = evaluate_group(cfgs, members, device="cuda", cache_dir=tmp_path / "fused")
    assert [r.status for r in fused] == [r.status for r in unfused]
    for u, f in zip(unfused, fused, strict=True):
        assert set(f.metrics[results.FUSED]["stages"]) == FUSED_STAGES
        same = np.mean(
            np.asarray(u.predictions["prediction"]) == np.asarray(f.predictions["prediction"])
        )
        assert same >= 0.8, same


def test_a_group_resumes_from_what_the_cache_holds(datas, tmp_path):
    """A group retried after a crash trains only the entries the cache lacks: here one member's
    classifier, which then trains alone (a group of one) and gives the same result."""
    cfgs = _members(**{"upscale.method": "srgan", "rebalance.method": "cgan"})
    members = [datas[s] for s in SEEDS]
    first = evaluate_group(cfgs, members, device="cpu", cache_dir=tmp_path)
    keys = {}
    for entry in (tmp_path / "classifier").glob("*/entry.json"):
        parts = json.loads(entry.read_text())["parts"]
        if parts["config"]["upscale.method"] == "srgan":  # not a member's baseline classifier
            keys[parts["seed"]] = entry.parent
    assert sorted(keys) == list(SEEDS)
    shutil.rmtree(keys[SEEDS[1]])  # as if the group had stopped before storing it
    again = evaluate_group(cfgs, members, device="cpu", cache_dir=tmp_path)
    assert [r.metrics[results.FUSED]["stages"] for r in again] == [{}, {}, {}]
    assert again[1].cache_hits["classifier"] is False and again[0].cache_hits["classifier"]
    for a, b in zip(first, again, strict=True):
        assert b.metrics[results.MINORITY_F1] == pytest.approx(a.metrics[results.MINORITY_F1])
        assert b.predictions == a.predictions


def test_two_groups_that_share_a_gan_train_it_once(datas, tmp_path):
    """Rows share GANs (top-1 and "srgan off" the same cGAN): two groups running at once hold
    the entries' locks, so one trains the shared cGANs and the other reads them."""
    import threading

    rows = [
        _members(**{"upscale.method": "srgan", "rebalance.method": "cgan"}),
        _members(**{"upscale.method": "bicubic", "rebalance.method": "cgan"}),
    ]
    members = [datas[s] for s in SEEDS]
    out: list = [None, None]

    def run(i: int) -> None:
        out[i] = evaluate_group(rows[i], members, device="cpu", cache_dir=tmp_path)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for group in out for r in group)
    fused_cgan = [
        ["rebalance_cgan" in r.metrics[results.FUSED]["stages"] for r in group] for group in out
    ]
    # One group trained every member's cGAN; the other trained none and read all of them.
    assert sorted(map(sum, fused_cgan)) == [0, len(SEEDS)]
    trainer, reader = (out[0], out[1]) if all(fused_cgan[0]) else (out[1], out[0])
    assert [r.cache_hits["rebalance_cgan"] for r in trainer] == [False] * len(SEEDS)
    assert [r.cache_hits["rebalance_cgan"] for r in reader] == [True] * len(SEEDS)
    assert len(list((tmp_path / "rebalance_cgan").glob("*/entry.json"))) == len(SEEDS)
