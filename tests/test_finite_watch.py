"""Divergence is caught without reading the GPU every step, and CPU runs keep their numbers.

``FiniteWatch`` folds each step's finiteness check into a device flag (CUDA) and reads it once
per epoch; on a CPU it checks at once, as before. The deferred path runs here on the CPU by
forcing ``deferred=True``: a diverged SRGAN or cGAN is reported with its stage and value at the
end of the epoch of its first non-finite loss, never later. The two other changes that keep a
training step off the host (the epoch's order on the device, a fixed one-hot width in the cGAN
discriminator) are checked to change no number.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
import pytest
import torch

from galaxybench.config import Config, SrganConfig
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import TrialDiverged
from galaxybench.stages import _common, classify_augment, rebalance_cgan, upscale_srgan
from galaxybench.stages import rebalance_cgan_nets as cgan_nets

CPU = torch.device("cpu")


def _train(n: int = 48, hr: int = 16, classes: int = 3) -> SplitArrays:
    rng = np.random.default_rng(0)
    hr_images = rng.integers(0, 256, (n, 3, hr, hr), dtype=np.uint8)
    lr = hr_images.reshape(n, 3, hr // 2, 2, hr // 2, 2).mean((3, 5)).astype(np.uint8)
    labels = np.arange(n, dtype=np.int64) % classes
    return SplitArrays(lr, hr_images, labels, np.arange(n, dtype=np.int64))


class _Spy(_common.FiniteWatch):
    """A deferred watch that records, across the watches of one fit, in which epoch (1-based)
    the first non-finite loss was seen and in which epoch the check raised."""

    log: ClassVar[dict[str, int | None]] = {}

    def __init__(self, stage: str, device: torch.device) -> None:
        super().__init__(stage, device, deferred=True)
        _Spy.log["epoch"] = (_Spy.log.get("epoch") or 0) + 1

    def observe(self, *losses: torch.Tensor) -> None:
        if _Spy.log.get("first_bad") is None and not all(bool(torch.isfinite(x)) for x in losses):
            _Spy.log["first_bad"] = _Spy.log["epoch"]
        super().observe(*losses)


def test_a_deferred_watch_raises_at_check_with_the_first_bad_value():
    watch = _common.FiniteWatch("srgan", CPU, deferred=True)
    watch.observe(torch.tensor(0.5))
    watch.observe(torch.tensor(float("inf")), torch.tensor(1.0))  # no raise yet: deferred
    watch.observe(torch.tensor(float("nan")))
    with pytest.raises(TrialDiverged, match=r"srgan diverged: non-finite loss \(inf\)"):
        watch.check()
    healthy = _common.FiniteWatch("cgan", CPU, deferred=True)
    healthy.observe(torch.tensor(1.0e30), torch.tensor(-3.0))
    healthy.check()  # finite, however large


def test_on_a_cpu_the_watch_raises_at_the_step():
    watch = _common.FiniteWatch("cgan", CPU)
    assert not watch.deferred  # CPU runs stop where they always stopped
    with pytest.raises(TrialDiverged, match=r"cgan diverged: non-finite loss \(nan\)"):
        watch.observe(torch.tensor(float("nan")))


def test_deferred_srgan_divergence_is_reported_at_the_end_of_its_epoch(monkeypatch):
    monkeypatch.setattr(upscale_srgan, "FiniteWatch", _Spy)
    _Spy.log = {}
    cfg = Config(srgan=SrganConfig(depth=1, channels=8, pretrain_epochs=4, epochs=1, lr=1.0e30))
    with pytest.raises(TrialDiverged, match="srgan diverged: non-finite loss"):
        upscale_srgan._Trainer(cfg, _train(), seed=0, device=CPU).run()
    assert _Spy.log["first_bad"] is not None
    assert _Spy.log["epoch"] == _Spy.log["first_bad"]  # not one epoch more


def test_deferred_cgan_divergence_is_reported_at_the_end_of_its_epoch(monkeypatch):
    monkeypatch.setattr(rebalance_cgan, "FiniteWatch", _Spy)
    _Spy.log = {}
    cfg = Config().replace(
        **{"cgan.width": 8, "cgan.latent_dim": 16, "cgan.epochs": 4, "cgan.batch_size": 16}
    )
    cfg = cfg.replace(**{"cgan.lr": 1.0e30, "data.hr_size": 16})
    with pytest.raises(TrialDiverged, match="cgan diverged: non-finite loss") as info:
        rebalance_cgan.CganRebalancer().fit(cfg, _train(), [0, 1, 2], seed=0, device=CPU)
    assert info.value.stage == "cgan"
    assert _Spy.log["first_bad"] is not None and _Spy.log["epoch"] == _Spy.log["first_bad"]


def test_deferred_and_immediate_checks_train_the_same_weights(monkeypatch):
    cfg = Config(srgan=SrganConfig(depth=1, channels=8, pretrain_epochs=1, epochs=1))
    immediate = upscale_srgan._Trainer(cfg, _train(), seed=0, device=CPU)
    immediate.run()
    deferred = functools.partial(_common.FiniteWatch, deferred=True)
    monkeypatch.setattr(upscale_srgan, "FiniteWatch", deferred)
    later = upscale_srgan._Trainer(cfg, _train(), seed=0, device=CPU)
    later.run()
    assert later.history == immediate.history
    for a, b in zip(
        immediate.gen.state_dict().values(), later.gen.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_the_epoch_order_on_a_device_is_the_cpu_order():
    plain = _common.batches(50, 16, generator=_common.seeded_generator(4), drop_last=True)
    moved = _common.batches(
        50, 16, generator=_common.seeded_generator(4), drop_last=True, device=CPU
    )
    assert [b.tolist() for b in plain] == [b.tolist() for b in moved] and len(moved) == 3


def test_a_fixed_one_hot_width_changes_no_stddev_value():
    torch.manual_seed(0)
    for _ in range(20):
        h = torch.randn(32, 16, 2, 2)
        labels = torch.randint(0, 3, (32,))
        assert torch.equal(
            cgan_nets.minibatch_stddev(h, labels), cgan_nets.minibatch_stddev(h, labels, 7)
        )


def test_the_gathered_dihedral_transform_is_the_masked_loops():
    x = torch.randn(32, 3, 8, 8)
    looped = classify_augment.dihedral(x, torch.Generator().manual_seed(3))
    choice = torch.randint(0, 8, (32,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(classify_augment.dihedral_by_index(x, choice), looped)
    assert len(set(choice.tolist())) == 8  # every symmetry was drawn and compared
