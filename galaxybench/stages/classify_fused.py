"""K classifiers trained as one batched network: the confirm phase's seeds, fused.

The confirm phase trains the paper's CNN once per confirmation seed, each run alone; on a GPU
those small-batch steps are launch-bound. ``train_classifiers_fused`` trains the K members at once
through ``FusedModules`` (``stages/fused.py``): one forward, one backward and one Adam step per
batch for all K. Everything that makes a run what it is stays per member, so member k's result
equals ``train_classifier`` with its data and seed, to float tolerance (a batched convolution adds
in another order):

- its weight initialisation: its ``PaperCNN`` is built right after ``seed_everything(seed)``,
  with its input statistics, as ``train_classifier`` builds it;
- its shuffles and augmentation draws: its own generator, drawn in the unfused order (the
  epoch's ``batches`` first, then one ``augment`` per batch);
- its loss (weights from its own training label counts), its validation set, its early stopping
  and its best-epoch weights; a member that stops leaves the group (``FusedModules.select``)
  and the others go on unchanged.

The members' training sets must be of one size (their batches line up, the ragged last one
included); otherwise ``ValueError`` and the caller trains them unfused.

Usage::

    members = [ClassifierMember(xt, yt, xv, yv, seed=s) for s in seeds]
    runs = train_classifiers_fused(cfg, members, num_classes=10, minority_classes=[0, 4],
                                   device=torch.device("cuda"))
    labels = predict(runs[0].model, x_test, device=device)    # ordinary PaperCNNs
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from galaxybench import results
from galaxybench.config import Config
from galaxybench.metrics.classification import quick_scores
from galaxybench.registry import CLASSIFIER_AUGMENTS, CLASSIFIER_LOSSES
from galaxybench.stages._common import (
    autocast,
    batches,
    seed_everything,
    to_float,
    to_tensor_uint8,
)
from galaxybench.stages.classify_cnn import (
    VAL_PREDICTED_CLASSES,
    ClassifierRun,
    InputStats,
    PaperCNN,
    _logits,
    classifier_input_stats,
    degeneracy,
    should_stop,
)
from galaxybench.stages.fused import FusedModules

__all__ = ["ClassifierMember", "train_classifiers_fused"]


@dataclass
class ClassifierMember:
    """One member's data and seed: the arguments of its unfused ``train_classifier`` call."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    seed: int
    input_stats: InputStats | None = None


@dataclass
class _Member:
    """A member's training state: its own network (for validation and the result), generator,
    loss, data on the device and the unfused loop's bookkeeping."""

    model: PaperCNN
    generator: torch.Generator
    loss_fn: Callable
    x: torch.Tensor
    y: torch.Tensor
    xv: torch.Tensor
    val_y: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch: int = 0
    best_score: float = -np.inf
    best_pred: np.ndarray | None = None
    stopped_early: bool = False


def _check(members: Sequence[ClassifierMember], stats: Sequence[InputStats]) -> None:
    """Raise ValueError when the members cannot train as one batched network."""
    if not members:
        raise ValueError("fused training needs at least one member")
    sizes = {m.train_x.shape[0] for m in members}
    if len(sizes) > 1:
        raise ValueError(f"fused members need equal training-set sizes, got {sorted(sizes)}")
    shapes = {tuple(m.train_x.shape[1:]) for m in members}
    if len(shapes) > 1:
        raise ValueError(f"fused members need one image shape, got {sorted(shapes)}")
    # The stretch is a Python attribute of the network, not a buffer: one for the whole group.
    if len({(s.stretch, s.softening) for s in stats}) > 1:
        raise ValueError("fused members need one input stretch and softening")


def _build(
    cfg: Config, m: ClassifierMember, stats: InputStats, num_classes: int, device: torch.device
) -> _Member:
    """Member ``m``'s network, generator and loss, made as ``train_classifier`` makes them (the
    global seed, then the network, then the loss), so its initial weights are the unfused ones."""
    ccfg = cfg.classifier
    generator = seed_everything(m.seed)
    model = PaperCNN(num_classes, int(m.train_x.shape[-1]), ccfg.dense_units)
    model.set_input_stats(stats)
    model = model.to(device).to(memory_format=torch.channels_last)
    counts = np.bincount(m.train_y, minlength=num_classes)  # its own counts: its own weights
    return _Member(
        model=model,
        generator=generator,
        loss_fn=CLASSIFIER_LOSSES.get(ccfg.loss)(cfg, counts, device),
        x=to_tensor_uint8(m.train_x, device),
        y=torch.as_tensor(m.train_y, dtype=torch.long, device=device),
        xv=to_tensor_uint8(m.val_x, device),
        val_y=m.val_y,
    )


