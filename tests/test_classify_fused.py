"""Fused classifier training (``stages/classify_fused.py``): member k's run equals the unfused
``train_classifier`` with its data and seed, to float tolerance, early stopping per member
included; members with unequal training sets are refused.

Tolerances: a batched convolution adds in another order, so weights differ by rounding that Adam
carries on. Measured on these runs (weights of ~0.05-0.2): at most 6.5e-7 absolute after 2
epochs, 1.9e-6 after 10; training losses within 1e-7 relative (2 epochs), 7e-6 (10). The tests
allow rtol 1e-4 / atol 1e-5 on weights and 1e-5 on losses, and compare what the runs decide
(validation scores, best epoch, early stop, degeneracy, predictions) exactly.

Usage: ``pytest tests/test_classify_fused.py -q``
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galaxybench.config import load_profile
from galaxybench.stages.classify_cnn import (
    ClassifierRun,
    PaperCNN,
    input_statistics,
    predict,
    train_classifier,
)
from galaxybench.stages.classify_fused import ClassifierMember, train_classifiers_fused

CPU = torch.device("cpu")
MINORITY = [0, 1]
WEIGHTS = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(n: int, seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, size, size) uint8 noise with a class-dependent bright patch, 4 classes; the label
    counts differ from seed to seed (so do the members' weighted losses)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n).astype(np.int64)
    x = rng.integers(0, 60, (n, 3, size, size)).astype(np.uint8)
    for i, c in enumerate(y):
        x[i, :, 4 * c : 4 * c + 4, :4] = 250
    return x, y


def _cfg(epochs: int, patience: int = 0, loss: str = "ce", augment: str = "none"):
    return load_profile(
        "default",
        [
            f"classifier.epochs={epochs}",
            f"classifier.patience={patience}",
            "classifier.batch_size=16",
            "classifier.dense_units=32",
            f"classifier.loss={loss}",
            f"classifier.augment={augment}",
        ],
    )


def _members(k: int, n_train: int = 60) -> list[ClassifierMember]:
    """K members with their own training and validation sets (validation sizes differ) and
    seeds; 60 training images: batches of 16, 16, 16 and a ragged 12."""
    out = []
    for i in range(k):
        xt, yt = _data(n_train, 10 + i)
        xv, yv = _data(30 + 5 * i, 20 + i)
        out.append(ClassifierMember(xt, yt, xv, yv, seed=i))
    return out


def _unfused(cfg, m: ClassifierMember, on_epoch=None) -> ClassifierRun:
    return train_classifier(
        cfg, m.train_x, m.train_y, m.val_x, m.val_y, num_classes=4, minority_classes=MINORITY,
        seed=m.seed, device=CPU, on_epoch=on_epoch, input_stats=m.input_stats,
    )  # fmt: skip


def _fused(cfg, members, on_epoch=None) -> list[ClassifierRun]:
    return train_classifiers_fused(
        cfg, members, num_classes=4, minority_classes=MINORITY, device=CPU, on_epoch=on_epoch
    )


def _without_loss(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "train_loss"} for h in history]


def _assert_same_run(fused: ClassifierRun, ref: ClassifierRun) -> None:
    """Same decisions exactly, same weights and training losses to float tolerance."""
    assert isinstance(fused.model, PaperCNN) and not fused.model.training
    assert fused.best_epoch == ref.best_epoch
    assert fused.stopped_early == ref.stopped_early
    assert fused.degenerate_reason == ref.degenerate_reason
    assert _without_loss(fused.history) == _without_loss(ref.history)
    assert [h["train_loss"] for h in fused.history] == pytest.approx(
        [h["train_loss"] for h in ref.history], rel=1e-5
    )
    got, want = fused.model.state_dict(), ref.model.state_dict()
    assert list(got) == list(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], **WEIGHTS, msg=name)
    held_out, _ = _data(40, 99)
    np.testing.assert_array_equal(
        predict(fused.model, held_out, device=CPU), predict(ref.model, held_out, device=CPU)
    )


@pytest.mark.parametrize(
    ("k", "loss", "augment"), [(1, "ce", "none"), (3, "weighted_ce", "dihedral")]
)
def test_each_member_equals_its_unfused_run(k: int, loss: str, augment: str) -> None:
    # Weighted loss and dihedral draws: each member needs its own class counts and generator.
    cfg = _cfg(epochs=2, loss=loss, augment=augment)
    members = _members(k)
    runs = _fused(cfg, members)
    assert len(runs) == k
    for run, m in zip(runs, members, strict=True):
        assert len(run.history) == 2 and not run.stopped_early
        _assert_same_run(run, _unfused(cfg, m))


def test_members_stop_early_at_their_own_epochs() -> None:
    cfg = _cfg(epochs=4, patience=1, loss="weighted_ce", augment="dihedral")
    members = _members(3)
    seen: dict[int, list[dict]] = {i: [] for i in range(3)}
    runs = _fused(cfg, members, on_epoch=lambda i, scores: seen[i].append(scores))
    refs = [_unfused(cfg, m) for m in members]
    # The case under test: one member leaves the group while the others go on.
    assert len({len(r.history) for r in refs}) > 1, [len(r.history) for r in refs]
    assert any(r.stopped_early for r in refs)
    for i, (run, ref) in enumerate(zip(runs, refs, strict=True)):
        _assert_same_run(run, ref)
        assert seen[i] == run.history


def test_a_degenerate_member_and_given_input_statistics_stay_per_member() -> None:
    # Member 1 sees one class only (its loss weights and its prediction differ from member 0's);
    # both get their own asinh statistics (per-member buffers, the stretch shared).
    cfg = _cfg(epochs=2, loss="weighted_ce")
    members = _members(2)
    members[1].train_y = np.full_like(members[1].train_y, 2)
    for m in members:
        m.input_stats = input_statistics(m.train_x, stretch="asinh", softening=0.1)
    runs = _fused(cfg, members)
    refs = [_unfused(cfg, m) for m in members]
    assert refs[0].degenerate_reason is None and refs[1].degenerate_reason is not None
    for run, ref in zip(runs, refs, strict=True):
        assert run.model.stretch == "asinh"
        _assert_same_run(run, ref)


def test_unequal_training_sizes_are_refused() -> None:
    members = _members(2)
    members[1] = ClassifierMember(
        members[1].train_x[:-1], members[1].train_y[:-1], members[1].val_x, members[1].val_y, 1
    )
    with pytest.raises(ValueError, match="equal training-set sizes"):
        _fused(_cfg(epochs=1), members)


def test_members_with_different_stretches_are_refused() -> None:
    members = _members(2)
    members[0].input_stats = input_statistics(members[0].train_x, stretch="asinh")
    members[1].input_stats = input_statistics(members[1].train_x, stretch="none")
    with pytest.raises(ValueError, match="stretch"):
        _fused(_cfg(epochs=1), members)
