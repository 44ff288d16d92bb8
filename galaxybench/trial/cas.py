"""Classifier Accuracy Score (Ravuri & Vinyals 2019): train on synthetic images, test on real.

The paper's CNN is trained on the synthetic images of the augmented classes only (a k-way problem
over those classes, validated on a stratified held-out slice of the synthetic set, never on test
images), then scored on the real test images of the same classes. It is the generative measure
closest to augment-then-classify: it asks whether the synthetic images carry the class.

Usage::

    cas = classifier_accuracy_score(cfg, x_syn, y_syn, x_test, y_test, [0, 4], num_classes=10,
                                    seed=0, device=torch.device("cpu"), class_names=names)
    cas["cas_accuracy"], cas["cas_per_class_recall"]["Disturbed"]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.errors import InputError
from galaxybench.images import check_images, check_labels
from galaxybench.metrics.classification import confusion_matrix, per_class_scores
from galaxybench.results import (
    CAS_ACCURACY,
    CAS_BEST_EPOCH,
    CAS_CHANCE,
    CAS_N_TEST,
    CAS_N_TRAIN,
    CAS_N_VAL,
    CAS_PER_CLASS_RECALL,
    CAS_REASON,
)
from galaxybench.stages.classify_cnn import predict, train_classifier

log = logging.getLogger(__name__)

VAL_FRACTION = 0.2  # share of each class's synthetic images held out to pick the best epoch
MIN_PER_CLASS = 2  # one to train on and one to validate on


def _check(what: str, images: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
    check_images(images, what, error=InputError)
    check_labels(labels, len(images), what, num_classes=num_classes, error=InputError)


def _stratified_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices: VAL_FRACTION of each class held out, at least one, at most n - 1."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(np.clip(round(VAL_FRACTION * len(idx)), 1, len(idx) - 1))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _why_not(
    synthetic_labels: np.ndarray, classes: list[int], names: list[str], n_test: int
) -> str | None:
    """Why CAS cannot be computed on these sets, or None."""
    if len(classes) < 2:
        return f"CAS needs >= 2 augmented classes, got {len(classes)}"
    short = [
        n
        for c, n in zip(classes, names, strict=True)
        if np.sum(synthetic_labels == c) < MIN_PER_CLASS
    ]
    if short:
        return f"fewer than {MIN_PER_CLASS} synthetic images of {', '.join(short)}"
    if n_test == 0:
        return "no real test images of the augmented classes"
    return None


def _nulls(reason: str, n_train: int = 0, n_test: int = 0) -> dict[str, Any]:
    log.info("CAS skipped: %s", reason)
    return {
        CAS_ACCURACY: None,
        CAS_PER_CLASS_RECALL: {},
        CAS_N_TRAIN: n_train,
        CAS_N_VAL: 0,
        CAS_N_TEST: n_test,
        CAS_CHANCE: None,
        CAS_BEST_EPOCH: None,
        CAS_REASON: reason,
    }


def classifier_accuracy_score(
    cfg: Config,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    classes: Sequence[int],
    *,
    num_classes: int,
    seed: int,
    device: torch.device,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Accuracy on real test images of a PaperCNN trained on synthetic images only.

    Args:
        cfg: the trial's config (``classifier.*`` settings: epochs, lr, loss, augment).
        synthetic, test: (n, 3, H, W) uint8 HR images of the same size.
        synthetic_labels, test_labels: (n,) class indices in 0..num_classes-1.
        classes: the augmented classes; the classifier is a len(classes)-way one over them.
        class_names: names of all classes, for the keys of ``cas_per_class_recall``.

    Returns:
        ``cas_accuracy`` (fraction in [0, 1] of real test images of ``classes`` classified right),
        ``cas_per_class_recall`` ({name: recall}), ``cas_n_train``, ``cas_n_val``, ``cas_n_test``,
        ``cas_chance`` (accuracy of always predicting the most frequent test class),
        ``cas_best_epoch``, ``cas_reason`` (why the score is None, else None).
    """
    synthetic_labels, test_labels = np.asarray(synthetic_labels), np.asarray(test_labels)
    _check("synthetic images", synthetic, synthetic_labels, num_classes)
    _check("test images", test, test_labels, num_classes)
    classes = sorted({int(c) for c in classes})
    if any(not 0 <= c < num_classes for c in classes):
        raise InputError(f"augmented classes {classes} outside 0..{num_classes - 1}")
    names = [class_names[c] if class_names is not None else str(c) for c in classes]
    test_pick = np.flatnonzero(np.isin(test_labels, classes))
    pick = np.flatnonzero(np.isin(synthetic_labels, classes))
    reason = _why_not(synthetic_labels, classes, names, len(test_pick))
    if reason is not None:
        return _nulls(reason, len(pick), len(test_pick))
    remap = np.full(num_classes, -1, np.int64)
    remap[classes] = np.arange(len(classes))  # original class index -> 0..k-1
    x, y = synthetic[pick], remap[synthetic_labels[pick]]
    train, val = _stratified_split(y, seed)
    run = train_classifier(
        cfg,
        x[train],
        y[train],
        x[val],
        y[val],
        num_classes=len(classes),
        minority_classes=list(range(len(classes))),
        seed=seed,
        device=device,
    )
    y_test = remap[test_labels[test_pick]]
    pred = predict(run.model, test[test_pick], device=device)
    cm = confusion_matrix(y_test, pred, len(classes))
    _, recall, _ = per_class_scores(cm)
    present = cm.sum(axis=1) > 0
    return {
        CAS_ACCURACY: float(np.trace(cm) / cm.sum()),
        CAS_PER_CLASS_RECALL: {
            n: float(r) if p else None for n, r, p in zip(names, recall, present, strict=True)
        },
        CAS_N_TRAIN: len(train),
        CAS_N_VAL: len(val),
        CAS_N_TEST: len(test_pick),
        CAS_CHANCE: float(cm.sum(axis=1).max() / cm.sum()),
        CAS_BEST_EPOCH: run.best_epoch,
        CAS_REASON: None,
    }
