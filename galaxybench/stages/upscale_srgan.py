"""SRGAN upscaler (Ledig et al. 2017): pixel-MSE pre-training (SRResNet), then adversarial training.

Content loss is pixel MSE only. Ledig et al. use VGG19 ImageNet features; those weights cannot be
downloaded here, and a frozen randomly initialised network would be a perceptual loss in name only,
so we keep the honest pixel loss: total G loss = MSE + ``adversarial_weight`` x BCE(D(G(lr)), real)
(eq. 3 and 6 with l_X = MSE, weight 1.0e-3). Trained on the training split's LR/HR pairs only.

Usage::

    up = UPSCALERS.get("srgan")()
    weights = up.fit(cfg, data.subset("train"), seed=cfg.seed, device=device)
    hr = up.apply(cfg, weights, lr_uint8, device=device)        # (n, 3, 2h, 2h) uint8
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import DataError
from galaxybench.images import check_images
from galaxybench.registry import UPSCALERS
from galaxybench.stages._common import (
    FiniteWatch,
    adam,
    autocast,
    batches,
    cpu_copy,
    seed_everything,
    to_float,
    to_tensor_uint8,
    to_uint8,
)
from galaxybench.stages._graphs import GraphedStep, graphs_wanted
from galaxybench.stages.base import Upscaler, Weights
from galaxybench.stages.upscale_srgan_nets import Generator, build_discriminator, build_generator

log = logging.getLogger(__name__)

STAGE = "srgan"
# Images per forward pass in apply(): inference only, so larger than a training batch.
_APPLY_BATCH = 256
_ADAM_BETAS = (0.9, 0.999)  # Ledig et al. 2017, section 3.2


def _prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    # channels_last on CPUs too (it was the faster layout for a depth-4 SRGAN step at 16->32 px).
    return model.to(device).to(memory_format=torch.channels_last)


def _batch(images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Slice uint8 images on the device (``idx`` is a device tensor already in training; a no-op
    copy then) and convert to float in [-1, 1] there."""
    x = to_float(images[idx.to(images.device)])
    return x.contiguous(memory_format=torch.channels_last)


