"""evaluate_trial: baseline delta, determinism, stage cache, leakage, divergence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import load_profile
from galaxybench.data.preparation import prepare
from galaxybench.protocol import baseline_config, effective_flat
from galaxybench.trial import check_no_leak, evaluate_trial

COUNTS = (40, 40, 36, 30, 10, 34, 28, 24, 14, 12)


def _structured_pixels(path):
    """Class-dependent brightness so that the tiny CNN learns something."""
    import h5py

    with h5py.File(path, "r+") as f:
        images, labels = f["images"][...], f["ans"][...]
        images = (images // 4 + (labels[:, None, None, None] * 20)).astype(np.uint8)
        f["images"][...] = images


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = write_galaxy10_h5(
        tmp_path_factory.mktemp("d") / "g.h5", counts=COUNTS, size=32, duplicates=2, conflicting=1
    )
    _structured_pixels(path)
    return prepare(path, load_profile("smoke").data, use_cache=False)


def _cfg(*overrides: str):
    return load_profile("smoke", list(overrides))


def _without_timings(result: results.TrialResult) -> dict:
    d = result.to_dict(with_predictions=True)
    d.pop(results.STAGE_SECONDS)
    d.pop(results.COMPUTE_SECONDS)
    d.pop(results.COMPUTE_SECONDS_TOTAL)
    d.pop(results.GAN_EPOCHS, None)  # like cache_hits: where the run started, not what it produced
    d.pop(results.GAN_EPOCHS_TRAINED)
    d.pop("cache_hits")
    return d


def test_baseline_against_itself_has_delta_exactly_zero(data, tmp_path) -> None:
    reports = []
    result = evaluate_trial(_cfg(), data, report=reports.append, cache_dir=tmp_path)
    assert result.ok
    assert result.metrics[results.MINORITY_F1_DELTA] == 0.0
    assert [r[results.EPOCH] for r in reports] == [1, 2]  # one report per classifier epoch
    # every per-epoch report already carries the plan, so a stopped trial still shows it
    assert {r[results.N_SYNTHETIC] for r in reports} == {result.metrics[results.N_SYNTHETIC]}
    assert result.metrics[results.VAL_MINORITY_F1] == max(
        r[results.VAL_MINORITY_F1] for r in reports
    )
    assert result.metrics[results.BEST_EPOCH] in (1, 2)
    # smoke: patience 0, so every classifier epoch trains and none stops early
    assert result.metrics[results.STOPPED_EPOCH] == 2
    assert result.metrics[results.STOPPED_EARLY] is False
    assert len(result.predictions["index"]) == len(data.splits["test"])
    # Every per-epoch report says what the trial has cost so far (a stopped trial's row keeps it):
    # by stage, the classifier's seconds growing, never more than the whole trial in the end.
    totals = [r[results.COMPUTE_SECONDS_TOTAL] for r in reports]
    assert 0 < totals[0] < totals[1] <= result.metrics[results.COMPUTE_SECONDS_TOTAL]
    clf = [r["compute_seconds.classifier"] for r in reports]
    assert 0 < clf[0] < clf[1] <= result.metrics[results.COMPUTE_SECONDS]["classifier"]
    for r in reports:
        stages = sum(v for k, v in r.items() if k.startswith("compute_seconds."))
        assert stages == pytest.approx(r[results.COMPUTE_SECONDS_TOTAL], abs=0.01)
        assert json.loads(r[results.GAN_EPOCHS]) == {}  # the baseline trains no GAN


def test_same_seed_same_result_on_cpu(data) -> None:
    cfg = _cfg("rebalance.method=oversample", "classifier.augment=dihedral")
    a = evaluate_trial(cfg, data, baseline=False, use_cache=False)
    b = evaluate_trial(cfg, data, baseline=False, use_cache=False)
    assert _without_timings(a) == _without_timings(b)
    c = evaluate_trial(cfg.replace(seed=1), data, baseline=False, use_cache=False)
    assert c.history != a.history


def test_cache_trains_srgan_once_across_cgan_settings(data, tmp_path) -> None:
    cfg = _cfg("upscale.method=srgan", "rebalance.method=cgan")
    first = evaluate_trial(cfg, data, cache_dir=tmp_path)
    assert first.cache_hits == {
        "upscale_srgan": False,
        "rebalance_cgan": False,
        "classifier": False,
        "baseline": False,
    }
    other = evaluate_trial(cfg.replace(**{"cgan.lr": 1.0e-3}), data, cache_dir=tmp_path)
    assert other.cache_hits["upscale_srgan"] is True  # the SRGAN is reused
    assert other.cache_hits["rebalance_cgan"] is False
    assert other.cache_hits["baseline"] is True
    again = evaluate_trial(cfg, data, cache_dir=tmp_path)
    assert all(again.cache_hits.values())
    assert _without_timings(again) == _without_timings(first)  # a hit changes nothing
    assert len(list((tmp_path / "upscale_srgan").glob("*/entry.json"))) == 1


def test_quality_false_skips_the_quality_metrics_and_changes_nothing_else(data, tmp_path) -> None:
    """A sweep's search trials run with ``quality=False``: same scores, no secondary metrics."""
    cfg = _cfg("upscale.method=srgan", "rebalance.method=cgan", "metrics.enabled=true")
    full = evaluate_trial(cfg, data, cache_dir=tmp_path)
    lean = evaluate_trial(cfg, data, cache_dir=tmp_path, quality=False)
    quality = {results.PSNR_SRGAN, results.PSNR_BICUBIC, results.FID_DOMAIN, results.CAS_ACCURACY}
    assert quality <= set(full.metrics) and not quality & set(lean.metrics)
    kept = set(lean.metrics) - {results.STAGE_SECONDS, results.COMPUTE_SECONDS}
    kept -= {results.COMPUTE_SECONDS_TOTAL, results.GAN_EPOCHS, results.GAN_EPOCHS_TRAINED}
    assert kept and {k: lean.metrics[k] for k in kept} == {k: full.metrics[k] for k in kept}
    assert "quality" in full.metrics[results.STAGE_SECONDS]
    assert "quality" not in lean.metrics[results.STAGE_SECONDS]


