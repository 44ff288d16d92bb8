"""The paper's CNN (docs/protocol.md) and its training loop with per-epoch validation.

Three 3x3 conv layers with 32, 64 and 128 filters, each followed by ReLU and 2x2 max-pooling, then
a dense layer (512 units) and the output layer. Validation metrics are reported after every epoch
(what ASHA prunes on); the model returned is the one of the best validation epoch, because the
paper's test accuracy fell from 57% at epoch 3 to 49% at epoch 10 (overfitting).

Inputs: the network's first operation (``PaperCNN.prepare``) optionally applies an asinh stretch
(Lupton et al. 2004, PASP 116, 133) and standardises every channel by the training split's mean
and standard deviation (buffers saved with the weights, so every user of the network, the FID
feature extractor included, sees the same transform). Without both, the inputs are the plain
[-1, 1] pixels; on sparse, high-dynamic-range images (a few bright pixels on zeros) those leave
the network at the class-prior plateau. A classifier that never leaves the prior is flagged:
``ClassifierRun.degenerate_reason``.

Usage::

    run = train_classifier(cfg, x_train, y_train, x_val, y_val, num_classes=10,
                           minority_classes=[0, 4], seed=0, device=torch.device("cpu"))
    labels = predict(run.model, x_test, device=device)
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from galaxybench import results
from galaxybench.config import Config
from galaxybench.metrics.classification import quick_scores
from galaxybench.registry import CLASSIFIER_AUGMENTS, CLASSIFIER_LOSSES
from galaxybench.stages._common import (
    adam,
    autocast,
    batches,
    seed_everything,
    to_float,
    to_tensor_uint8,
)

STRETCHES = ("none", "asinh")
# Floor of a channel's standard deviation: one uint8 grey level in [-1, 1] units, so a constant
# channel (all zeros in every training image) is not divided by ~0.
MIN_STD = 1.0 / 127.5


def asinh_stretch(x: torch.Tensor | np.ndarray, softening: float) -> torch.Tensor | np.ndarray:
    """Lupton et al. (2004) asinh stretch of pixels in [-1, 1], back to [-1, 1].

    With intensity u = (x + 1) / 2 in [0, 1], s = asinh(u / b) / asinh(1 / b): linear for u << b,
    logarithmic for u >> b (b = ``softening``, a fraction of full scale), so faint and bright
    pixels of a high-dynamic-range image both span the input range.
    """
    lib = torch if isinstance(x, torch.Tensor) else np
    u = (x + 1.0) * 0.5
    return lib.arcsinh(u / softening) * (2.0 / float(np.arcsinh(1.0 / softening))) - 1.0


@dataclass(frozen=True)
class InputStats:
    """Per-channel statistics the classifier standardises its inputs with.

    Attributes:
        mean, std: 3 floats each, of the (stretched) [-1, 1] pixels; std floored at MIN_STD.
        stretch, softening: the stretch applied before the statistics were taken.
        source: what they were computed on (e.g. "train split, true HR", or "training inputs").
        n_images: how many images.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    stretch: str = "none"
    softening: float = 0.05
    source: str = "training inputs"
    n_images: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (lists, not tuples), as recorded in a trial result."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def input_statistics(
    images: np.ndarray,
    *,
    stretch: str = "none",
    softening: float = 0.05,
    source: str = "training inputs",
    chunk: int = 2048,
) -> InputStats:
    """Per-channel mean and std of (n, 3, H, W) uint8 images after ``stretch``, float64.

    Computed in chunks (sums of x and x^2 in float64) so a large split needs no float copy.
    """
    n = int(images.shape[0])
    total = np.zeros(images.shape[1])
    total_sq = np.zeros(images.shape[1])
    for i in range(0, n, chunk):
        x = images[i : i + chunk].astype(np.float64) / 127.5 - 1.0
        if stretch == "asinh":
            x = asinh_stretch(x, softening)
        total += x.sum(axis=(0, 2, 3))
        total_sq += np.square(x).sum(axis=(0, 2, 3))
    count = max(n * images.shape[2] * images.shape[3], 1)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return InputStats(
        tuple(float(m) for m in mean),
        tuple(float(max(s, MIN_STD)) for s in std),
        stretch,
        float(softening),
        source,
        n,
    )


def identity_stats() -> InputStats:
    """Statistics that leave inputs unchanged: ``classifier.standardize: false``."""
    return InputStats((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), source="none (not standardised)")


