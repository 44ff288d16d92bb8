"""K ``cgan`` fits trained as one fused network (``FusedModules``): the confirm phase's seeds.

The confirm phase fits the cGAN once per confirmation seed, each on its own training split, and
on a GPU those small-batch steps are launch-bound. Here the K members' generators and
discriminators run as one ``vmap``-ed pair, with one Adam per network over the stacked weights.
Element ``k`` of the result is what ``CganRebalancer().train_to(cfg, trains[k], classes, None,
epochs, seed=seeds[k], ...)`` returns (to float tolerance; see ``fused.py`` for why not bit for
bit): the same checkpoint dict, or the ``TrialDiverged`` that run would raise.

What stays per member, and how:

- initialisation, optimizer format, shuffles and noise: each member has the unfused code's own
  ``_Training`` (seeded, G then D built, its Adams, its two generators). Its networks are stacked
  for training, and at the end the member's weights and Adam slices are loaded back into that
  ``_Training``, whose ``checkpoint()`` then writes the dict exactly as the unfused run does.
- data order and latent draws: every epoch each member's permutation comes from its own shuffle
  generator, and every step its z from its own noise generator, in the unfused call order.
- the minibatch-stddev of D is per member as it stands: with D's fixed one-hot width it has no
  data-dependent shape, so it runs inside ``vmap`` unchanged (no per-member loop is needed).
- divergence: finiteness is folded into per-member device flags and read once per epoch with the
  epoch's mean losses (the unfused CUDA path reads twice; on a CPU it checks every step, which
  gives the same first non-finite value and so the same message). A member that diverges, or
  whose discriminator won, gets that TrialDiverged and leaves the group (``select``); after the
  last epoch the BatchNorm recalibration, mode-collapse check and generator packing run unfused
  per member, with the unfused functions.

Members must have the same number of training images per class (same step count per epoch, so
the members can step together); otherwise ValueError, and the caller trains them unfused.

Usage::

    out = cgan_train_to_fused(cfg, [train_a, train_b, train_c], [0, 4, 8], [11, 12, 13],
                              cfg.cgan.epochs, device=device)
    for state in out:
        if isinstance(state, TrialDiverged): ...          # that seed's trial diverged
        else: weights = CganRebalancer.weights_of(state)  # a checkpoint train_to can continue
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.func import vmap

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import TrialDiverged
from galaxybench.stages._common import autocast, batches, cpu_copy, to_float
from galaxybench.stages.fused import FusedModules
from galaxybench.stages.rebalance_cgan import (
    REAL_TARGET,
    _Training,
    _training_images,
    check_mode_collapse,
    discriminator_won,
    recalibrate_batch_norm,
)
from galaxybench.stages.rebalance_cgan_nets import pack_weights

__all__ = ["cgan_train_to_fused"]

log = logging.getLogger(__name__)


def _d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """One member's discriminator loss: the formula of ``rebalance_cgan._step`` (one-sided label
    smoothing on the real targets), for ``vmap`` over the members."""
    return F.binary_cross_entropy_with_logits(
        logits_real, torch.full_like(logits_real, REAL_TARGET)
    ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))


def _g_loss(logits_gen: torch.Tensor) -> torch.Tensor:
    """One member's non-saturating generator loss, as in ``rebalance_cgan._step``."""
    return F.binary_cross_entropy_with_logits(logits_gen, torch.ones_like(logits_gen))


def _check_equal_sizes(trains: Sequence[SplitArrays], classes: Sequence[int]) -> None:
    """ValueError unless every member has the same images per class and the same image shape."""
    class_ids = sorted({int(c) for c in classes})
    counts = [[int((t.labels == c).sum()) for c in class_ids] for t in trains]
    shapes = [tuple(t.lr.shape[1:]) for t in trains]
    if any(c != counts[0] for c in counts[1:]) or any(s != shapes[0] for s in shapes[1:]):
        raise ValueError(
            "fused cgan members need equal training sizes per class and image shapes; got "
            f"counts {counts} for classes {class_ids}, shapes {sorted(set(shapes))}"
        )


