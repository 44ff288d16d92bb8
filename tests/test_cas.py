"""Classifier Accuracy Score: trained on synthetic images only, scored on real test images.

Usage: ``pytest tests/test_cas.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galaxybench.config import Config
from galaxybench.errors import InputError
from galaxybench.trial import cas

CPU = torch.device("cpu")
NAMES = ["Disturbed", "Merging", "Round Smooth"]


def _images(n: int, level: int, seed: int) -> np.ndarray:
    """(n, 3, 16, 16) uint8 noise around a grey level: dark and bright sets are separable."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(level, 20, (n, 3, 16, 16)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def cfg() -> Config:
    return Config().replace(
        **{"classifier.epochs": 4, "classifier.batch_size": 16, "classifier.dense_units": 16}
    )


@pytest.fixture(scope="module")
def sets():
    synthetic = np.concatenate([_images(20, 40, 0), _images(20, 210, 1)])
    synthetic_labels = np.repeat([0, 1], 20)
    test = np.concatenate([_images(8, 40, 2), _images(6, 210, 3), _images(5, 120, 4)])
    test_labels = np.repeat([0, 1, 2], [8, 6, 5])
    return synthetic, synthetic_labels, test, test_labels


def _cas(cfg, synthetic, synthetic_labels, test, test_labels, classes=(0, 1)):
    return cas.classifier_accuracy_score(
        cfg,
        synthetic,
        synthetic_labels,
        test,
        test_labels,
        classes,
        num_classes=3,
        seed=0,
        device=CPU,
        class_names=NAMES,
    )


def test_synthetic_images_that_carry_the_class_score_high(cfg, sets):
    out = _cas(cfg, *sets)
    assert out["cas_reason"] is None
    assert out["cas_accuracy"] >= 0.9
    assert out["cas_n_test"] == 14  # only the test images of the augmented classes
    assert out["cas_n_train"] == 32 and out["cas_n_val"] == 8  # 20% of each class held out
    assert set(out["cas_per_class_recall"]) == {"Disturbed", "Merging"}
    recall = out["cas_per_class_recall"]
    # Accuracy is the test-count-weighted mean of the per-class recalls.
    assert out["cas_accuracy"] == pytest.approx(
        (8 * recall["Disturbed"] + 6 * recall["Merging"]) / 14
    )
    assert out["cas_chance"] == pytest.approx(8 / 14)
    assert 1 <= out["cas_best_epoch"] <= 4


def test_swapped_synthetic_labels_score_low(cfg, sets):
    synthetic, synthetic_labels, test, test_labels = sets
    out = _cas(cfg, synthetic, 1 - synthetic_labels, test, test_labels)
    assert out["cas_accuracy"] <= 0.1  # trained on synthetic only: it learned the wrong mapping


def test_validates_on_synthetic_never_on_test(cfg, sets, monkeypatch):
    seen = {}
    real_train = cas.train_classifier

    def spy(cfg, train_x, train_y, val_x, val_y, **kwargs):
        seen.update(train_x=train_x, val_x=val_x, kwargs=kwargs)
        return real_train(cfg, train_x, train_y, val_x, val_y, **kwargs)

    monkeypatch.setattr(cas, "train_classifier", spy)
    synthetic, _, test, _ = sets
    _cas(cfg, *sets)
    pool = {x.tobytes() for x in synthetic}
    assert all(x.tobytes() in pool for x in seen["val_x"])
    assert not {x.tobytes() for x in seen["val_x"]} & {x.tobytes() for x in test}
    assert not {x.tobytes() for x in seen["train_x"]} & {x.tobytes() for x in seen["val_x"]}
    assert seen["kwargs"]["num_classes"] == 2  # a k-way problem over the augmented classes


def test_untestable_sets_are_null_with_reason(cfg, sets):
    synthetic, synthetic_labels, test, test_labels = sets
    one = _cas(cfg, synthetic, synthetic_labels, test, test_labels, classes=[0])
    assert one["cas_accuracy"] is None and ">= 2 augmented classes" in one["cas_reason"]
    few = _cas(cfg, synthetic[:21], synthetic_labels[:21], test, test_labels)
    assert few["cas_accuracy"] is None and "Merging" in few["cas_reason"]
    no_test = _cas(cfg, synthetic, synthetic_labels, test[-5:], test_labels[-5:])
    assert no_test["cas_accuracy"] is None and "no real test images" in no_test["cas_reason"]


def test_bad_inputs_raise_input_errors(cfg, sets):
    synthetic, synthetic_labels, test, test_labels = sets
    with pytest.raises(InputError, match="outside"):
        _cas(cfg, synthetic, synthetic_labels + 5, test, test_labels)
    with pytest.raises(InputError, match="uint8"):
        _cas(cfg, synthetic.astype(np.float32), synthetic_labels, test, test_labels)
    with pytest.raises(InputError, match="labels for"):
        _cas(cfg, synthetic, synthetic_labels[:3], test, test_labels)