def classifier_input_stats(cfg: Config, images: np.ndarray, source: str) -> InputStats:
    """The statistics ``cfg.classifier`` asks for, computed on ``images`` when standardising."""
    ccfg = cfg.classifier
    if not ccfg.standardize:
        return dataclasses.replace(
            identity_stats(), stretch=ccfg.stretch, softening=ccfg.asinh_softening
        )
    return input_statistics(
        images, stretch=ccfg.stretch, softening=ccfg.asinh_softening, source=source
    )


class PaperCNN(nn.Module):
    """The paper's small CNN; input float (B, 3, H, W) in [-1, 1], H divisible by 8.

    ``prepare`` (stretch, then standardisation by the ``in_mean``/``in_std`` buffers) is the
    network's first operation; with no stretch and zero mean / unit std it is the identity.
    """

    def __init__(
        self,
        num_classes: int,
        hr_size: int,
        dense_units: int = 512,
        *,
        stretch: str = "none",
        softening: float = 0.05,
    ) -> None:
        super().__init__()
        self.stretch, self.softening = stretch, float(softening)
        self.register_buffer("in_mean", torch.zeros(1, 3, 1, 1))
        self.register_buffer("in_std", torch.ones(1, 3, 1, 1))
        layers: list[nn.Module] = []
        channels = 3
        for width in (32, 64, 128):
            layers += [
                nn.Conv2d(channels, width, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.conv = nn.Sequential(*layers)
        side = hr_size // 8  # three 2x2 poolings
        self.dense = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * side * side, dense_units), nn.ReLU(inplace=True)
        )
        self.head = nn.Linear(dense_units, num_classes)

    def set_input_stats(self, stats: InputStats) -> None:
        """Standardise inputs by ``stats`` from now on (stored in the state dict)."""
        self.stretch, self.softening = stats.stretch, stats.softening
        self.in_mean.copy_(torch.tensor(stats.mean).view(1, 3, 1, 1))
        self.in_std.copy_(torch.tensor(stats.std).view(1, 3, 1, 1))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] pixels -> the network's inputs: optional asinh stretch, then standardised."""
        if self.stretch == "asinh":
            x = asinh_stretch(x, self.softening)
        return (x - self.in_mean) / self.in_std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, dense_units) penultimate activations: the galaxy-domain feature space."""
        return self.dense(self.conv(self.prepare(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) logits."""
        return self.head(self.features(x))


@dataclass
class ClassifierRun:
    """A trained classifier: the best-validation-epoch model and the per-epoch history.

    ``len(history)`` is the last epoch trained; ``stopped_early`` is True when early stopping
    ended training before ``classifier.epochs``.
    """

    model: PaperCNN
    best_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    degenerate_reason: str | None = None  # why the classifier never left the prior; else None
    stopped_early: bool = False


def best_epoch_of(scores: Sequence[float]) -> int:
    """1-based epoch of the highest score; ties go to the earlier epoch; 0 when empty."""
    best, best_epoch = -np.inf, 0
    for epoch, score in enumerate(scores, start=1):
        if score > best:
            best, best_epoch = score, epoch
    return best_epoch


def should_stop(scores: Sequence[float], patience: int) -> bool:
    """Early stopping: ``patience`` epochs have passed without a strictly better score.

    ``scores`` are the validation minority F1 of epochs 1..n so far. With ``patience`` p the run
    ends after epoch best + p (no epoch after the best beat it); p = 0 never stops early.
    """
    return patience > 0 and len(scores) - best_epoch_of(scores) >= patience


# Per-epoch history key: how many distinct classes the model predicted on validation.
VAL_PREDICTED_CLASSES = "val_predicted_classes"


def degeneracy(
    history: Sequence[dict[str, Any]],
    best_epoch: int,
    val_has_minority: bool,
    best_prediction: np.ndarray | None = None,
) -> str | None:
    """Why a training run is degenerate (never left the class prior), or None.

    Degenerate: the kept (best-epoch) model predicts one class for every validation image, or the
    validation minority F1 was 0 at every epoch although validation holds minority images.
    """
    if not history:
        return None
    best = history[best_epoch - 1]
    if best.get(VAL_PREDICTED_CLASSES) == 1:
        only = (
            f" (class {int(best_prediction[0])})"
            if best_prediction is not None and len(best_prediction)
            else ""
        )
        return (
            f"the best-epoch model (epoch {best_epoch}) predicts one class{only} "
            "for every validation image"
        )
    if val_has_minority and all(h[results.VAL_MINORITY_F1] == 0 for h in history):
        return f"validation minority F1 was 0 at every one of {len(history)} epochs"
    return None


def _logits(
    model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int
) -> torch.Tensor:
    """(n, K) float32 logits of uint8 images ``x`` already on ``device``, in batches."""
    model.eval()
    out = []
    with torch.inference_mode(), autocast(device):
        for i in range(0, x.shape[0], batch_size):
            xb = to_float(x[i : i + batch_size]).contiguous(memory_format=torch.channels_last)
            out.append(model(xb).float())
    return torch.cat(out) if out else torch.empty(0, model.head.out_features, device=device)


