"""K SRGAN fits trained as one batched network (horizontal fusion, ``stages.fused``).

The confirm phase trains one SRGAN per confirmation seed, each on its own training split. At a
batch of 16 each of those steps is launch-bound on a GPU; fused, the K members' generators (and
discriminators) run as one ``vmap`` of ``functional_call`` over stacked weights, so one launch
does K members' work. Element k of the result is member k's ``SrganUpscaler.train_to``
checkpoint from a fresh start, in the same format and equal to float tolerance (a batched
convolution adds in another order; see ``stages.fused`` for the conv biases that feed BatchNorm),
so the stage cache stores it and a later unfused ``train_to`` continues it.

Per member, as unfused: weight init under its seed (generator then discriminator), its own shuffle
generator and drop_last batches, its BatchNorm running statistics, its Adam state, its losses.
The discriminator sees real and fake batches in two forwards, as unfused (one concatenated forward
would change BatchNorm's batch statistics). A member whose loss goes non-finite gets the
TrialDiverged its unfused run raises and leaves the group at the end of that epoch; the others go
on. Inference stays unfused: ``SrganUpscaler.apply(cfg, SrganUpscaler.weights_of(state), ...)``.

Usage::

    states = srgan_train_to_fused(cfg, [train_a, train_b], [0, 1], epochs, device=device)
    for state in states:                    # checkpoint dict, or TrialDiverged
        if isinstance(state, TrialDiverged): ...
        else: SrganUpscaler().train_to(cfg, train, state, epochs + 1, seed=s, device=device)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import DataError, TrialDiverged
from galaxybench.stages._common import (
    adam,
    autocast,
    batches,
    cpu_copy,
    seed_everything,
    to_float,
    to_tensor_uint8,
)
from galaxybench.stages.fused import FusedModules
from galaxybench.stages.upscale_srgan import _ADAM_BETAS, STAGE
from galaxybench.stages.upscale_srgan_nets import build_discriminator, build_generator

__all__ = ["srgan_train_to_fused"]

log = logging.getLogger(__name__)

_HISTORY_KEYS = ("pretrain_mse", "content_mse", "adversarial", "discriminator")


class _FusedTrainer:
    """The K members' stacked networks, optimizers, data, shuffle generators and histories."""

    def __init__(
        self,
        cfg: Config,
        trains: Sequence[SplitArrays],
        seeds: Sequence[int],
        device: torch.device,
    ) -> None:
        self.cfg, self.device = cfg.srgan, torch.device(device)
        self.members = list(range(len(trains)))  # original index of each member still training
        self.rngs: list[torch.Generator] = []
        gens, discs = [], []
        hr_size = trains[0].hr.shape[-1]
        for seed in seeds:
            # As _Trainer.__init__: seed, then the generator, then the discriminator.
            self.rngs.append(seed_everything(seed))
            # Contiguous, not channels_last as unfused: the same values, and stacked
            # channels_last weights send vmap's adaptive_avg_pool2d to a per-member fallback.
            gens.append(build_generator(cfg.srgan).to(self.device))
            discs.append(build_discriminator(cfg.srgan, hr_size).to(self.device))
        # Optimizer settings as the unfused trainer's Adam on this device saves them.
        self.param_groups = {
            "opt_g": _unfused_groups(gens[0], cfg.srgan.lr, self.device),
            "opt_d": _unfused_groups(discs[0], cfg.srgan.lr, self.device),
        }
        self.gen, self.disc = FusedModules(gens), FusedModules(discs)
        self.opt_g = self.gen.adam(lr=cfg.srgan.lr, betas=_ADAM_BETAS)
        self.opt_d = self.disc.adam(lr=cfg.srgan.lr, betas=_ADAM_BETAS)
        self.lr_images = torch.stack([to_tensor_uint8(t.lr, self.device) for t in trains])
        self.hr_images = torch.stack([to_tensor_uint8(t.hr, self.device) for t in trains])
        self.history: list[dict[str, list[float]]] = [
            {key: [] for key in _HISTORY_KEYS} for _ in trains
        ]

    def _epoch_batches(self) -> torch.Tensor:
        """(steps, K, B) indices: each member's own shuffle, drawn as the unfused ``batches``
        draws it (drop_last), copied to the device once per epoch."""
        n = self.lr_images.shape[1]
        per_member = [
            torch.stack(batches(n, self.cfg.batch_size, generator=rng, drop_last=True))
            for rng in self.rngs
        ]
        order = torch.stack(per_member, dim=1)
        if self.device.type == "cuda":
            return order.pin_memory().to(self.device, non_blocking=True)
        return order.to(self.device)

    def _pair(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Member k's batch idx[k] of its own images: (K, B, 3, h, h), (K, B, 3, 2h, 2h)."""
        rows = torch.arange(idx.shape[0], device=idx.device).unsqueeze(1)
        return to_float(self.lr_images[rows, idx]), to_float(self.hr_images[rows, idx])

    def _observe(self, watch: list[torch.Tensor], loss: torch.Tensor) -> None:
        """Fold a (K,) loss into the per-member flags (finite, first non-finite value): the
        deferred FiniteWatch, per member, read once per epoch."""
        finite = torch.isfinite(loss.detach())
        watch[1] = torch.where(watch[0] & ~finite, loss.detach().float(), watch[1])
        watch[0] = watch[0] & finite

    def _new_watch(self) -> list[torch.Tensor]:
        """Per-member [finite flags, first non-finite values] for one epoch, on the device."""
        k = len(self.members)
        return [
            torch.ones(k, dtype=torch.bool, device=self.device),
            torch.zeros(k, dtype=torch.float32, device=self.device),
        ]

    def pretrain_steps(self, watch: list[torch.Tensor]) -> tuple[torch.Tensor, int]:
        """One epoch of per-member pixel-MSE steps of the generators: ((K, 1) sums of the batch
        MSEs on the device, the number of steps)."""
        self.gen.train()
        total = torch.zeros(len(self.members), device=self.device)
        steps = self._epoch_batches()
        for idx in steps:
            x, y = self._pair(idx)
            with autocast(self.device):
                sr = self.gen(x)
            loss = _mse(sr.float(), y)
            self._observe(watch, loss)
            self.opt_g.zero_grad(set_to_none=True)
            # Member k's parameters get only loss[k]'s gradient: the sum is K separate losses.
            loss.sum().backward()
            self.opt_g.step()
            total += loss.detach()
        return total.unsqueeze(1), len(steps)

    def adversarial_steps(self, watch: list[torch.Tensor]) -> torch.Tensor:
        """One epoch of per-member D then G steps: (K, 3) means of (content, adversarial, D)."""
        self.gen.train()
        self.disc.train()
        sums = torch.zeros(len(self.members), 3, device=self.device)
        steps = self._epoch_batches()
        for idx in steps:
            x, y = self._pair(idx)
            with autocast(self.device):
                sr = self.gen(x)
            with autocast(self.device):
                # Two forwards, as unfused: BatchNorm normalises real and fake batches apart.
                d_real, d_fake = self.disc(y).float(), self.disc(sr.detach()).float()
            loss_d = _bce(d_real, 1.0) + _bce(d_fake, 0.0)
            self._observe(watch, loss_d)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.sum().backward()
            self.opt_d.step()
            with autocast(self.device):
                d_gen = self.disc(sr).float()
            content = _mse(sr.float(), y)
            adversarial = _bce(d_gen, 1.0)
            loss_g = content + self.cfg.adversarial_weight * adversarial
            self._observe(watch, loss_g)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.sum().backward()
            self.opt_g.step()
            sums += torch.stack([content.detach(), adversarial.detach(), loss_d.detach()], dim=1)
        return sums / len(steps)

    def epoch(self, pos: int) -> dict[int, TrialDiverged]:
        """Sequence position ``pos`` for every member; the members that diverged (by original
        index), which have left the group."""
        watch = self._new_watch()
        pretrain = pos < self.cfg.pretrain_epochs
        # Pretrain means are divided on the host, adversarial ones on the device, as unfused.
        sums, steps = self.pretrain_steps(watch) if pretrain else (self.adversarial_steps(watch), 1)
        # The epoch's one read of the device: flags, first bad values and means together.
        rows = torch.cat([watch[0].float().unsqueeze(1), watch[1].unsqueeze(1), sums], dim=1)
        diverged: dict[int, TrialDiverged] = {}
        keep: list[int] = []
        for i, (ok, first, *values) in enumerate(rows.tolist()):
            member = self.members[i]
            if not ok:
                diverged[member] = TrialDiverged(STAGE, f"non-finite loss ({first})")
                continue
            keep.append(i)
            history = self.history[member]
            if pretrain:
                history["pretrain_mse"].append(values[0] / steps)
            else:
                for key, value in zip(_HISTORY_KEYS[1:], values, strict=True):
                    history[key].append(value)
        log.info(
            "srgan fused position %d: %d members, %d diverged", pos + 1, len(rows), len(diverged)
        )
        if diverged and keep:
            self._select(keep)
        elif diverged:
            self.members = []
        return diverged

    def _select(self, keep: list[int]) -> None:
        """Only the members at positions ``keep`` go on (networks, Adams, data, generators)."""
        self.opt_g = self.gen.select(keep, self.opt_g)
        self.opt_d = self.disc.select(keep, self.opt_d)
        index = torch.as_tensor(keep, device=self.device)
        self.lr_images, self.hr_images = self.lr_images[index], self.hr_images[index]
        self.rngs = [self.rngs[i] for i in keep]
        self.members = [self.members[i] for i in keep]

    def checkpoint(self, i: int, position: int) -> dict:
        """The member at position ``i`` as ``_Trainer.checkpoint`` saves an unfused fit."""
        opt_g = self.gen.optimizer_state(self.opt_g, i)
        opt_d = self.disc.optimizer_state(self.opt_d, i)
        opt_g["param_groups"] = self.param_groups["opt_g"]
        opt_d["param_groups"] = self.param_groups["opt_d"]
        return cpu_copy(
            {
                "epochs": position,
                "gen": self.gen.state_dict(i),
                "disc": self.disc.state_dict(i),
                "opt_g": opt_g,
                "opt_d": opt_d,
                "rng": self.rngs[i].get_state(),
                "history": self.history[self.members[i]],
            }
        )


def _unfused_groups(model: torch.nn.Module, lr: float, device: torch.device) -> list[dict]:
    """The param_groups the unfused trainer's Adam over ``model`` saves (its defaults,
    parameter ids)."""
    return adam(model.parameters(), device, lr=lr, betas=_ADAM_BETAS).state_dict()["param_groups"]


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(K, ...) -> (K,): each member's ``F.mse_loss`` (mean over its own elements)."""
    return (pred - target).square().flatten(1).mean(dim=1)


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    """(K, B) logits -> (K,): each member's BCE-with-logits against a constant label, mean."""
    target = torch.full_like(logits, label)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=1)


