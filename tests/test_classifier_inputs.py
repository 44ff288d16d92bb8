"""Classifier inputs on sparse, high-dynamic-range images: standardisation, asinh stretch, and the
flag for a classifier that never leaves the class prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galaxybench.config import load_profile
from galaxybench.errors import ConfigError
from galaxybench.stages.classify_cnn import (
    MIN_STD,
    PaperCNN,
    asinh_stretch,
    degeneracy,
    input_statistics,
    train_classifier,
)

CPU = torch.device("cpu")
# The arrangement of a few bright pixels tells the class.
SHAPES = {0: [(0, 0), (0, 1)], 1: [(0, 0), (1, 0)], 2: [(0, 0), (1, 1)], 3: [(0, 0)]}


def sparse_set(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, size, size) uint8 zeros with one faint source (5..39 of 255): a horizontal pair,
    a vertical pair, a diagonal pair or a single pixel, at a random place."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = np.zeros((n, 3, size, size), np.uint8)
    for i, c in enumerate(y):
        r, q = rng.integers(2, size - 3, 2)
        value = rng.integers(5, 40)
        for dr, dq in SHAPES[int(c)]:
            x[i, :, r + dr, q + dq] = value
    return x, y.astype(np.int64)


def _train(standardize: bool, seed: int, stretch: str = "none"):
    cfg = load_profile(
        "default",
        [
            f"classifier.standardize={str(standardize).lower()}",
            f"classifier.stretch={stretch}",
            "classifier.epochs=6",
            "classifier.batch_size=32",
            "classifier.dense_units=64",
        ],
    )
    xt, yt = sparse_set(400, 16, 100)
    xv, yv = sparse_set(200, 16, 200)
    return train_classifier(
        cfg, xt, yt, xv, yv, num_classes=4, minority_classes=[0, 1, 2, 3], seed=seed, device=CPU
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_set_stalls_unstandardised_and_learns_standardised(seed: int) -> None:
    torch.set_num_threads(1)
    old = _train(False, seed)  # inputs only scaled to [-1, 1], as before standardisation
    prior = np.bincount(sparse_set(200, 16, 200)[1]).max() / 200
    assert max(h["val_accuracy"] for h in old.history) <= prior + 0.02
    assert old.degenerate_reason is not None and "one class" in old.degenerate_reason
    new = _train(True, seed)
    assert new.history[new.best_epoch - 1]["val_accuracy"] > 0.9
    assert new.degenerate_reason is None


def test_asinh_stretch_also_learns_and_runs_are_deterministic() -> None:
    torch.set_num_threads(1)
    a, b = _train(True, 0, "asinh"), _train(True, 0, "asinh")
    assert a.history == b.history  # same seed, same result on a CPU
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    assert a.history[a.best_epoch - 1]["val_accuracy"] > 0.9
    assert a.model.stretch == "asinh"


def test_input_statistics_match_numpy_and_floor_constant_channels() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 3, 8, 8)).astype(np.uint8)
    x[:, 2] = 0  # a constant channel
    stats = input_statistics(x, chunk=7)  # several chunks
    f = x.astype(np.float64) / 127.5 - 1.0
    np.testing.assert_allclose(stats.mean, f.mean(axis=(0, 2, 3)), atol=1e-12)
    np.testing.assert_allclose(stats.std[:2], f.std(axis=(0, 2, 3))[:2], rtol=1e-9)
    assert stats.std[2] == MIN_STD and stats.n_images == 50
    stretched = input_statistics(x, stretch="asinh", softening=0.1)
    s = asinh_stretch(f, 0.1)
    np.testing.assert_allclose(stretched.mean, s.mean(axis=(0, 2, 3)), atol=1e-12)


def test_asinh_stretch_by_hand_and_model_standardises_with_its_buffers() -> None:
    x = np.array([-1.0, 0.0, 1.0])  # intensities 0, 0.5, 1
    b = 0.05
    expected = 2 * np.arcsinh(np.array([0.0, 0.5, 1.0]) / b) / np.arcsinh(1 / b) - 1
    np.testing.assert_allclose(asinh_stretch(x, b), expected, rtol=1e-12)
    np.testing.assert_allclose(asinh_stretch(torch.tensor(x), b).numpy(), expected, rtol=1e-12)
    model = PaperCNN(4, 16, 8)
    inputs = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(model.prepare(inputs), inputs)  # default: the identity (old behaviour)
    stats = input_statistics(np.full((2, 3, 4, 4), 200, np.uint8))
    model.set_input_stats(stats)
    assert set(model.state_dict()) >= {"in_mean", "in_std"}
    mean = torch.tensor(stats.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(stats.std, dtype=torch.float32).view(1, 3, 1, 1)
    torch.testing.assert_close(model.prepare(inputs), (inputs - mean) / std)


def test_degeneracy_reasons() -> None:
    ok = [
        {"val_minority_f1": 0.0, "val_predicted_classes": 1},
        {"val_minority_f1": 0.3, "val_predicted_classes": 3},
    ]
    assert degeneracy(ok, 2, True) is None
    assert "one class" in degeneracy(ok, 1, True, np.array([2, 2]))
    flat = [{"val_minority_f1": 0.0, "val_predicted_classes": 2}] * 3
    assert "0 at every one of 3 epochs" in degeneracy(flat, 1, True)
    assert degeneracy(flat, 1, False) is None  # no minority images in validation: no verdict


def test_stretch_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"classifier\.stretch"):
        load_profile("smoke", ["classifier.stretch=log"])
    with pytest.raises(ConfigError, match="asinh_softening"):
        load_profile("smoke", ["classifier.asinh_softening=0"])