def _fused_steps(
    fused: FusedModules,
    optimizer: torch.optim.Optimizer,
    group: Sequence[_Member],
    augment: Callable,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """One epoch of the group's steps without reading the device: (K,) summed losses.

    Per batch, each member draws its indices and augmentation from its own generator in the
    unfused order; the K batches are stacked to (K, B, 3, H, W) for one fused step.
    """
    fused.train()
    n = group[0].x.shape[0]
    orders = [batches(n, batch_size, generator=m.generator, device=device) for m in group]
    totals = torch.zeros(len(group), device=device)
    for step in range(len(orders[0])):
        xb, yb = [], []
        for m, order in zip(group, orders, strict=True):
            idx = order[step]
            xb.append(augment(to_float(m.x[idx]), m.generator))
            yb.append(m.y[idx])
        with autocast(device):
            logits = fused(torch.stack(xb)).float()
            losses = torch.stack([m.loss_fn(logits[k], yb[k]) for k, m in enumerate(group)])
        optimizer.zero_grad(set_to_none=True)
        # Member k's loss depends only on member k's slice: the sum's gradient is, per member,
        # the gradient of its own loss.
        losses.sum().backward()
        optimizer.step()
        totals += losses.detach() * yb[0].shape[0]
    return totals


def _validate(
    m: _Member,
    epoch: int,
    train_loss: float,
    num_classes: int,
    minority_classes: Sequence[int],
    device: torch.device,
) -> dict[str, Any]:
    """The unfused loop's end of an epoch for one member (its network already holds the
    epoch's weights): validation scores into its history, and its best epoch so far."""
    pred = _logits(m.model, m.xv, device, 512).argmax(1).cpu().numpy()
    scores = {
        results.EPOCH: epoch,
        **quick_scores(m.val_y, pred, num_classes, minority_classes),
        "train_loss": train_loss,
        VAL_PREDICTED_CLASSES: int(np.unique(pred).size),
    }
    m.history.append(scores)
    if scores[results.VAL_MINORITY_F1] > m.best_score:
        m.best_score, m.best_epoch, m.best_pred = scores[results.VAL_MINORITY_F1], epoch, pred
        m.best_state = copy.deepcopy(m.model.state_dict())
    return scores


def train_classifiers_fused(
    cfg: Config,
    members: Sequence[ClassifierMember],
    *,
    num_classes: int,
    minority_classes: Sequence[int],
    device: torch.device,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[ClassifierRun]:
    """Train K classifiers at once; run k equals ``train_classifier`` on member k (float tolerance).

    Args:
        members: each member's data, seed and input statistics (None: computed on its
            ``train_x`` as ``cfg.classifier`` asks, as ``train_classifier`` does).
        on_epoch: called after every epoch of every member with (member index, the scores dict
            ``train_classifier`` passes its ``on_epoch``).

    Raises:
        ValueError: members with unequal training-set sizes, image shapes or input stretches
            (they cannot share batches or one network definition): train them unfused.

    Returns:
        One ``ClassifierRun`` per member, in order: an ordinary ``PaperCNN`` on ``device`` in eval
        mode with the member's best-epoch weights, its history, ``degenerate_reason`` and
        ``stopped_early``.
    """
    ccfg = cfg.classifier
    stats = [
        m.input_stats
        if m.input_stats is not None
        else classifier_input_stats(cfg, m.train_x, "training inputs")
        for m in members
    ]
    _check(members, stats)
    state = [_build(cfg, m, s, num_classes, device) for m, s in zip(members, stats, strict=True)]
    fused = FusedModules([m.model for m in state])
    optimizer: torch.optim.Optimizer | None = fused.adam(lr=ccfg.lr)
    augment = CLASSIFIER_AUGMENTS.get(ccfg.augment)
    active = list(range(len(state)))  # member indices still training, in the group's order
    n = state[0].x.shape[0]
    for epoch in range(1, ccfg.epochs + 1):
        group = [state[i] for i in active]
        totals = _fused_steps(fused, optimizer, group, augment, ccfg.batch_size, device)
        losses = totals.tolist()  # the epoch's one read of the device
        keep: list[int] = []  # positions in the group of the members that go on
        tensors = {**fused.params, **fused.buffers}
        for pos, i in enumerate(active):
            m = state[i]
            # Copied on the device into the member's own network: validation runs it alone.
            m.model.load_state_dict({name: t[pos].detach() for name, t in tensors.items()})
            train_loss = losses[pos] / max(n, 1)
            scores = _validate(m, epoch, train_loss, num_classes, minority_classes, device)
            if on_epoch is not None:
                on_epoch(i, dict(scores))
            if epoch < ccfg.epochs and should_stop(
                [h[results.VAL_MINORITY_F1] for h in m.history], ccfg.patience
            ):
                m.stopped_early = True
            else:
                keep.append(pos)
        if not keep:
            break
        if len(keep) < len(active):
            optimizer = fused.select(keep, optimizer)
            active = [active[pos] for pos in keep]
    runs = []
    for m in state:
        if m.best_state is not None:
            m.model.load_state_dict(m.best_state)
        m.model.eval()
        reason = degeneracy(
            m.history, m.best_epoch, bool(np.isin(m.val_y, minority_classes).any()), m.best_pred
        )
        runs.append(
            ClassifierRun(
                model=m.model,
                best_epoch=m.best_epoch,
                history=m.history,
                degenerate_reason=reason,
                stopped_early=m.stopped_early,
            )
        )
    return runs
