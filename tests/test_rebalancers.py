"""Rebalancers (none, oversample, cgan), the rebalancing plan and cGAN divergence detection.

Tiny on purpose: LR 8 px, 42 images of 3 classes, width 8, 2 epochs (well under a second each).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galaxybench.config import Config
from galaxybench.data.prepared import SplitArrays
from galaxybench.errors import ConfigError, DataError, InputError, TrialDiverged
from galaxybench.registry import REBALANCERS
from galaxybench.stages import cgan_nets, rebalance_cgan, rebalance_none, rebalance_oversample
from galaxybench.stages.rebalance_plan import plan_counts

CPU = torch.device("cpu")
SIDE = 8
CLASS_COUNTS = (24, 12, 6)
# Galaxy10 DECaLS counts (DESIGN section 5).
DECALS = np.array([1081, 1853, 2645, 2027, 334, 2043, 1829, 2628, 1423, 1873])


def _toy_train(seed: int = 0) -> SplitArrays:
    """Galaxy-like LR images: a jittered Gaussian blob whose shape depends on the class, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), CLASS_COUNTS).astype(np.int64)
    axis = np.linspace(-1, 1, SIDE)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    images = []
    for cls in labels:
        cx, cy = rng.normal(0, 0.15, 2)
        sx, sy = (0.3, 0.3) if cls == 0 else (0.6, 0.2) if cls == 1 else (0.5, 0.5)
        blob = np.exp(-((x - cx) ** 2 / sx**2 + (y - cy) ** 2 / sy**2))
        colour = np.array([0.8, 1.0, 1.2]) * rng.uniform(0.6, 1.0)
        img = 220 * colour[:, None, None] * blob + rng.normal(0, 8, (3, SIDE, SIDE))
        images.append(np.clip(img, 0, 255).astype(np.uint8))
    lr = np.stack(images)
    return SplitArrays(lr, np.zeros((len(labels), 3, 2 * SIDE, 2 * SIDE), np.uint8), labels,
                       np.arange(len(labels), dtype=np.int64))


@pytest.fixture(scope="module")
def train() -> SplitArrays:
    return _toy_train()


@pytest.fixture(scope="module")
def cfg() -> Config:
    return Config().replace(**{"cgan.width": 8, "cgan.latent_dim": 16, "cgan.epochs": 2,
                               "cgan.batch_size": 16, "data.hr_size": 2 * SIDE})


@pytest.fixture(scope="module")
def cgan_weights(cfg: Config, train: SplitArrays) -> dict[str, torch.Tensor]:
    return rebalance_cgan.CganRebalancer().fit(cfg, train, [1, 2], seed=0, device=CPU)


# ---- plan_counts: hand computations ----------------------------------------------------------

def test_plan_counts_decals_by_hand() -> None:
    # max 2645; 0.66 x 2645 = 1745.7: below it are 0 (1081), 4 (334), 8 (1423); ceil = 1746.
    assert plan_counts(DECALS, 0.66, 0.66) == {0: 1746 - 1081, 4: 1746 - 334, 8: 1746 - 1423}
    # threshold 0.5 (1322.5) keeps 0 and 4; target 0.8 -> ceil(2116.0) = 2116.
    assert plan_counts(DECALS, 0.5, 0.8) == {0: 2116 - 1081, 4: 2116 - 334}


def test_plan_counts_edges() -> None:
    # 0.7 x 10 is 7.000000000000001 in floats: class 1 (7) is not below 7, class 2 gets 1 image;
    # class 3 has no image and is omitted.
    assert plan_counts(np.array([10, 7, 6, 0]), 0.7, 0.7) == {2: 1}
    # target below the class's count: below the threshold but nothing to add.
    assert plan_counts(np.array([100, 40]), 0.5, 0.3) == {}
    assert plan_counts(np.array([5, 5, 5]), 1.0, 1.0) == {}
    with pytest.raises(ConfigError):
        plan_counts(np.array([10, -1]), 0.5, 0.5)
    with pytest.raises(ConfigError):
        plan_counts(np.array([10, 1]), 0.0, 0.5)


def test_plan_counts_exported_from_none_module() -> None:
    assert rebalance_none.plan_counts is plan_counts


# ---- contract over every registered rebalancer -----------------------------------------------

@pytest.mark.parametrize("name", ["none", "oversample", "cgan"])
def test_contract(name: str, cfg: Config, train: SplitArrays, cgan_weights) -> None:
    rebalancer = REBALANCERS.get(name)()
    counts = {1: 7, 2: 40}
    weights = cgan_weights if rebalancer.trainable else rebalancer.fit(cfg, train, [1, 2],
                                                                      seed=0, device=CPU)
    lr, labels = rebalancer.generate(cfg, weights, train, counts, seed=3, device=CPU)
    again, labels_again = rebalancer.generate(cfg, weights, train, counts, seed=3, device=CPU)
    assert lr.dtype == np.uint8 and labels.dtype == np.int64
    assert lr.shape[1:] == (3, SIDE, SIDE) and lr.shape[0] == labels.shape[0]
    expected = 0 if name == "none" else sum(counts.values())
    assert lr.shape[0] == expected
    if name != "none":
        assert np.bincount(labels, minlength=3).tolist() == [0, 7, 40]
    np.testing.assert_array_equal(lr, again)
    np.testing.assert_array_equal(labels, labels_again)


def test_none_is_empty_and_untrained(cfg: Config, train: SplitArrays) -> None:
    none = rebalance_none.NoRebalance()
    assert none.trainable is False and none.fit(cfg, train, [1], seed=0, device=CPU) is None
    lr, labels = none.generate(cfg, None, train, {1: 5}, seed=0, device=CPU)
    assert lr.shape == (0, 3, SIDE, SIDE) and labels.shape == (0,)


# ---- oversample ------------------------------------------------------------------------------

def test_oversample_repeats_real_images_evenly(cfg: Config, train: SplitArrays) -> None:
    lr, labels = rebalance_oversample.Oversample().generate(cfg, None, train, {2: 15, 1: 5},
                                                            seed=1, device=CPU)
    assert labels.tolist() == [1] * 5 + [2] * 15
    for cls, n in ((1, 5), (2, 15)):
        real = {img.tobytes(): 0 for img in train.lr[train.labels == cls]}
        for img in lr[labels == cls]:
            real[img.tobytes()] += 1  # KeyError if it is not a real image of this class
        pool = len(real)
        # without replacement until all are used: each used floor or ceil of n / pool times
        assert set(real.values()) <= {n // pool, -(-n // pool)}
        assert sum(real.values()) == n


def test_oversample_seeds(cfg: Config, train: SplitArrays) -> None:
    over = rebalance_oversample.Oversample()
    a, _ = over.generate(cfg, None, train, {0: 20}, seed=1, device=CPU)
    b, _ = over.generate(cfg, None, train, {0: 20}, seed=2, device=CPU)
    c, _ = over.generate(cfg, None, train, {0: 20, 2: 3}, seed=1, device=CPU)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c[:20])  # a class's copies ignore the other classes
    with pytest.raises(DataError, match="class 5"):
        over.generate(cfg, None, train, {5: 2}, seed=1, device=CPU)