def srgan_train_to_fused(
    cfg: Config,
    trains: Sequence[SplitArrays],
    seeds: Sequence[int],
    epochs: int,
    *,
    device: torch.device,
) -> list[dict | TrialDiverged]:
    """Train K SRGANs from scratch to sequence position ``epochs``, fused; element k equals
    ``SrganUpscaler().train_to(cfg, trains[k], None, epochs, seed=seeds[k], device=device)``
    (to float tolerance), or is the TrialDiverged that run raises.

    Raises ValueError unless every member has the same number and size of images (the caller
    trains unfused then), DataError with fewer than 2 images as unfused.
    """
    if len(trains) != len(seeds) or not trains:
        raise ValueError("srgan_train_to_fused needs one seed per training split, and one split")
    shapes = {(t.lr.shape, t.hr.shape) for t in trains}
    if len(shapes) != 1:
        raise ValueError(f"fused srgan members need equal training sizes, got {sorted(shapes)}")
    if len(trains[0]) < 2:
        raise DataError(f"srgan needs at least 2 training images, got {len(trains[0])}")
    trainer = _FusedTrainer(cfg, trains, seeds, device)
    results: dict[int, dict | TrialDiverged] = {}
    for pos in range(epochs):
        results.update(trainer.epoch(pos))
        if not trainer.members:
            break
    for i, member in enumerate(trainer.members):
        results[member] = trainer.checkpoint(i, max(0, epochs))
    return [results[k] for k in range(len(trains))]
