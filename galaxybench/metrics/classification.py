"""Classification metrics from a confusion matrix, and the scoring minority set (docs/protocol.md).

Numpy from the confusion matrix because they run every epoch on the validation split; tests check
them against scikit-learn on the same predictions.

Usage::

    minority = minority_classes(np.bincount(labels), 0.66)
    scores = classification_metrics(y_true, y_pred, class_names, minority)
    scores["minority_f1"], scores["per_class_f1"]["Disturbed"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from galaxybench import results


def minority_classes(counts: np.ndarray, fraction: float) -> list[int]:
    """Classes whose count is below ``fraction`` x the largest count (the scoring minority set).

    docs/protocol.md, "Scoring": with the default 0.66 this is the paper's 1750-of-2645 cut.
    The set depends only on
    the data and ``eval.minority_fraction``, never on ``rebalance.threshold``.
    """
    counts = np.asarray(counts)
    return [int(c) for c in np.flatnonzero(counts < fraction * counts.max())]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts; rows are true classes, columns predictions (sklearn's convention)."""
    flat = np.asarray(y_true, np.int64) * num_classes + np.asarray(y_pred, np.int64)
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 per class; 0 where undefined (sklearn's zero_division=0)."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    actual = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = predicted + actual
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


def minority_f1(f1: np.ndarray, minority: Sequence[int]) -> float:
    """Mean F1 over the scoring minority set (NaN if the set is empty)."""
    return float(np.mean(f1[list(minority)])) if len(minority) else float("nan")


def quick_scores(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, minority: Sequence[int]
) -> dict[str, float]:
    """The per-epoch validation scores: minority F1, macro F1, accuracy."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    _, _, f1 = per_class_scores(cm)
    return {
        results.VAL_MINORITY_F1: minority_f1(f1, minority),
        results.VAL_MACRO_F1: float(f1.mean()),
        results.VAL_ACCURACY: float(np.trace(cm) / max(cm.sum(), 1)),
    }


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], minority: Sequence[int]
) -> dict[str, Any]:
    """All test metrics that come from predictions (docs/protocol.md, "Scoring").

    Macro F1 and balanced accuracy average over all K classes (sklearn's ``labels=range(K)``);
    balanced accuracy averages recall over the classes present in ``y_true``, as sklearn does.
    """
    k = len(class_names)
    cm = confusion_matrix(y_true, y_pred, k)
    precision, recall, f1 = per_class_scores(cm)
    present = cm.sum(axis=1) > 0
    return {
        results.ACCURACY: float(np.trace(cm) / max(cm.sum(), 1)),
        results.BALANCED_ACCURACY: float(recall[present].mean()) if present.any() else float("nan"),
        results.MACRO_F1: float(f1.mean()),
        results.MINORITY_F1: minority_f1(f1, minority),
        results.MINORITY_CLASSES: [class_names[c] for c in minority],
        results.PER_CLASS_F1: {name: float(v) for name, v in zip(class_names, f1, strict=True)},
        results.PER_CLASS_PRECISION: {
            n: float(v) for n, v in zip(class_names, precision, strict=True)
        },
        results.PER_CLASS_RECALL: {n: float(v) for n, v in zip(class_names, recall, strict=True)},
        # How many test images each F1 rests on: a minority F1 from 10 images is not one from 300.
        results.PER_CLASS_SUPPORT: {
            n: int(v) for n, v in zip(class_names, cm.sum(axis=1), strict=True)
        },
        results.CLASS_NAMES: [str(n) for n in class_names],  # label order: the matrix's axes
        results.CONFUSION_MATRIX: cm.tolist(),
    }
