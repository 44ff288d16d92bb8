"""Contract tests over every registry entry, the stage plugin fixture's included.

``upscaler_name``, ``rebalancer_name``, ``loss_name`` and ``augment_name`` are parametrized by
tests/conftest.py over every registered name after installing tests/fixtures/plugin_pkg, so a
stage is tested the moment it is registered, built in or not. The base classes and when each
method is called: galaxybench/stages/base.py.

Usage: ``pytest tests/test_contracts.py -q``
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from galaxybench.config import load_profile
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import InputError
from galaxybench.registry import CLASSIFIER_AUGMENTS, CLASSIFIER_LOSSES, REBALANCERS, UPSCALERS
from galaxybench.stages.base import Rebalancer, Upscaler
from galaxybench.stages.classify_cnn import predict, train_classifier

CPU = torch.device("cpu")
CFG = load_profile("smoke", ["data.hr_size=16"])


def _split(n: int = 48, h: int = 8, k: int = 3, seed: int = 0) -> SplitArrays:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    lr = rng.integers(0, 256, (n, 3, h, h), dtype=np.uint8)
    hr = rng.integers(0, 256, (n, 3, 2 * h, 2 * h), dtype=np.uint8)
    return SplitArrays(lr, hr, labels.astype(np.int64), np.arange(n, dtype=np.int64))


def _same_weights(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_registries_list_the_built_in_and_the_plugin_stages() -> None:
    assert {"bicubic", "srgan", "oracle", "nearest"} <= set(UPSCALERS.names())
    assert {"none", "cgan", "oversample"} <= set(REBALANCERS.names())
    assert {"ce", "weighted_ce", "focal"} <= set(CLASSIFIER_LOSSES.names())
    assert {"none", "dihedral"} <= set(CLASSIFIER_AUGMENTS.names())
    assert UPSCALERS.get("nearest").__module__ == "galaxybench_nearest"


def test_upscaler_contract(upscaler_name: str) -> None:
    train = _split()
    up = UPSCALERS.get(upscaler_name)()
    assert isinstance(up, Upscaler)
    lr, before = train.lr[:10], train.lr[:10].copy()
    hr_true = train.hr[:10] if up.needs_hr else None
    weights = [up.fit(CFG, train, seed=3, device=CPU) for _ in range(2)]
    assert (weights[0] is None) == (not up.trainable)
    assert _same_weights(*weights)  # deterministic for a seed
    if weights[0] is not None:
        assert all(t.device.type == "cpu" for t in weights[0].values())
    hr = up.apply(CFG, weights[0], lr, device=CPU, hr_true=hr_true)
    assert hr.shape == (10, 3, 16, 16) and hr.dtype == np.uint8
    np.testing.assert_array_equal(lr, before)  # the input is not modified
    again = up.apply(CFG, weights[1], lr, device=CPU, hr_true=hr_true)
    np.testing.assert_array_equal(hr, again)
    # Each image is upscaled on its own: a part of the batch gives the same images.
    part = up.apply(
        CFG, weights[0], lr[3:7], device=CPU, hr_true=None if hr_true is None else hr_true[3:7]
    )
    np.testing.assert_array_equal(part, hr[3:7])
    with pytest.raises((ValueError, InputError)):
        up.apply(CFG, weights[0], lr.astype(np.float32), device=CPU, hr_true=hr_true)


def test_rebalancer_contract(rebalancer_name: str) -> None:
    train = _split()
    rb = REBALANCERS.get(rebalancer_name)()
    assert isinstance(rb, Rebalancer)
    counts = {0: 5, 1: 0, 2: 3}  # class 1: asked for nothing
    before = train.lr.copy()
    outputs = []
    for _ in range(2):
        weights = rb.fit(CFG, train, [0, 2], seed=1, device=CPU)
        assert (weights is None) == (not rb.trainable)
        outputs.append(rb.generate(CFG, weights, train, counts, seed=2, device=CPU))
    lr, labels = outputs[0]
    expected = {0: 5, 2: 3} if rb.adds_images else {}
    n = sum(expected.values())
    assert lr.dtype == np.uint8 and lr.shape == (n, 3, 8, 8)
    assert labels.dtype == np.int64 and labels.shape == (n,)
    assert labels.tolist() == [c for c in sorted(expected) for _ in range(expected[c])]
    np.testing.assert_array_equal(train.lr, before)
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_classifier_loss_contract(loss_name: str) -> None:
    counts = np.array([30, 10, 5])
    loss_fn = CLASSIFIER_LOSSES.get(loss_name)(CFG, counts, CPU)
    target = torch.tensor([0, 1, 2, 2])
    confident = torch.nn.functional.one_hot(target, 3).float() * 8.0
    logits = torch.zeros(4, 3, requires_grad=True)
    at_zero = loss_fn(logits, target)
    assert at_zero.ndim == 0 and torch.isfinite(at_zero) and at_zero.item() > 0
    at_zero.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    # Pushing the logits towards the targets lowers the loss; pushing them away raises it.
    assert loss_fn(confident, target).item() < at_zero.item() < loss_fn(-confident, target).item()


def test_classifier_augment_contract(augment_name: str) -> None:
    augment = CLASSIFIER_AUGMENTS.get(augment_name)
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    outs = [augment(x, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert outs[0].shape == x.shape and outs[0].dtype == x.dtype
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)  # deterministic for a generator
    torch.testing.assert_close(x, before, rtol=0, atol=0)  # the batch is not modified in place


# Imbalanced labels (36, 16, 8): on balanced ones weighted_ce is ce, and ignoring it would pass.
TRAIN_LABELS = np.repeat([0, 1, 2], [36, 16, 8]).astype(np.int64)


@functools.cache
def _trained(loss: str, augment: str):
    """The classifier trained on a fixed seed with these options (cached: compared across tests)."""
    train = _split(n=60, h=8, k=3)
    cfg = CFG.replace(
        **{"classifier.loss": loss, "classifier.augment": augment, "classifier.epochs": 2}
    )
    return train_classifier(
        cfg,
        train.hr,
        TRAIN_LABELS,
        train.hr[:20],
        TRAIN_LABELS[:20],
        num_classes=3,
        minority_classes=[2],
        seed=0,
        device=CPU,
    )


@pytest.mark.parametrize("augment", ["none", "dihedral"])
@pytest.mark.parametrize("loss", ["ce", "weighted_ce", "focal"])
def test_classifier_trains_with_every_built_in_option(loss: str, augment: str) -> None:
    run = _trained(loss, augment)
    _trained.cache_clear()
    again = _trained(loss, augment)
    assert run.history == again.history  # deterministic for a seed
    assert all(np.isfinite(h["train_loss"]) for h in run.history)
    train = _split(n=60, h=8, k=3)
    pred = predict(run.model, train.hr, device=CPU)
    assert pred.shape == (60,) and pred.dtype == np.int64 and set(pred) <= {0, 1, 2}
    assert 1 <= run.best_epoch <= 2
    # Each option changes what is trained: the same seed without it (the plain `ce` loss, or no
    # augmentation) gives other weights, so a classifier that ignored the option would fail here.
    weights = run.model.state_dict()
    plain = [("ce", augment)] if loss != "ce" else []
    plain += [(loss, "none")] if augment != "none" else []
    for other in plain:
        assert not _same_weights(weights, _trained(*other).model.state_dict()), other
    if loss != "ce":  # the loss value itself is the option's, not cross-entropy's
        first = run.history[0]["train_loss"]
        assert first != pytest.approx(_trained("ce", augment).history[0]["train_loss"])
