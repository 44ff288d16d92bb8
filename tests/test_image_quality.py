"""Reference tests of PSNR/SSIM (galaxybench.metrics.image_quality) against hand computations
and scikit-image (a test-only dependency).

Usage: ``pytest tests/test_image_quality.py``
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from galaxybench.metrics.image_quality import SR_N, psnr, sr_quality, ssim
from galaxybench.results import PSNR_BICUBIC, PSNR_SRGAN, SSIM_BICUBIC, SSIM_SRGAN

skmetrics = pytest.importorskip("skimage.metrics")
CPU = torch.device("cpu")


def _random(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8)


def _smooth(n: int, size: int, seed: int) -> np.ndarray:
    """Smooth gradients with a blob: the structured regime SSIM is meant for."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        cx, cy, s = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.3)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        chans = [200 * blob * rng.uniform(0.5, 1) + 40 * xx * rng.uniform(0, 1) for _ in range(3)]
        out.append(np.stack(chans))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _noisy(images: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, images.shape)
    return np.clip(np.round(images + noise), 0, 255).astype(np.uint8)


def _skimage_ssim(pred: np.ndarray, true: np.ndarray) -> float:
    return float(
        np.mean(
            [
                skmetrics.structural_similarity(
                    p,
                    t,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                    data_range=255,
                    channel_axis=0,
                )
                for p, t in zip(pred, true, strict=True)
            ]
        )
    )


def test_psnr_matches_hand_computation():
    true = _smooth(4, 16, seed=1)
    pred = _noisy(true, 10.0, seed=2)
    per_image = []
    for p, t in zip(pred, true, strict=True):
        mse = np.mean((p.astype(float) - t.astype(float)) ** 2)
        per_image.append(10 * math.log10(255**2 / mse))
    assert psnr(pred, true) == pytest.approx(np.mean(per_image), abs=1e-9)


def test_psnr_one_level_off_everywhere_is_48_13_db():
    true = np.full((2, 3, 8, 8), 100, np.uint8)
    assert psnr(true + 1, true) == pytest.approx(20 * math.log10(255), abs=1e-9)


def test_psnr_of_identical_images_is_finite_cap_above_any_imperfect_image():
    true = _smooth(3, 16, seed=3)
    cap = 10 * math.log10(255**2 * 2 * 3 * 16 * 16)  # MSE floored at half of 1/n_values
    assert psnr(true, true) == pytest.approx(cap)
    one_off = true.copy()
    one_off[0, 0, 0, 0] ^= 1  # the least imperfect image possible
    assert psnr(one_off[:1], true[:1]) < cap


def test_psnr_decreases_with_noise():
    true = _smooth(4, 16, seed=4)
    values = [psnr(_noisy(true, s, seed=5), true) for s in (2.0, 8.0, 32.0)]
    assert values[0] > values[1] > values[2]


@pytest.mark.parametrize("kind", ["random", "smooth", "smooth_noisy"])
@pytest.mark.parametrize("size", [16, 23])
def test_ssim_matches_skimage(kind: str, size: int):
    if kind == "random":
        pred, true = _random(3, size, seed=6), _random(3, size, seed=7)
    else:
        true = _smooth(3, size, seed=8)
        pred = _noisy(true, 3.0 if kind == "smooth" else 25.0, seed=9)
    assert ssim(pred, true) == pytest.approx(_skimage_ssim(pred, true), abs=1e-3)


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    true = _smooth(3, 16, seed=10)
    assert ssim(true, true) == pytest.approx(1.0, abs=1e-12)
    values = [ssim(_noisy(true, s, seed=11), true) for s in (2.0, 10.0, 40.0)]
    assert 1.0 > values[0] > values[1] > values[2]


def test_ssim_chunking_does_not_change_the_mean(monkeypatch):
    from galaxybench.metrics import image_quality

    true = _smooth(5, 16, seed=12)
    pred = _noisy(true, 10.0, seed=13)
    whole = ssim(pred, true)
    monkeypatch.setattr(image_quality, "_SSIM_CHUNK", 2)
    assert ssim(pred, true) == pytest.approx(whole, abs=1e-12)


def test_ssim_on_images_smaller_than_the_window_shrinks_it():
    true = _smooth(2, 8, seed=14)
    assert ssim(true, true) == pytest.approx(1.0)
    assert ssim(_noisy(true, 20.0, seed=15), true) < 0.99


def test_mismatched_shapes_and_dtypes_are_refused():
    a = _random(2, 16, seed=16)
    with pytest.raises(ValueError, match="one non-empty shape"):
        psnr(a, a[:1])
    with pytest.raises(ValueError, match="uint8"):
        ssim(a.astype(np.float32), a)


def test_sr_quality_reports_both_methods_side_by_side():
    hr = _smooth(4, 16, seed=17)
    lr = torch.nn.functional.avg_pool2d(torch.from_numpy(hr).float(), 2).round().byte().numpy()
    without = sr_quality(lr, hr, None, device=CPU)
    assert without[PSNR_SRGAN] is None and without[SSIM_SRGAN] is None
    assert without[SR_N] == 4
    assert 20.0 < without[PSNR_BICUBIC] < 60.0 and 0.5 < without[SSIM_BICUBIC] < 1.0
    perfect = sr_quality(lr, hr, hr.copy(), device=CPU)
    assert perfect[SSIM_SRGAN] == pytest.approx(1.0)
    assert perfect[PSNR_SRGAN] > perfect[PSNR_BICUBIC]
    assert perfect[PSNR_BICUBIC] == without[PSNR_BICUBIC]
