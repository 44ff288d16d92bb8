"""On CUDA a training epoch never waits for the GPU (skipped without CUDA).

Each stage's epoch of steps runs under ``torch.cuda.set_sync_debug_mode("error")``, which raises
on any operation that blocks the host on the device (``.item()``, ``bool`` of a CUDA tensor, a
copy back to the host). One epoch runs first outside it (kernel selection and the allocator's
first blocks), then one epoch inside it; the epoch's one read (the finiteness check and the mean
losses) happens after the block, as in training.

Usage: ``pytest -m gpu tests/test_gpu_sync.py`` on a machine with a CUDA GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from galaxybench.config import Config, SrganConfig
from galaxybench.data.arrays import SplitArrays
from galaxybench.stages import (
    _common,
    classify_augment,
    classify_cnn,
    rebalance_cgan,
    upscale_srgan,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
CUDA = torch.device("cuda")


@contextlib.contextmanager
def _no_host_sync() -> Iterator[None]:
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _train(n: int = 96, hr: int = 32) -> SplitArrays:
    rng = np.random.default_rng(0)
    hr_images = rng.integers(0, 256, (n, 3, hr, hr), dtype=np.uint8)
    lr = hr_images.reshape(n, 3, hr // 2, 2, hr // 2, 2).mean((3, 5)).astype(np.uint8)
    labels = np.arange(n, dtype=np.int64) % 3
    return SplitArrays(lr, hr_images, labels, np.arange(n, dtype=np.int64))


def test_an_srgan_epoch_does_not_wait_for_the_gpu():
    cfg = Config(srgan=SrganConfig(depth=2, channels=16, batch_size=16))
    trainer = upscale_srgan._Trainer(cfg, _train(), seed=0, device=CUDA)
    trainer.pretrain_epoch()
    trainer.adversarial_epoch()
    trainer.watch.reset()
    with _no_host_sync():  # graphed steps (the default on CUDA) and their input copies alike
        total, _ = trainer.pretrain_steps()
        means = trainer.adversarial_steps()
    trainer.watch.check()
    assert np.isfinite(float(total)) and np.isfinite(means.cpu().numpy()).all()
    assert trainer.adversarial_step.graph is not None, trainer.adversarial_step.failed


def test_a_cgan_epoch_does_not_wait_for_the_gpu():
    cfg = Config().replace(**{"cgan.batch_size": 16, "data.hr_size": 32})
    images, labels, ids = rebalance_cgan._training_images(_train(), [0, 1, 2], CUDA)
    run = rebalance_cgan._Training(cfg, len(ids), int(images.shape[-1]), seed=0, device=CUDA)
    run.train_to(images, labels, 1)
    run.watch.reset()
    with _no_host_sync():  # the graphed step (the default on CUDA), its z and index copies
        means = run.epoch_steps(images, labels)
    run.watch.check()
    assert np.isfinite(means.cpu().numpy()).all()
    assert run._graphed[2].graph is not None, run._graphed[2].failed


@pytest.mark.parametrize("augment", ["none", "dihedral"])
def test_a_classifier_epoch_does_not_wait_for_the_gpu(augment):
    data = _train()
    model = classify_cnn.PaperCNN(3, 32).to(CUDA).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _common.to_tensor_uint8(data.hr, CUDA), torch.as_tensor(data.labels, device=CUDA)
    loss = torch.nn.CrossEntropyLoss()
    aug = classify_augment.dihedral if augment == "dihedral" else classify_augment.no_augment
    gen = _common.seeded_generator(0)
    args = (model, opt, loss, aug, x, y, 16, gen, CUDA)
    classify_cnn._train_steps(*args)
    with _no_host_sync():
        total = classify_cnn._train_steps(*args)
    assert np.isfinite(float(total))
