"""Reference tests: classification metrics, losses and augmentation vs scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.utils.class_weight import compute_class_weight

from galaxybench import results
from galaxybench.config import Config, from_flat
from galaxybench.data.classes import DECALS_CLASS_NAMES, DECALS_COUNTS
from galaxybench.metrics.classification import (
    classification_metrics,
    minority_classes,
    quick_scores,
)
from galaxybench.stages.classify_augment import dihedral
from galaxybench.stages.classify_losses import cross_entropy, focal, inverse_frequency_weights

NAMES = [f"c{i}" for i in range(6)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 300)  # class 5 absent from y_true: zero-division paths
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 6, 300))
    minority = [0, 3, 5]
    m = classification_metrics(y_true, y_pred, NAMES, minority)
    labels = list(range(6))
    p, r, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    assert m[results.PER_CLASS_F1] == pytest.approx(dict(zip(NAMES, f1, strict=True)))
    assert m[results.PER_CLASS_PRECISION] == pytest.approx(dict(zip(NAMES, p, strict=True)))
    assert m[results.PER_CLASS_RECALL] == pytest.approx(dict(zip(NAMES, r, strict=True)))
    # Support: test images per true class, integers, 0 for the absent class 5.
    assert m[results.PER_CLASS_SUPPORT] == {n: int(s) for n, s in zip(NAMES, support, strict=True)}
    assert (
        m[results.PER_CLASS_SUPPORT]["c5"] == 0
        and sum(m[results.PER_CLASS_SUPPORT].values()) == 300
    )
    assert all(type(v) is int for v in m[results.PER_CLASS_SUPPORT].values())  # JSON-ready
    assert m[results.MACRO_F1] == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )
    assert m[results.MINORITY_F1] == pytest.approx(
        f1_score(y_true, y_pred, labels=minority, average="macro", zero_division=0)
    )
    assert m[results.ACCURACY] == pytest.approx(accuracy_score(y_true, y_pred))
    with pytest.warns(UserWarning):  # sklearn warns that class 5 is predicted but never true
        expected_bal = balanced_accuracy_score(y_true, y_pred)
    assert m[results.BALANCED_ACCURACY] == pytest.approx(expected_bal)
    assert m[results.CONFUSION_MATRIX] == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    quick = quick_scores(y_true, y_pred, 6, minority)
    assert quick[results.VAL_MINORITY_F1] == pytest.approx(m[results.MINORITY_F1])
    assert quick[results.VAL_MACRO_F1] == pytest.approx(m[results.MACRO_F1])


def test_minority_set_of_decals_is_the_papers() -> None:
    # 0.66 x 2645 = 1745.7: Disturbed 1081, Cigar Shaped Smooth 334, Edge-on without Bulge 1423.
    got = minority_classes(np.array(DECALS_COUNTS), 0.66)
    assert [DECALS_CLASS_NAMES[c] for c in got] == [
        "Disturbed",
        "Cigar Shaped Smooth",
        "Edge-on without Bulge",
    ]
    assert minority_classes(np.array([10, 5, 7]), 0.7) == [1]  # 7 is not below 7.0


def test_weighted_ce_weights_equal_sklearn_balanced() -> None:
    y = np.repeat(np.arange(4), [50, 10, 25, 5])
    counts = np.bincount(y)
    expected = compute_class_weight("balanced", classes=np.arange(4), y=y)
    np.testing.assert_allclose(inverse_frequency_weights(counts), expected)


def test_focal_with_gamma_zero_is_cross_entropy_and_downweights_easy_examples() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(32, 5), torch.randint(0, 5, (32,))
    cfg0 = from_flat({"classifier.focal_gamma": 0.0, "classifier.loss": "focal"})
    counts = np.ones(5)
    ce = cross_entropy(cfg0, counts, torch.device("cpu"))(logits, target)
    assert focal(cfg0, counts, torch.device("cpu"))(logits, target).item() == pytest.approx(
        ce.item(), rel=1e-6
    )
    # By hand: one example with p_t = 0.9, gamma 2: -(0.1^2) log 0.9.
    easy = torch.log(torch.tensor([[0.9, 0.1]]))
    loss = focal(Config(), counts[:2], torch.device("cpu"))(easy, torch.tensor([0]))
    assert loss.item() == pytest.approx(-(0.1**2) * np.log(0.9), rel=1e-5)


def test_dihedral_outputs_are_symmetries_of_inputs() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(64 * 3 * 4 * 4, dtype=torch.float32).reshape(64, 3, 4, 4)
    out = dihedral(x, gen)
    seen = set()
    for i in range(64):
        variants = [
            torch.rot90(v, k, dims=(-2, -1)) for v in (x[i], x[i].flip(-1)) for k in range(4)
        ]
        matches = [j for j, v in enumerate(variants) if torch.equal(v, out[i])]
        assert matches, "an output is not a flip/rotation of its input"
        seen.add(matches[0])
    assert len(seen) == 8  # all eight transforms drawn over 64 images