def _fused_step(
    gen: FusedModules,
    disc: FusedModules,
    opts: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
    real: torch.Tensor,
    labels: torch.Tensor,
    z: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``rebalance_cgan._step`` for all members: (K, B, ...) inputs, per-member losses (K,).

    The summed loss gives each member the gradient of its own loss (the members share nothing).
    """
    opt_g, opt_d = opts
    device = real.device
    with autocast(device):
        fake = gen(z, labels)
        logits_real = disc(real, labels).float()
        logits_fake = disc(fake.detach(), labels).float()
        loss_d = vmap(_d_loss)(logits_real, logits_fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.sum().backward()
    opt_d.step()
    with autocast(device):
        logits_gen = disc(fake, labels).float()
        loss_g = vmap(_g_loss)(logits_gen)
    opt_g.zero_grad(set_to_none=True)
    loss_g.sum().backward()
    opt_g.step()
    return loss_d.detach(), loss_g.detach()


def _epoch(
    gen: FusedModules,
    disc: FusedModules,
    opts: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
    runs: Sequence[_Training],
    images: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One epoch for the members ``runs`` (images (K, n, 3, h, h) uint8, labels (K, n)) without
    reading the device: mean (D, G) losses (K, 2), finite flags (K,) and first non-finite
    values (K,), as ``FiniteWatch`` keeps them."""
    c, device = runs[0].c, images.device
    k, n = labels.shape
    # Each member's permutation from its own shuffle generator, as _Training.epoch_steps draws it.
    order = torch.stack(
        [
            torch.stack(
                batches(n, c.batch_size, generator=r.shuffle, drop_last=True, device=device)
            )
            for r in runs
        ]
    )  # (K, steps, B)
    rows = torch.arange(k, device=device).unsqueeze(1)
    totals = torch.zeros(k, 2, device=device)
    finite = torch.ones(k, dtype=torch.bool, device=device)
    first = torch.zeros(k, device=device)
    for step in range(order.shape[1]):
        idx = order[:, step]
        # uint8 -> float per element, so gathering first changes no value. No channels_last (the
        # unfused CUDA layout): it is defined for 4-d tensors, not this 5-d stack; a layout
        # changes speed, not values.
        real = to_float(images[rows, idx])
        # Each member's z from its own noise stream, in the unfused order (one draw per step).
        z = torch.stack(
            [
                torch.randn((idx.shape[1], c.latent_dim), generator=r.noise, device=device)
                for r in runs
            ]
        )
        loss_d, loss_g = _fused_step(gen, disc, opts, real, labels[rows, idx], z)
        for loss in (loss_d, loss_g):  # FiniteWatch.observe, per member
            ok = torch.isfinite(loss)
            first = torch.where(finite & ~ok, loss, first)
            finite = finite & ok
        totals += torch.stack([loss_d, loss_g], dim=1)
    return totals / max(order.shape[1], 1), finite, first


def _load_member(
    run: _Training,
    gen: FusedModules,
    disc: FusedModules,
    opts: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
    j: int,
) -> None:
    """Member ``j``'s weights and Adam slices into its unfused ``run``; the param groups stay
    those of the unfused Adams (the fused Adam's may say ``fused``), so the checkpoint's format
    is the unfused one."""
    gen.load_into(j, run.gen)
    disc.load_into(j, run.disc)
    for fused, plain, opt in ((gen, run.opts[0], opts[0]), (disc, run.opts[1], opts[1])):
        state = fused.optimizer_state(opt, j)["state"]
        plain.load_state_dict({"state": state, "param_groups": plain.state_dict()["param_groups"]})


def _finish(
    run: _Training,
    images: torch.Tensor,
    labels: torch.Tensor,
    class_ids: list[int],
    *,
    seed: int,
    check_collapse: bool,
) -> dict | TrialDiverged:
    """The end of ``CganRebalancer.train_to`` for one member: the checkpoint before the BatchNorm
    recalibration, then the recalibrated generator, checked for mode collapse and packed."""
    c, device = run.c, images.device
    out = run.checkpoint()
    recalibrate_batch_norm(run.gen, len(class_ids), c.latent_dim, seed=seed + 2, device=device)
    if check_collapse:
        try:
            check_mode_collapse(
                run.gen, images, labels, class_ids, c.latent_dim, seed=seed + 3, device=device
            )
        except TrialDiverged as diverged:
            return diverged
    if run.history:
        log.info(
            "cgan (fused, seed %d) trained %d epochs on %d images of classes %s: D %.3f G %.3f",
            seed,
            len(run.history),
            images.shape[0],
            class_ids,
            *run.history[-1],
        )
    side = int(images.shape[-1])
    out["weights"] = cpu_copy(pack_weights(run.gen, class_ids, c.latent_dim, c.width, side))
    out["collapse_checked"] = bool(check_collapse)
    return out


def cgan_train_to_fused(
    cfg: Config,
    trains: Sequence[SplitArrays],
    classes: Sequence[int],
    seeds: Sequence[int],
    epochs: int,
    *,
    device: torch.device,
    check_collapse: bool = True,
) -> list[dict | TrialDiverged]:
    """Fresh ``cgan`` fits of ``epochs`` epochs, member k on ``trains[k]`` with ``seeds[k]``.

    Returns, per member, the checkpoint ``CganRebalancer().train_to`` returns for it, or the
    TrialDiverged it raises. Other errors (no image of a class, bad class ids) are raised.

    Raises:
        ValueError: ``trains`` and ``seeds`` differ in length or are empty, or the members'
            training sizes per class differ (train those unfused).
    """
    if not trains or len(trains) != len(seeds):
        raise ValueError(f"fused cgan: {len(trains)} training splits for {len(seeds)} seeds")
    _check_equal_sizes(trains, classes)
    device = torch.device(device)
    data = [_training_images(t, list(classes), device) for t in trains]
    class_ids = data[0][2]
    side = int(data[0][0].shape[-1])
    # The unfused constructor per member: seeding, G then D, the Adams, shuffle and noise streams.
    runs = [_Training(cfg, len(class_ids), side, seed=int(s), device=device) for s in seeds]
    results: list[dict | TrialDiverged | None] = [None] * len(runs)
    active = list(range(len(runs)))
    images = torch.stack([d[0] for d in data])
    labels = torch.stack([d[1] for d in data])
    # Each member's data as a view of the stack (no second copy on the device).
    data = [(images[k], labels[k], class_ids) for k in range(len(runs))]
    gen = FusedModules([r.gen for r in runs]).train()
    disc = FusedModules([r.disc for r in runs]).train()
    c = cfg.cgan
    opts = (gen.adam(lr=c.lr, betas=c.betas), disc.adam(lr=c.lr * c.d_lr_scale, betas=c.betas))
    for epoch in range(epochs):
        members = [runs[k] for k in active]
        means, finite, first = _epoch(gen, disc, opts, members, images, labels)
        # The epoch's one read of the device, for every member at once.
        flat = torch.cat([means.flatten(), finite.float(), first]).tolist()
        m = len(active)
        keep = []
        for j, k in enumerate(active):
            if not flat[2 * m + j]:
                results[k] = TrialDiverged("cgan", f"non-finite loss ({flat[3 * m + j]})")
                continue
            runs[k].history.append((flat[2 * j], flat[2 * j + 1]))
            reason = discriminator_won(runs[k].history)
            if reason:
                results[k] = TrialDiverged("cgan", f"{reason} at epoch {epoch + 1}")
                continue
            keep.append(j)
        if len(keep) < m:
            log.info(
                "cgan fused: %d of %d members diverged at epoch %d", m - len(keep), m, epoch + 1
            )
            active = [active[j] for j in keep]
            if not active:
                break
            opts = (gen.select(keep, opts[0]), disc.select(keep, opts[1]))
            index = torch.as_tensor(keep, device=device)
            images, labels = images[index], labels[index]
    for j, k in enumerate(active):
        _load_member(runs[k], gen, disc, opts, j)
        img, lab, _ = data[k]
        results[k] = _finish(
            runs[k], img, lab, class_ids, seed=int(seeds[k]), check_collapse=check_collapse
        )
    return results  # type: ignore[return-value]  # every member got a result above