def predict(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    device: torch.device,
    batch_size: int = 256,
) -> np.ndarray:
    """(n,) int64 predicted labels of (n, 3, H, W) uint8 images."""
    x = images if isinstance(images, torch.Tensor) else to_tensor_uint8(images, device)
    return _logits(model, x.to(device), device, batch_size).argmax(1).cpu().numpy()


def _train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable,
    augment: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """The steps of one epoch without reading the device: the summed loss, a device scalar.
    The epoch's order goes to the device once; each batch is a slice of it."""
    model.train()
    total = torch.zeros((), device=device)
    for idx in batches(x.shape[0], batch_size, generator=generator, device=device):
        xb = augment(to_float(x[idx]), generator).contiguous(memory_format=torch.channels_last)
        with autocast(device):
            loss = loss_fn(model(xb).float(), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * idx.shape[0]
    return total


def train_classifier(
    cfg: Config,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    *,
    num_classes: int,
    minority_classes: Sequence[int],
    seed: int,
    device: torch.device,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    input_stats: InputStats | None = None,
) -> ClassifierRun:
    """Train the paper's CNN and keep the best epoch by validation minority F1.

    Args:
        train_x, val_x: (n, 3, H, W) uint8 HR images (after upscaling and rebalancing).
        train_y, val_y: (n,) int64 labels.
        minority_classes: the scoring minority set (validation score = their mean F1).
        on_epoch: called after every epoch with {epoch, val_minority_f1, val_macro_f1,
            val_accuracy, train_loss, val_predicted_classes}; ASHA prunes on it.
        input_stats: the standardisation statistics (the trial passes the train split's); None:
            computed here on ``train_x`` as ``cfg.classifier`` asks.

    Training ends after ``cfg.classifier.epochs`` epochs, or earlier when
    ``cfg.classifier.patience`` epochs in a row bring no better validation minority F1
    (``should_stop``).

    Returns:
        The model of the best validation epoch (ties go to the earlier epoch), in eval mode,
        ``degenerate_reason`` when it never left the class prior, and ``stopped_early``.
    """
    ccfg = cfg.classifier
    generator = seed_everything(seed)
    # channels_last on CPUs too (it was the faster layout for this CNN at 32 px).
    model = PaperCNN(num_classes, int(train_x.shape[-1]), ccfg.dense_units)
    model.set_input_stats(
        input_stats
        if input_stats is not None
        else classifier_input_stats(cfg, train_x, "training inputs")
    )
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = adam(model.parameters(), device, lr=ccfg.lr)
    counts = np.bincount(train_y, minlength=num_classes)
    loss_fn = CLASSIFIER_LOSSES.get(ccfg.loss)(cfg, counts, device)
    augment = CLASSIFIER_AUGMENTS.get(ccfg.augment)
    x, y = (
        to_tensor_uint8(train_x, device),
        torch.as_tensor(train_y, dtype=torch.long, device=device),
    )
    xv = to_tensor_uint8(val_x, device)
    history: list[dict[str, Any]] = []
    best_state, best_epoch, best_score, best_pred = None, 0, -np.inf, None
    stopped_early = False
    for epoch in range(1, ccfg.epochs + 1):
        total = _train_steps(
            model, optimizer, loss_fn, augment, x, y, ccfg.batch_size, generator, device
        )
        train_loss = float(total) / max(x.shape[0], 1)  # the epoch's one read of the device
        pred = _logits(model, xv, device, 512).argmax(1).cpu().numpy()
        scores = {
            results.EPOCH: epoch,
            **quick_scores(val_y, pred, num_classes, minority_classes),
            "train_loss": train_loss,
            VAL_PREDICTED_CLASSES: int(np.unique(pred).size),
        }
        history.append(scores)
        if on_epoch is not None:
            on_epoch(dict(scores))
        if scores[results.VAL_MINORITY_F1] > best_score:
            best_score, best_epoch, best_pred = scores[results.VAL_MINORITY_F1], epoch, pred
            best_state = copy.deepcopy(model.state_dict())
        if epoch < ccfg.epochs and should_stop(
            [h[results.VAL_MINORITY_F1] for h in history], ccfg.patience
        ):
            stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    reason = degeneracy(
        history, best_epoch, bool(np.isin(val_y, minority_classes).any()), best_pred
    )
    return ClassifierRun(
        model=model,
        best_epoch=best_epoch,
        history=history,
        degenerate_reason=reason,
        stopped_early=stopped_early,
    )
