"""Early stopping of the classifier on validation minority F1 (classifier.patience): when it
stops, which weights it keeps, determinism, and the trial's stopped_epoch / stopped_early keys."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galaxybench.config import load_profile
from galaxybench.errors import ConfigError
from galaxybench.stages import classify_cnn
from galaxybench.stages.classify_cnn import best_epoch_of, should_stop, train_classifier

CPU = torch.device("cpu")


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, 8, 8) uint8 noise images with a class-dependent bright corner, 3 classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int64)
    x = rng.integers(0, 60, (n, 3, 8, 8)).astype(np.uint8)
    for i, c in enumerate(y):
        x[i, :, 2 * c : 2 * c + 2, :2] = 250
    return x, y


def _cfg(epochs: int, patience: int):
    return load_profile(
        "default",
        [
            f"classifier.epochs={epochs}",
            f"classifier.patience={patience}",
            "classifier.batch_size=16",
            "classifier.dense_units=16",
        ],
    )


def _train(epochs: int, patience: int, seed: int = 0):
    xt, yt = _data(96, 1)
    xv, yv = _data(48, 2)
    return train_classifier(
        _cfg(epochs, patience), xt, yt, xv, yv, num_classes=3, minority_classes=[0, 1],
        seed=seed, device=CPU,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scores", "patience", "stop"),
    [
        ([0.1, 0.3, 0.2], 2, False),  # one epoch since the best (epoch 2)
        ([0.1, 0.3, 0.2, 0.25], 2, True),  # two epochs since the best
        ([0.3, 0.3, 0.3], 2, True),  # a tie is no improvement: the best stays epoch 1
        ([0.1, 0.2, 0.3, 0.4], 1, False),  # improving every epoch
        ([0.5, 0.1, 0.1, 0.1, 0.1], 0, False),  # patience 0: never early
        ([0.5, 0.4], 1, True),
        ([], 1, False),
    ],
)
def test_should_stop_on_hand_built_sequences(scores, patience, stop) -> None:
    assert should_stop(scores, patience) is stop


def test_best_epoch_of_breaks_ties_to_the_earlier_epoch() -> None:
    assert best_epoch_of([0.2, 0.5, 0.5, 0.1]) == 2
    assert best_epoch_of([]) == 0


def _scripted(monkeypatch, sequence: list[float]) -> list[dict]:
    """Make validation minority F1 follow ``sequence``; record the weights at every validation."""
    snapshots: list[dict] = []
    real_logits, real_scores = classify_cnn._logits, classify_cnn.quick_scores
    calls = iter(sequence)

    def logits(model, x, device, batch_size):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return real_logits(model, x, device, batch_size)

    def scores(*args, **kwargs):
        return {**real_scores(*args, **kwargs), "val_minority_f1": next(calls)}

    monkeypatch.setattr(classify_cnn, "_logits", logits)
    monkeypatch.setattr(classify_cnn, "quick_scores", scores)
    return snapshots


def test_training_stops_after_patience_and_keeps_the_best_epochs_weights(monkeypatch) -> None:
    torch.set_num_threads(1)
    # Best at epoch 3; patience 2 ends training after epoch 5 of at most 10.
    snapshots = _scripted(monkeypatch, [0.1, 0.2, 0.6, 0.5, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9])
    run = _train(epochs=10, patience=2)
    assert len(run.history) == 5 and run.stopped_early
    assert [h["epoch"] for h in run.history] == [1, 2, 3, 4, 5]
    assert run.best_epoch == 3
    kept = run.model.state_dict()
    assert all(torch.equal(kept[k], snapshots[2][k]) for k in kept)
    assert not all(torch.equal(kept[k], snapshots[4][k]) for k in kept)


def test_a_run_that_peaks_last_is_not_stopped_early(monkeypatch) -> None:
    torch.set_num_threads(1)
    # No improvement at epochs 3 and 4, but epoch 4 is the maximum: not an early stop.
    _scripted(monkeypatch, [0.1, 0.5, 0.4, 0.4])
    run = _train(epochs=4, patience=2)
    assert len(run.history) == 4 and not run.stopped_early and run.best_epoch == 2


def test_without_patience_every_epoch_trains(monkeypatch) -> None:
    torch.set_num_threads(1)
    _scripted(monkeypatch, [0.9, 0.1, 0.1, 0.1, 0.1])
    run = _train(epochs=5, patience=0)
    assert len(run.history) == 5 and not run.stopped_early and run.best_epoch == 1


def test_same_seed_same_run() -> None:
    torch.set_num_threads(1)
    a, b = _train(epochs=8, patience=2, seed=3), _train(epochs=8, patience=2, seed=3)
    assert a.history == b.history and a.best_epoch == b.best_epoch
    assert a.stopped_early == b.stopped_early
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_negative_patience_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"classifier\.patience"):
        _cfg(4, -1)