def test_no_test_image_reaches_any_fit(data, monkeypatch) -> None:
    import galaxybench.trial.steps as stages
    from galaxybench.registry import REBALANCERS, UPSCALERS

    seen: dict[str, list] = {}
    for registry, name in ((UPSCALERS, "srgan"), (REBALANCERS, "cgan")):
        cls = registry.get(name)
        # The trial trains a resumable GAN through train_to (budget ladder), others through fit.
        method = "train_to" if hasattr(cls, "train_to") else "fit"
        original = getattr(cls, method)

        def spy(self, cfg, train, *args, _orig=original, _name=name, **kwargs):
            seen.setdefault(_name, []).append(train.index.copy())
            return _orig(self, cfg, train, *args, **kwargs)

        monkeypatch.setattr(cls, method, spy)
    original_train = stages.train_classifier

    def spy_classifier(cfg, train_x, train_y, val_x, val_y, **kwargs):
        seen.setdefault("classifier", []).append((train_x.copy(), val_x.copy()))
        return original_train(cfg, train_x, train_y, val_x, val_y, **kwargs)

    monkeypatch.setattr(stages, "train_classifier", spy_classifier)
    evaluate_trial(_cfg("upscale.method=srgan", "rebalance.method=cgan"), data)
    test = set(data.splits["test"].tolist())
    for name in ("srgan", "cgan"):
        assert seen[name] and all(not test & set(ix.tolist()) for ix in seen[name])
    # Oracle-free check on pixels: no true test HR image is among the classifier's inputs.
    oracle = evaluate_trial(_cfg("upscale.method=oracle"), data, baseline=False)
    assert oracle.ok
    test_rows = {row.tobytes() for row in data.hr[data.splits["test"]]}
    train_x, val_x = seen["classifier"][-1]
    assert not test_rows & {row.tobytes() for row in np.concatenate([train_x, val_x])}


def test_check_no_leak_catches_overlaps(data) -> None:
    check_no_leak(data, fit=data.splits["train"])
    with pytest.raises(AssertionError, match="test images reached fit"):
        check_no_leak(data, fit=data.splits["test"][:2])


def test_diverged_gan_ends_trial_with_reason(data) -> None:
    result = evaluate_trial(_cfg("rebalance.method=cgan", "cgan.lr=1.0e+30"), data, baseline=False)
    assert result.status == results.STATUS_DIVERGED
    assert "cgan diverged" in result.reason


def test_effective_config_ignores_settings_of_unused_stages() -> None:
    cfg = _cfg()
    assert effective_flat(cfg) == effective_flat(cfg.replace(**{"cgan.lr": 0.5, "srgan.depth": 3}))
    assert effective_flat(cfg) != effective_flat(cfg.replace(**{"classifier.epochs": 3}))
    assert effective_flat(baseline_config(_cfg("upscale.method=srgan"))) == effective_flat(cfg)
