"""Rebalancers (none, oversample, cgan), the rebalancing plan and cGAN divergence detection.

Tiny on purpose: LR 8 px, 42 images of 3 classes, width 8, 2 epochs (well under a second each).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import ConfigError, DataError, InputError, TrialDiverged
from galaxybench.registry import REBALANCERS
from galaxybench.stages import rebalance_cgan, rebalance_none, rebalance_oversample
from galaxybench.stages import rebalance_cgan_nets as cgan_nets
from galaxybench.stages.rebalance_plan import plan_counts

CPU = torch.device("cpu")
SIDE = 8
CLASS_COUNTS = (24, 12, 6)
# Galaxy10 DECaLS counts (galaxybench/data/classes.py).
DECALS = np.array([1081, 1853, 2645, 2027, 334, 2043, 1829, 2628, 1423, 1873])


def _toy_train(seed: int = 0) -> SplitArrays:
    """Galaxy-like LR images: a jittered Gaussian blob shaped by the class, plus noise."""
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
    return SplitArrays(
        lr,
        np.zeros((len(labels), 3, 2 * SIDE, 2 * SIDE), np.uint8),
        labels,
        np.arange(len(labels), dtype=np.int64),
    )


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is faster, and avoids spin-waiting on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def train() -> SplitArrays:
    return _toy_train()


@pytest.fixture(scope="module")
def cfg() -> Config:
    return Config().replace(
        **{
            "cgan.width": 8,
            "cgan.latent_dim": 16,
            "cgan.epochs": 2,
            "cgan.batch_size": 16,
            "data.hr_size": 2 * SIDE,
        }
    )


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
    # target below the threshold: the class is filled up to the threshold (50), not the target.
    assert plan_counts(np.array([100, 40]), 0.5, 0.3) == {1: 10}
    assert plan_counts(np.array([5, 5, 5]), 1.0, 1.0) == {}
    with pytest.raises(ConfigError):
        plan_counts(np.array([10, -1]), 0.5, 0.5)
    with pytest.raises(ConfigError):
        plan_counts(np.array([10, 1]), 0.0, 0.5)


# ---- contract over every registered rebalancer -----------------------------------------------


@pytest.mark.parametrize("name", ["none", "oversample", "cgan"])
def test_contract(name: str, cfg: Config, train: SplitArrays, cgan_weights) -> None:
    rebalancer = REBALANCERS.get(name)()
    counts = {1: 7, 2: 40}
    weights = (
        cgan_weights
        if rebalancer.trainable
        else rebalancer.fit(cfg, train, [1, 2], seed=0, device=CPU)
    )
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
    lr, labels = rebalance_oversample.Oversample().generate(
        cfg, None, train, {2: 15, 1: 5}, seed=1, device=CPU
    )
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


# ---- cgan ------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [8, 12, 16, 32, 64])
def test_cgan_nets_any_side_multiple_of_4(side: int) -> None:
    gen = cgan_nets.Generator(num_classes=3, latent_dim=8, width=4, side=side)
    disc = cgan_nets.Discriminator(num_classes=3, width=4, side=side)
    labels = torch.tensor([0, 2])
    images = gen(torch.randn(2, 8), labels)
    assert images.shape == (2, 3, side, side) and images.abs().max() <= 1.0  # tanh output
    assert disc(images, labels).shape == (2,)
    start, n_up = cgan_nets.layer_plan(side)
    assert start * 2**n_up == side and n_up >= 2
    with pytest.raises(ValueError):
        cgan_nets.layer_plan(side + 2)


def test_cgan_weights_are_cpu_tensors_with_class_map(cgan_weights) -> None:
    assert all(isinstance(v, torch.Tensor) and v.device == CPU for v in cgan_weights.values())
    assert cgan_weights["meta.class_ids"].tolist() == [1, 2]
    gen, class_ids, latent = cgan_nets.unpack_weights(cgan_weights)
    assert class_ids == [1, 2] and latent == 16 and not gen.training


def test_cgan_fit_deterministic_on_cpu(cfg: Config, train: SplitArrays, cgan_weights) -> None:
    gan = rebalance_cgan.CganRebalancer()
    again = gan.fit(cfg, train, [2, 1], seed=0, device=CPU)
    other = gan.fit(cfg, train, [1, 2], seed=1, device=CPU)
    assert again.keys() == cgan_weights.keys()
    assert all(torch.equal(again[k], cgan_weights[k]) for k in again)
    assert not torch.equal(other["generator.dense.weight"], cgan_weights["generator.dense.weight"])


def test_cgan_generate_seeds_and_classes(cfg: Config, train: SplitArrays, cgan_weights) -> None:
    gan = rebalance_cgan.CganRebalancer()
    both, labels = gan.generate(cfg, cgan_weights, train, {1: 3, 2: 300}, seed=5, device=CPU)
    alone, _ = gan.generate(cfg, cgan_weights, train, {2: 300}, seed=5, device=CPU)
    other, _ = gan.generate(cfg, cgan_weights, train, {2: 300}, seed=6, device=CPU)
    assert labels.tolist() == [1] * 3 + [2] * 300  # 300 > one generation batch of 256
    np.testing.assert_array_equal(both[3:], alone)  # a class's noise ignores the other classes
    assert not np.array_equal(alone, other)
    assert len({img.tobytes() for img in alone}) == 300  # distinct samples, not one repeated
    with pytest.raises(InputError, match=r"trained only on \[1, 2\]"):
        gan.generate(cfg, cgan_weights, train, {0: 4}, seed=5, device=CPU)
    empty, _ = gan.generate(cfg, cgan_weights, train, {}, seed=5, device=CPU)
    assert empty.shape == (0, 3, SIDE, SIDE)


def test_cgan_fit_refuses_empty_or_absent_classes(cfg: Config, train: SplitArrays) -> None:
    gan = rebalance_cgan.CganRebalancer()
    with pytest.raises(InputError, match="no class"):
        gan.fit(cfg, train, [], seed=0, device=CPU)
    with pytest.raises(DataError, match="class 7"):
        gan.fit(cfg, train, [1, 7], seed=0, device=CPU)


# ---- divergence ------------------------------------------------------------------------------


def test_cgan_huge_learning_rate_diverges(cfg: Config, train: SplitArrays) -> None:
    wild = cfg.replace(**{"cgan.lr": 1.0e30})
    with pytest.raises(TrialDiverged, match="non-finite") as info:
        rebalance_cgan.CganRebalancer().fit(wild, train, [0, 1, 2], seed=0, device=CPU)
    assert info.value.stage == "cgan" and info.value.exit_code == 3


def _collapse_check(gen: cgan_nets.Generator, train: SplitArrays, class_ids: list[int]) -> None:
    images, labels, ids = rebalance_cgan._training_images(train, class_ids, CPU)
    rebalance_cgan.check_mode_collapse(
        gen.eval(), images, labels, ids, gen.embed.embedding_dim, seed=0, device=CPU
    )


def test_collapse_detected_when_generator_ignores_z(train: SplitArrays, cgan_weights) -> None:
    gen, class_ids, latent = cgan_nets.unpack_weights(cgan_weights)
    _collapse_check(gen, train, class_ids)  # the trained one passes
    with torch.no_grad():
        gen.dense.weight[:, :latent] = 0  # the latent half of the input: output = f(label) only
    with pytest.raises(TrialDiverged, match=r"mode collapse for class 1: diversity"):
        _collapse_check(gen, train, class_ids)


def test_collapse_detected_when_z_is_swamped(train: SplitArrays, cgan_weights) -> None:
    # The embedded-set collapse: one image per class plus faint z-dependent speckle.
    gen, class_ids, latent = cgan_nets.unpack_weights(cgan_weights)
    with torch.no_grad():
        gen.dense.weight[:, :latent] *= 0.05
        gen.embed.weight.mul_(50.0)
    with pytest.raises(TrialDiverged, match=r"mode collapse for class \d: diversity"):
        _collapse_check(gen, train, class_ids)


def test_diversity_by_hand() -> None:
    one = torch.rand(1, 3, 4, 4).expand(5, 3, 4, 4)
    assert rebalance_cgan.diversity(one)[0] == pytest.approx(0.0, abs=1e-3)
    assert rebalance_cgan.diversity(torch.zeros(4, 3, 4, 4)) == (0.0, 0.0)
    two = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])
    # distance sqrt(12); pixel std 0.5 over 12 pixels: sqrt(12) / (sqrt(24) x 0.5) = sqrt(2)
    div, total = rebalance_cgan.diversity(two)
    assert total == pytest.approx(0.5) and div == pytest.approx(2**0.5, rel=1e-5)
    noise = torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert rebalance_cgan.diversity(noise)[0] == pytest.approx(1.0, abs=0.02)  # iid pixels
    # contrast-free: scaling and shifting all images changes nothing
    assert rebalance_cgan.diversity(0.1 * noise - 0.7)[0] == pytest.approx(
        rebalance_cgan.diversity(noise)[0], rel=1e-4
    )


def test_minibatch_stddev_is_per_class() -> None:
    h = torch.randn(2, 5, 2, 2).repeat_interleave(3, dim=0)  # each class: 3 copies of one map
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    out = cgan_nets.minibatch_stddev(h, labels)
    assert out.shape == (6, 6, 2, 2) and torch.equal(out[:, :5], h)
    assert out[:, 5].abs().max() < 1e-2  # alike within a class, though the classes differ
    varied = cgan_nets.minibatch_stddev(torch.randn(6, 5, 2, 2), labels)
    assert varied[:, 5].min() > 0.1


def test_collapse_detected_for_constant_output(train: SplitArrays, cgan_weights) -> None:
    gen, class_ids, _ = cgan_nets.unpack_weights(cgan_weights)
    last = gen.body[-2]  # the ConvTranspose2d to 3 channels before tanh
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.2, -0.1, 0.4]))  # one coloured plane, whatever z
    with pytest.raises(TrialDiverged, match="diversity"):
        _collapse_check(gen, train, class_ids)
    with torch.no_grad():
        last.bias.zero_()  # zeroed weights: one flat grey image
    with pytest.raises(TrialDiverged, match="flat image"):
        _collapse_check(gen, train, class_ids)


def test_smoke_profile_run_is_not_called_collapsed(train: SplitArrays) -> None:
    # The smoke profile's cGAN (1 epoch, width 8, latent 16, batch 32) barely trains: noisy, not
    # collapsed; fit must return weights (it runs check_mode_collapse itself).
    smoke = Config().replace(
        **{"cgan.epochs": 1, "cgan.batch_size": 32, "cgan.latent_dim": 16, "cgan.width": 8}
    )
    for seed in range(3):
        weights = rebalance_cgan.CganRebalancer().fit(
            smoke, train, [0, 1, 2], seed=seed, device=CPU
        )
        assert weights is not None


def test_discriminator_won_needs_consecutive_epochs() -> None:
    won = (0.001, 9.0)
    assert rebalance_cgan.discriminator_won([won] * 2) is None
    assert rebalance_cgan.discriminator_won([won, (0.5, 9.0), won, won]) is None
    assert rebalance_cgan.discriminator_won([(1.3, 0.8), won, won]) is None
    reason = rebalance_cgan.discriminator_won([(1.3, 0.8), won, won, won])
    assert reason is not None and "discriminator won for 3 epochs" in reason
