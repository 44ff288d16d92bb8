"""Contract tests over every registry: a component is tested the moment it is registered."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import galaxybench.stages  # noqa: F401  (registers everything)
from galaxybench.config import load_profile
from galaxybench.data.prepared import SplitArrays
from galaxybench.registry import CLASSIFIER_AUGMENTS, CLASSIFIER_LOSSES, REBALANCERS, UPSCALERS
from galaxybench.stages.classify_cnn import predict, train_classifier

CPU = torch.device("cpu")
CFG = load_profile("smoke", ["data.hr_size=16"])


def _split(n: int = 48, h: int = 8, k: int = 3, seed: int = 0) -> SplitArrays:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    lr = rng.integers(0, 256, (n, 3, h, h), dtype=np.uint8)
    hr = rng.integers(0, 256, (n, 3, 2 * h, 2 * h), dtype=np.uint8)
    return SplitArrays(lr, hr, labels.astype(np.int64), np.arange(n, dtype=np.int64))


def test_registries_list_the_design_components() -> None:
    assert {"bicubic", "srgan", "oracle"} <= set(UPSCALERS.names())
    assert {"none", "cgan", "oversample"} <= set(REBALANCERS.names())
    assert {"ce", "weighted_ce", "focal"} <= set(CLASSIFIER_LOSSES.names())
    assert {"none", "dihedral"} <= set(CLASSIFIER_AUGMENTS.names())


@pytest.mark.parametrize("name", UPSCALERS.names())
def test_upscaler_contract(name: str) -> None:
    train = _split()
    up = UPSCALERS.get(name)()
    start = time.perf_counter()
    runs = []
    for _ in range(2):
        weights = up.fit(CFG, train, seed=3, device=CPU)
        assert (weights is None) == (not up.trainable)
        hr = up.apply(
            CFG, weights, train.lr[:10], device=CPU, hr_true=train.hr[:10] if up.needs_hr else None
        )
        runs.append(hr)
    assert time.perf_counter() - start < 60
    hr = runs[0]
    assert hr.shape == (10, 3, 16, 16) and hr.dtype == np.uint8
    np.testing.assert_array_equal(runs[0], runs[1])  # deterministic for a seed


@pytest.mark.parametrize("name", REBALANCERS.names())
def test_rebalancer_contract(name: str) -> None:
    train = _split()
    rb = REBALANCERS.get(name)()
    counts = {} if name == "none" else {0: 5, 2: 3}
    outputs = []
    for _ in range(2):
        weights = rb.fit(CFG, train, [0, 2], seed=1, device=CPU) if rb.trainable else None
        lr, labels = rb.generate(CFG, weights, train, counts, seed=2, device=CPU)
        outputs.append((lr, labels))
    lr, labels = outputs[0]
    assert lr.dtype == np.uint8 and lr.shape == (sum(counts.values()), 3, 8, 8)
    assert labels.dtype == np.int64
    assert {c: int((labels == c).sum()) for c in counts} == counts
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


@pytest.mark.parametrize("augment", CLASSIFIER_AUGMENTS.names())
@pytest.mark.parametrize("loss", CLASSIFIER_LOSSES.names())
def test_classifier_option_contract(loss: str, augment: str) -> None:
    train = _split(n=60, h=8, k=3)
    cfg = CFG.replace(
        **{"classifier.loss": loss, "classifier.augment": augment, "classifier.epochs": 2}
    )
    runs = [
        train_classifier(
            cfg,
            train.hr,
            train.labels,
            train.hr[:20],
            train.labels[:20],
            num_classes=3,
            minority_classes=[1],
            seed=0,
            device=CPU,
        )
        for _ in range(2)
    ]
    assert runs[0].history == runs[1].history
    assert all(np.isfinite(h["train_loss"]) for h in runs[0].history)
    pred = predict(runs[0].model, train.hr, device=CPU)
    assert pred.shape == (60,) and pred.dtype == np.int64 and set(pred) <= {0, 1, 2}
    assert 1 <= runs[0].best_epoch <= 2
