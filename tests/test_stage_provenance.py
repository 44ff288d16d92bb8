"""What each stage consumed reaches the leak check; the stage cache is keyed by the stages' code;
the real-vs-real FID reference; the classifier's input statistics and status in a trial result."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import write_galaxy10_h5

from galaxybench import cache as cache_mod
from galaxybench import results
from galaxybench.config import load_profile
from galaxybench.data.arrays import SplitArrays
from galaxybench.data.preparation import prepare
from galaxybench.images import to_float
from galaxybench.metrics.generative import domain_fid_reference, real_halves
from galaxybench.stages.classify_cnn import PaperCNN
from galaxybench.trial import evaluate as ev
from galaxybench.trial import evaluate_trial

COUNTS = (40, 40, 36, 30, 10, 34, 28, 24, 14, 12)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = write_galaxy10_h5(tmp_path_factory.mktemp("d") / "g.h5", counts=COUNTS, size=32)
    return prepare(path, load_profile("smoke").data, use_cache=False)


def _merge(a: SplitArrays, b: SplitArrays) -> SplitArrays:
    return SplitArrays(
        *(
            np.concatenate([x, y])
            for x, y in ((a.lr, b.lr), (a.hr, b.hr), (a.labels, b.labels), (a.index, b.index))
        )
    )


def test_leak_check_gets_the_indices_each_stage_consumed(data, monkeypatch) -> None:
    seen = {}
    real_check = ev.check_no_leak

    def spy(d, **consumed):
        seen.update(consumed)
        real_check(d, **consumed)

    monkeypatch.setattr(ev, "check_no_leak", spy)
    cfg = load_profile("smoke", ["rebalance.method=oversample", "upscale.method=srgan"])
    assert evaluate_trial(cfg, data, baseline=False, use_cache=False).ok
    assert set(seen) == {"upscaler_fit", "rebalancer_fit", "classifier_train", "classifier_val"}
    # Every stage sees the training split without the reserve (trial.reserve).
    minority = ev.scoring_minority(data, cfg.eval.minority_fraction)
    held = ev.withhold_reserve(data, minority, cfg.data.split_seed)
    for key, split in (
        ("upscaler_fit", "train"),
        ("rebalancer_fit", "train"),
        ("classifier_train", "train"),
        ("classifier_val", "val"),
    ):
        assert np.array_equal(seen[key], held.splits[split])


@pytest.mark.parametrize("stage", ["upscale_all", "rebalance"])
def test_a_stage_handed_test_images_fails_the_leak_check(data, monkeypatch, stage) -> None:
    test = data.subset("test")
    real = getattr(ev, stage)

    def leaking(ctx, train, *args):  # wiring that hands the stage the test split too
        return real(ctx, _merge(train, test), *args)

    monkeypatch.setattr(ev, stage, leaking)
    if stage == "upscale_all":  # the classifier's inputs then hold test images too
        monkeypatch.setattr(ev, "classify", lambda *a, **k: pytest.fail("leak not caught"))
    cfg = load_profile("smoke", ["rebalance.method=oversample"])
    with pytest.raises(AssertionError, match="test images reached"):
        evaluate_trial(cfg, data, baseline=False, use_cache=False)


def test_cache_key_follows_the_code_of_the_stages(tmp_path, monkeypatch) -> None:
    store = cache_mod.StageCache(tmp_path)
    parts = {"data": "x", "seed": 0}
    before = store.key("upscale_srgan", parts)
    assert before == store.key("upscale_srgan", parts)
    assert cache_mod.stage_code_hash("upscale_srgan") != cache_mod.stage_code_hash("classifier")
    monkeypatch.setattr(cache_mod, "stage_code_hash", lambda stage: "changed")
    assert store.key("upscale_srgan", parts) != before
    f = tmp_path / "m.py"
    f.write_text("x = 1\n")
    h1 = cache_mod.files_hash([f])
    f.write_text("x = 2\n")
    assert cache_mod.files_hash([f]) != h1


def test_stage_code_hash_covers_the_stage_and_its_nets(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(cache_mod, "files_hash", lambda paths: seen.append(paths) or "h")
    cache_mod.stage_code_hash.cache_clear()
    try:
        cache_mod.stage_code_hash("upscale_srgan")
        names = {p.name for p in seen[-1]}
        assert {"upscale_srgan.py", "upscale_srgan_nets.py", "_common.py"} <= names
        assert "rebalance_cgan.py" not in names
        cache_mod.stage_code_hash("classifier")
        assert {"classify_cnn.py", "upscale_srgan.py", "rebalance_cgan.py"} <= {
            p.name for p in seen[-1]
        }
    finally:
        cache_mod.stage_code_hash.cache_clear()


def test_real_halves_are_disjoint_and_stratified() -> None:
    labels = np.array([0] * 11 + [1] * 6 + [2] * 9)
    a, b = real_halves(labels, [0, 1], seed=3)
    assert not set(a) & set(b)
    for c in (0, 1):
        assert (labels[a] == c).sum() == (labels[b] == c).sum() == {0: 5, 1: 3}[c]
    assert not np.isin(labels[np.concatenate([a, b])], [2]).any()


def test_domain_fid_reference_matches_the_frechet_formula() -> None:
    torch.manual_seed(0)
    net = PaperCNN(3, 16, dense_units=8).eval()
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    images = rng.integers(0, 256, (80, 3, 16, 16)).astype(np.uint8)
    out = domain_fid_reference(net, images, labels, [0, 1], device=torch.device("cpu"), seed=1)
    a, b = real_halves(labels, [0, 1], seed=1)
    with torch.no_grad():
        fa, fb = (net.features(to_float(images[i])).double().numpy() for i in (a, b))
    ma, mb = fa.mean(0), fb.mean(0)
    ca, cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    fid = ((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    assert out["fid_domain_real_ref_n"] == 40
    assert out[results.FID_DOMAIN_REAL_REF] == pytest.approx(fid, rel=1e-3, abs=1e-4)


def test_trial_records_input_statistics_and_classifier_status(data) -> None:
    cfg = load_profile("smoke")
    result = evaluate_trial(cfg, data, use_cache=False)
    stats = result.metrics[results.CLASSIFIER_INPUT_STATS]
    # The training split without the reserve (trial.reserve): the reserve reaches no statistic.
    minority = ev.scoring_minority(data, cfg.eval.minority_fraction)
    train = ev.withhold_reserve(data, minority, cfg.data.split_seed).splits["train"]
    train_hr = data.hr[train].astype(np.float64) / 127.5 - 1
    np.testing.assert_allclose(stats["mean"], train_hr.mean(axis=(0, 2, 3)), atol=1e-9)
    assert stats["source"] == "train split, true HR"
    assert result.metrics[results.CLASSIFIER_STATUS] in results.CLASSIFIER_STATUSES
    assert isinstance(result.metrics[results.BASELINE_DEGENERATE], bool)
    off = evaluate_trial(
        load_profile("smoke", ["classifier.standardize=false"]),
        data,
        baseline=False,
        use_cache=False,
    )
    assert off.metrics[results.CLASSIFIER_INPUT_STATS]["std"] == [1.0, 1.0, 1.0]
