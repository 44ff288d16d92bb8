"""Contract and behaviour tests of the upscalers (bicubic, srgan, oracle) at tiny size.

Usage: ``pytest tests/test_upscalers.py``
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import lr_hr_pairs

from galaxybench import images
from galaxybench.config import Config, SrganConfig
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import DataError, TrialDiverged
from galaxybench.registry import UPSCALERS
from galaxybench.stages import upscale_bicubic, upscale_oracle, upscale_srgan  # noqa: F401

CPU = torch.device("cpu")
NAMES = ("bicubic", "oracle", "srgan")
TINY = SrganConfig(depth=1, channels=8, pretrain_epochs=1, epochs=1, batch_size=16, lr=1.0e-3)


def _tiny_cfg(**srgan: object) -> Config:
    # Built directly (not from_flat) so the test does not depend on every stage being registered.
    fields = {**TINY.__dict__, **srgan}
    return Config(srgan=SrganConfig(**fields))


@pytest.fixture(scope="module")
def train() -> SplitArrays:
    return lr_hr_pairs()


@pytest.fixture(scope="module")
def srgan_fit(train: SplitArrays) -> tuple[dict, dict]:
    up = UPSCALERS.get("srgan")()
    weights = up.fit(_tiny_cfg(), train, seed=3, device=CPU)
    return weights, up.history


def _weights_for(name: str, train: SplitArrays, srgan_fit: tuple[dict, dict]):
    return (
        srgan_fit[0]
        if name == "srgan"
        else UPSCALERS.get(name)().fit(_tiny_cfg(), train, seed=0, device=CPU)
    )


@pytest.mark.parametrize("name", NAMES)
def test_contract_shapes_dtype_and_repeatability(name, train, srgan_fit):
    assert set(NAMES) <= set(UPSCALERS.names())
    up = UPSCALERS.get(name)()
    assert isinstance(up.trainable, bool) and isinstance(up.needs_hr, bool)
    weights = _weights_for(name, train, srgan_fit)
    assert (weights is not None) == up.trainable
    lr, hr = train.lr[:10], train.hr[:10]
    out = up.apply(_tiny_cfg(), weights, lr, device=CPU, hr_true=hr)
    assert out.shape == (10, 3, 16, 16) and out.dtype == np.uint8
    again = up.apply(_tiny_cfg(), weights, lr, device=CPU, hr_true=hr)
    np.testing.assert_array_equal(out, again)


@pytest.mark.parametrize("name", NAMES)
def test_contract_refuses_non_uint8_input(name, train, srgan_fit):
    up = UPSCALERS.get(name)()
    with pytest.raises(ValueError, match="uint8"):
        up.apply(
            _tiny_cfg(),
            _weights_for(name, train, srgan_fit),
            train.lr.astype(np.float32),
            device=CPU,
            hr_true=train.hr,
        )


def test_bicubic_of_a_constant_image_is_constant():
    lr = np.full((2, 3, 8, 8), 137, np.uint8)
    out = UPSCALERS.get("bicubic")().apply(_tiny_cfg(), None, lr, device=CPU)
    assert out.shape == (2, 3, 16, 16) and np.all(out == 137)


def test_bicubic_matches_torch_interpolate_and_batching(monkeypatch, train):
    expected = (
        F.interpolate(
            torch.from_numpy(train.lr).float(), scale_factor=2, mode="bicubic", align_corners=False
        )
        .clamp(0, 255)
        .round()
        .byte()
        .numpy()
    )
    monkeypatch.setattr(images, "_BATCH", 7)  # chunking must not change a pixel
    np.testing.assert_array_equal(images.bicubic_x2(train.lr, CPU), expected)


def test_oracle_returns_a_writable_copy_of_hr_true(train):
    hr = train.hr[:4].copy()
    hr.setflags(write=False)  # as arrays arrive from Ray's object store
    out = UPSCALERS.get("oracle")().apply(_tiny_cfg(), None, train.lr[:4], device=CPU, hr_true=hr)
    np.testing.assert_array_equal(out, hr)
    assert out.flags.writeable and not np.shares_memory(out, hr)


def test_oracle_without_or_with_wrong_hr_true_raises(train):
    up = UPSCALERS.get("oracle")()
    with pytest.raises(ValueError, match="needs hr_true"):
        up.apply(_tiny_cfg(), None, train.lr[:4], device=CPU)
    with pytest.raises(ValueError, match="oracle hr_true must be"):
        up.apply(_tiny_cfg(), None, train.lr[:4], device=CPU, hr_true=train.hr[:3])


def test_srgan_is_deterministic_for_a_seed(train, srgan_fit):
    weights, _ = srgan_fit
    again = UPSCALERS.get("srgan")().fit(_tiny_cfg(), train, seed=3, device=CPU)
    assert weights.keys() == again.keys()
    for key in weights:
        assert torch.equal(weights[key], again[key]), key
    other = UPSCALERS.get("srgan")().fit(_tiny_cfg(), train, seed=4, device=CPU)
    assert not torch.equal(weights["head.0.weight"], other["head.0.weight"])


def test_srgan_weights_are_cpu_tensors_that_reload(train, srgan_fit, tmp_path):
    weights, _ = srgan_fit
    assert all(v.device.type == "cpu" for v in weights.values())
    torch.save(weights, tmp_path / "w.pt")
    loaded = torch.load(tmp_path / "w.pt", weights_only=True)
    up = UPSCALERS.get("srgan")()
    np.testing.assert_array_equal(
        up.apply(_tiny_cfg(), loaded, train.lr[:5], device=CPU),
        up.apply(_tiny_cfg(), weights, train.lr[:5], device=CPU),
    )


def test_srgan_history_records_every_epoch(srgan_fit):
    _, history = srgan_fit
    assert len(history["pretrain_mse"]) == 1
    assert all(len(history[k]) == 1 for k in ("content_mse", "adversarial", "discriminator"))
    assert all(np.isfinite(v) for values in history.values() for v in values)


def test_srgan_pretraining_lowers_pixel_mse(train):
    up = UPSCALERS.get("srgan")()
    cfg = _tiny_cfg(pretrain_epochs=4, epochs=0, batch_size=8)
    weights = up.fit(cfg, train, seed=0, device=CPU)
    mse = up.history["pretrain_mse"]
    assert mse[-1] < 0.5 * mse[0]
    untrained = up.fit(_tiny_cfg(pretrain_epochs=0, epochs=0), train, seed=0, device=CPU)

    def pixel_mse(w: dict) -> float:
        out = up.apply(cfg, w, train.lr, device=CPU).astype(np.float64)
        return float(np.mean((out - train.hr) ** 2))

    assert pixel_mse(weights) < 0.5 * pixel_mse(untrained)


def test_srgan_with_an_absurd_learning_rate_diverges(train):
    with pytest.raises(TrialDiverged, match="srgan diverged: non-finite loss"):
        UPSCALERS.get("srgan")().fit(
            _tiny_cfg(lr=1.0e30, pretrain_epochs=3, epochs=0), train, seed=0, device=CPU
        )


def test_srgan_needs_weights_and_two_images(train):
    up = UPSCALERS.get("srgan")()
    with pytest.raises(ValueError, match="needs the weights"):
        up.apply(_tiny_cfg(), None, train.lr[:2], device=CPU)
    with pytest.raises(DataError, match="at least 2"):
        up.fit(_tiny_cfg(), train.take(np.array([0])), seed=0, device=CPU)


def test_srgan_bicubic_skip_starts_at_bicubic_and_keeps_training(train):
    up = UPSCALERS.get("srgan")()
    untrained = up.fit(
        _tiny_cfg(bicubic_skip=True, pretrain_epochs=0, epochs=0), train, seed=0, device=CPU
    )
    out = up.apply(_tiny_cfg(bicubic_skip=True), untrained, train.lr, device=CPU).astype(int)
    bicubic = images.bicubic_x2(train.lr, CPU).astype(int)
    assert np.abs(out - bicubic).max() <= 1  # float rounding only
    trained = up.fit(_tiny_cfg(bicubic_skip=True), train, seed=0, device=CPU)
    assert not torch.equal(trained["tail.weight"], untrained["tail.weight"])