class _Trainer:
    """Holds the networks, optimizers and data tensors of one SRGAN fit."""

    def __init__(self, cfg: Config, train: SplitArrays, *, seed: int, device: torch.device):
        self.cfg, self.device = cfg.srgan, device
        self.rng = seed_everything(seed)  # seeds the weight init and the shuffles
        self.lr_images = to_tensor_uint8(train.lr, device)  # (n, 3, h, h) uint8
        self.hr_images = to_tensor_uint8(train.hr, device)  # (n, 3, 2h, 2h) uint8
        self.gen = _prepare_model(build_generator(cfg.srgan), device)
        self.disc = _prepare_model(build_discriminator(cfg.srgan, train.hr.shape[-1]), device)
        graphed = graphs_wanted(device)
        opt = dict(lr=cfg.srgan.lr, betas=_ADAM_BETAS, graphed=graphed)
        self.opt_g = adam(self.gen.parameters(), device, **opt)
        self.opt_d = adam(self.disc.parameters(), device, **opt)
        # One watch for the whole fit, reset each epoch: a graphed step updates its tensors.
        self.watch = FiniteWatch(STAGE, device)
        nets = dict(
            modules=[self.gen, self.disc],
            optimizers=[self.opt_g, self.opt_d],
            also=self.watch.tensors(),
        )
        self.pretrain_step = GraphedStep(self._pretrain_step, enabled=graphed, **nets)
        self.adversarial_step = GraphedStep(self._adversarial_step, enabled=graphed, **nets)
        self.history: dict[str, list[float]] = {
            "pretrain_mse": [],
            "content_mse": [],
            "adversarial": [],
            "discriminator": [],
        }

    def _epoch_batches(self) -> list[torch.Tensor]:
        # drop_last: BatchNorm in train mode fails on a batch of one image.
        n, size = len(self.lr_images), self.cfg.batch_size
        return batches(n, size, generator=self.rng, drop_last=True, device=self.device)

    def _pair(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) float batches in [-1, 1]: (B, 3, h, h), (B, 3, 2h, 2h)."""
        return _batch(self.lr_images, idx), _batch(self.hr_images, idx)

    def _pretrain_step(self, idx: torch.Tensor) -> torch.Tensor:
        """One pixel-MSE step of the generator alone; the batch MSE, detached."""
        x, y = self._pair(idx)
        with autocast(self.device):
            sr = self.gen(x)
        loss = F.mse_loss(sr.float(), y)
        self.watch.observe(loss)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return loss.detach()

    def pretrain_steps(self) -> tuple[torch.Tensor, int]:
        """One epoch of pixel-MSE steps of the generator alone (SRResNet), without reading the
        device: (the sum of the batch MSEs as a device scalar, the number of steps)."""
        self.gen.train()
        total = torch.zeros((), device=self.device)
        steps = self._epoch_batches()
        for idx in steps:
            total += self.pretrain_step(idx)
        return total, len(steps)

    def pretrain_epoch(self) -> float:
        """One epoch of pixel-MSE training of the generator alone (SRResNet); mean MSE."""
        self.watch.reset()
        total, steps = self.pretrain_steps()
        self.watch.check()  # the epoch's one read of the device
        return float(total) / steps

    def _discriminator_step(self, y: torch.Tensor, sr: torch.Tensor) -> torch.Tensor:
        with autocast(self.device):
            d_real, d_fake = self.disc(y).float(), self.disc(sr.detach()).float()
        loss = F.binary_cross_entropy_with_logits(
            d_real, torch.ones_like(d_real)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.watch.observe(loss)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return loss.detach()

    def _adversarial_step(self, idx: torch.Tensor) -> torch.Tensor:
        """One D step then one G step; (content MSE, adversarial BCE, D loss), detached."""
        x, y = self._pair(idx)
        with autocast(self.device):
            sr = self.gen(x)
        loss_d = self._discriminator_step(y, sr)
        with autocast(self.device):
            d_gen = self.disc(sr).float()
        content = F.mse_loss(sr.float(), y)
        adversarial = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        loss_g = content + self.cfg.adversarial_weight * adversarial
        self.watch.observe(loss_g)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return torch.stack([content.detach(), adversarial.detach(), loss_d])

    def adversarial_steps(self) -> torch.Tensor:
        """One epoch of D then G steps, without reading the device: the means of (content MSE,
        adversarial BCE, D loss) as a device tensor of shape (3,)."""
        self.gen.train()
        self.disc.train()
        sums = torch.zeros(3, device=self.device)
        steps = self._epoch_batches()
        for idx in steps:
            sums += self.adversarial_step(idx)
        return sums / len(steps)

    def adversarial_epoch(self) -> tuple[float, float, float]:
        """One epoch of D then G steps; mean (content MSE, adversarial BCE, D loss)."""
        self.watch.reset()
        means = self.adversarial_steps()
        self.watch.check()  # the epoch's one read of the device
        content_mean, adv_mean, d_mean = means.tolist()
        return content_mean, adv_mean, d_mean

    def checkpoint(self, position: int) -> dict:
        """Everything needed to continue: weights, optimizer and shuffle-RNG state, history."""
        return cpu_copy(
            {
                "epochs": position,
                "gen": self.gen.state_dict(),
                "disc": self.disc.state_dict(),
                "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(),
                "rng": self.rng.get_state(),
                "history": self.history,
            }
        )

    def restore(self, state: dict) -> int:
        """Load a checkpoint of ``checkpoint``; returns the sequence position it reached."""
        self.gen.load_state_dict(state["gen"])
        self.disc.load_state_dict(state["disc"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        return int(state["epochs"])

    def train_to(self, start: int, target: int) -> None:
        """Positions ``start..target-1`` of the sequence: ``pretrain_epochs`` of pixel MSE, then
        adversarial epochs. The learning rate is constant, so any split of the sequence across
        calls trains the same weights as one call."""
        pretrain = self.cfg.pretrain_epochs
        for pos in range(start, target):
            if pos < pretrain:
                mse = self.pretrain_epoch()
                self.history["pretrain_mse"].append(mse)
                log.info("srgan pretrain epoch %d/%d: mse %.5f", pos + 1, pretrain, mse)
                continue
            content, adversarial, disc = self.adversarial_epoch()
            self.history["content_mse"].append(content)
            self.history["adversarial"].append(adversarial)
            self.history["discriminator"].append(disc)
            log.info(
                "srgan epoch %d/%d: content %.5f adversarial %.4f discriminator %.4f",
                pos + 1 - pretrain,
                self.cfg.epochs,
                content,
                adversarial,
                disc,
            )

    def run(self) -> Generator:
        """Pre-train, then train adversarially; returns the generator."""
        self.train_to(0, self.cfg.pretrain_epochs + self.cfg.epochs)
        return self.gen


@UPSCALERS.register("srgan")
class SrganUpscaler(Upscaler):
    """SRGAN x2 upscaler; ``fit`` trains on train LR/HR pairs, ``apply`` runs the generator.

    After ``fit``, ``history`` holds per-epoch mean losses (keys ``pretrain_mse``,
    ``content_mse``, ``adversarial``, ``discriminator``; MSE in [-1, 1] units squared).
    """

    trainable = True
    needs_hr = False

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}

    def fit(
        self, cfg: Config, train: SplitArrays, *, seed: int, device: torch.device
    ) -> Weights | None:
        """Train on ``train`` (LR/HR pairs); generator state dict on the CPU.

        Deterministic on a CPU for a given seed. Raises DataError with fewer than 2 training
        images, TrialDiverged when a loss goes non-finite.
        """
        if len(train) < 2:
            raise DataError(f"srgan needs at least 2 training images, got {len(train)}")
        trainer = _Trainer(cfg, train, seed=seed, device=device)
        try:
            gen = trainer.run()
        finally:
            self.history = trainer.history
        state = gen.state_dict()
        return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}

    def train_to(
        self,
        cfg: Config,
        train: SplitArrays,
        state: dict | None,
        epochs: int,
        *,
        seed: int,
        device: torch.device,
    ) -> dict:
        """Continue ``state`` (None: a fresh start) to position ``epochs`` of the sequence
        ``pretrain_epochs`` x pixel MSE then adversarial epochs; returns the new checkpoint.

        Bit-identical on a CPU to one uninterrupted run to ``epochs``. The generator's weights
        for ``apply`` are ``weights_of(checkpoint)``.
        """
        if len(train) < 2:
            raise DataError(f"srgan needs at least 2 training images, got {len(train)}")
        trainer = _Trainer(cfg, train, seed=seed, device=device)
        start = trainer.restore(state) if state is not None else 0
        try:
            trainer.train_to(start, epochs)
        finally:
            self.history = trainer.history
        return trainer.checkpoint(max(start, epochs))

    @staticmethod
    def weights_of(state: dict) -> Weights:
        """The generator state dict of a ``train_to`` checkpoint."""
        return {k: v.contiguous() for k, v in state["gen"].items()}

    def apply(
        self,
        cfg: Config,
        weights: Weights | None,
        lr: np.ndarray,
        *,
        device: torch.device,
        hr_true: np.ndarray | None = None,
    ) -> np.ndarray:
        """(n, 3, h, h) uint8 -> (n, 3, 2h, 2h) uint8 with the trained generator (eval mode)."""
        check_images(lr, "upscaler input")
        if weights is None:
            raise ValueError("the srgan upscaler needs the weights returned by fit()")
        gen = build_generator(cfg.srgan)
        gen.load_state_dict(weights)
        gen = _prepare_model(gen, device).eval()
        images = to_tensor_uint8(lr, device)
        n, _, h, w = lr.shape
        out = np.empty((n, 3, 2 * h, 2 * w), dtype=np.uint8)
        with torch.inference_mode():
            for idx in batches(n, _APPLY_BATCH):
                with autocast(device):
                    sr = gen(_batch(images, idx))
                out[idx.numpy()] = to_uint8(sr.float()).cpu().numpy()
        return out
