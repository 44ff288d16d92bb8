"""The ``cgan`` rebalancer: a class-conditional DCGAN trained on training LR images.

Trained with binary cross-entropy on logits (the paper's loss; non-saturating generator loss),
Adam(``cgan.lr``, ``cgan.betas``), ``cgan.batch_size``, ``cgan.epochs``, ``cgan.width``. The label
embedding covers only the classes it is trained on: class ids are remapped to 0..k-1 and the
mapping is stored in the weights as ``meta.class_ids``, so ``generate`` can only be asked for
those classes. Divergence ends the trial with ``TrialDiverged("cgan", reason)``: a non-finite loss
at any step, a discriminator that wins outright for several epochs, or mode collapse at the end.

Usage::

    gan = REBALANCERS.get("cgan")()
    weights = gan.fit(cfg, train, [0, 4, 8], seed=cfg.seed, device=device)   # cached by the trial
    lr, labels = gan.generate(cfg, weights, train, {0: 665, 4: 1412, 8: 323}, seed=cfg.seed,
                              device=device)
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import DataError, InputError, TrialDiverged
from galaxybench.registry import REBALANCERS
from galaxybench.stages._common import (
    FiniteWatch,
    adam,
    autocast,
    batches,
    cpu_copy,
    seed_everything,
    seeded_generator,
    to_float,
    to_tensor_uint8,
    to_uint8,
)
from galaxybench.stages._graphs import GraphedStep, graphs_wanted
from galaxybench.stages.base import Rebalancer, Weights
from galaxybench.stages.rebalance_cgan_nets import (
    Discriminator,
    Generator,
    pack_weights,
    unpack_weights,
)
from galaxybench.stages.rebalance_common import empty_images

log = logging.getLogger(__name__)

# Mode collapse: per class, the diversity (see ``diversity``) of COLLAPSE_SAMPLES generated images
# is below COLLAPSE_FRACTION x that of the real images of the class. Contrast-free on purpose: a
# barely trained DCGAN (weights ~ N(0, 0.02)) draws low-contrast images that vary with z about as
# much as real images vary (a ratio near 1), whereas a generator that ignores z repeats one image
# plus faint speckle (a ratio well below COLLAPSE_FRACTION); tests/test_rebalancers.py checks both.
COLLAPSE_SAMPLES = 64
COLLAPSE_FRACTION = 0.5
FLAT_STD = 1e-4  # std over all pixels (in [-1, 1] units) below which generated images are flat
COLLAPSE_MAX_REAL = 512  # real images per class used for the reference std (bounds the cost)
# The discriminator has won when, for WON_EPOCHS consecutive epochs, its mean loss is below
# WON_D_LOSS (D(real) ~ 1 and D(fake) ~ 0) while the generator's is above WON_G_LOSS
# (D(G(z)) < e^-6 ~ 0.0025): the generator then gets no useful gradient.
WON_EPOCHS = 3
WON_D_LOSS = 0.01
WON_G_LOSS = 6.0
REAL_TARGET = 0.9
GENERATE_BATCH = 256
RECALIBRATION_BATCHES = 8  # batches of COLLAPSE_SAMPLES used to re-estimate BatchNorm statistics


def _class_seed(seed: int, cls: int) -> int:
    """An independent 63-bit seed per (seed, class), so classes do not share noise streams."""
    return int(np.random.SeedSequence([seed % 2**63, cls]).generate_state(2, np.uint64)[0] >> 1)


def _memory_format(device: torch.device) -> torch.memory_format:
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def _training_images(
    train: SplitArrays, classes: list[int], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """uint8 images (n, 3, h, h) and remapped labels (n,) on device, and the sorted class ids."""
    class_ids = sorted({int(c) for c in classes})
    if not class_ids:
        raise InputError("cgan: no class to learn (the rebalancing plan is empty)")
    if class_ids[0] < 0:
        raise InputError(f"cgan: class ids must be >= 0, got {class_ids}")
    remap = np.full(max(int(train.labels.max(initial=0)), class_ids[-1]) + 1, -1, np.int64)
    remap[class_ids] = np.arange(len(class_ids))
    for cls in class_ids:
        if not (train.labels == cls).any():
            raise DataError(f"cgan: class {cls} has no training image to learn from")
    keep = np.flatnonzero(remap[train.labels] >= 0)
    images = to_tensor_uint8(train.lr[keep], device)
    labels = torch.from_numpy(remap[train.labels[keep]]).to(device)
    return images, labels, class_ids


def discriminator_won(history: list[tuple[float, float]]) -> str | None:
    """A reason when the last WON_EPOCHS (d_loss, g_loss) epoch means show D won, else None."""
    tail = history[-WON_EPOCHS:]
    if len(tail) < WON_EPOCHS or not all(d < WON_D_LOSS and g > WON_G_LOSS for d, g in tail):
        return None
    shown = ", ".join(f"D {d:.2g}/G {g:.3g}" for d, g in tail)
    return (
        f"discriminator won for {WON_EPOCHS} epochs (mean losses {shown}; "
        f"limits D < {WON_D_LOSS}, G > {WON_G_LOSS})"
    )


def _sample(
    gen: Generator,
    labels: torch.Tensor,
    latent_dim: int,
    noise: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """Images (B, 3, h, h) float32 in [-1, 1] for ``labels`` (remapped ids), z ~ N(0, 1)."""
    z = torch.randn((labels.shape[0], latent_dim), generator=noise, device=device)
    with autocast(device):
        return gen(z, labels).float()


@torch.no_grad()
def recalibrate_batch_norm(
    gen: Generator, num_classes: int, latent_dim: int, *, seed: int, device: torch.device
) -> None:
    """Re-estimate BatchNorm running statistics as exact averages over fresh random batches.

    After a few steps the running statistics (momentum 0.1) still mostly hold their initial
    values, and an eval-mode generator would then produce outputs unlike those it was trained
    with; cumulative averages over a few batches match training-mode statistics.
    """
    norms = [m for m in gen.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    gen.train()
    noise = seeded_generator(seed, device)
    for _ in range(RECALIBRATION_BATCHES):
        labels = torch.arange(COLLAPSE_SAMPLES, device=device) % num_classes
        _sample(gen, labels, latent_dim, noise, device)
    for m in norms:
        m.momentum = 0.1
    gen.eval()


def diversity(images: torch.Tensor) -> tuple[float, float]:
    """(diversity, pixel std) of float images (n >= 2, 3, h, h).

    Diversity is the mean pairwise L2 distance divided by sqrt(2 x pixels) x the std over all
    pixels: 0 for n copies of one image, ~1 for images of independent pixels, whatever the
    contrast. Images sharing a layout (dark sky, central galaxy) score between the two.
    """
    flat = images.float().flatten(1)
    n, total = flat.shape[0], flat.std(unbiased=False).item()
    if total == 0:
        return 0.0, 0.0
    mean_distance = torch.cdist(flat, flat).sum().item() / (n * (n - 1))
    return mean_distance / ((2 * flat.shape[1]) ** 0.5 * total), total


@torch.no_grad()
def check_mode_collapse(
    gen: Generator,
    images: torch.Tensor,
    labels: torch.Tensor,
    class_ids: list[int],
    latent_dim: int,
    *,
    seed: int,
    device: torch.device,
) -> None:
    """Raise TrialDiverged when some class's samples are far less diverse than its real images.

    Args:
        gen: the generator, in eval mode.
        images: (n, 3, h, h) uint8 real training images; labels: (n,) remapped ids 0..k-1.
        class_ids: original class id of each remapped id (for the message).
    """
    noise = seeded_generator(seed, device)
    for idx, cls in enumerate(class_ids):
        real = images[labels == idx][:COLLAPSE_MAX_REAL]
        real_div = diversity(to_float(real))[0] if real.shape[0] > 1 else 0.0
        if real_div == 0:
            continue  # one image (or identical images): no diversity to compare with
        fake = _sample(
            gen, torch.full((COLLAPSE_SAMPLES,), idx, device=device), latent_dim, noise, device
        )
        fake_div, fake_total = diversity(fake)
        if fake_total < FLAT_STD:
            raise TrialDiverged(
                "cgan",
                (
                    f"mode collapse for class {cls}: {COLLAPSE_SAMPLES} generated images are one "
                    f"flat image (pixel std {fake_total:.2e} < {FLAT_STD:.0e})"
                ),
            )
        log.debug("cgan class %d: diversity %.3f (real %.3f)", cls, fake_div, real_div)
        if fake_div < COLLAPSE_FRACTION * real_div:
            raise TrialDiverged(
                "cgan",
                (
                    f"mode collapse for class {cls}: diversity of {COLLAPSE_SAMPLES} generated "
                    f"images {fake_div:.3f} (mean pairwise L2 / contrast) < "
                    f"{COLLAPSE_FRACTION:.0%} "
                    f"of the real images' {real_div:.3f}"
                ),
            )


def _step(
    gen: Generator,
    disc: Discriminator,
    opts: tuple[torch.optim.Optimizer, ...],
    real: torch.Tensor,
    labels: torch.Tensor,
    z: torch.Tensor,
    watch: FiniteWatch,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One discriminator then one generator update on latent vectors ``z`` (drawn by the caller:
    a CUDA graph of this step must not draw them); returns the two losses (detached)."""
    opt_g, opt_d = opts
    device = real.device
    with autocast(device):
        fake = gen(z, labels)
        logits_real = disc(real, labels).float()
        logits_fake = disc(fake.detach(), labels).float()
        # One-sided label smoothing (Salimans et al. 2016): real targets REAL_TARGET < 1 keep D
        # from growing over-confident on a few dozen real images per class.
        loss_d = F.binary_cross_entropy_with_logits(
            logits_real, torch.full_like(logits_real, REAL_TARGET)
        ) + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    with autocast(device):
        logits_gen = disc(fake, labels).float()
        loss_g = F.binary_cross_entropy_with_logits(logits_gen, torch.ones_like(logits_gen))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    watch.observe(loss_d, loss_g)
    return loss_d.detach(), loss_g.detach()


class _Training:
    """The networks, optimizers and random streams of one cGAN fit, checkpointable per epoch."""

    def __init__(
        self, cfg: Config, num_classes: int, side: int, *, seed: int, device: torch.device
    ) -> None:
        c = self.c = cfg.cgan
        seed_everything(seed)  # weight initialisation draws from the global generator
        fmt = _memory_format(device)
        self.gen = Generator(num_classes, c.latent_dim, c.width, side).to(device, memory_format=fmt)
        self.disc = Discriminator(num_classes, c.width, side).to(device, memory_format=fmt)
        # Two time-scale update rule (Heusel et al. 2017): a faster D keeps up with G, which on
        # a few dozen images per class otherwise hops from one single image to the next. The
        # rates are constant, so a run split across budget rungs equals one uninterrupted run.
        self.graphed = graphs_wanted(device)
        self.opts = (
            adam(self.gen.parameters(), device, lr=c.lr, betas=c.betas, graphed=self.graphed),
            adam(
                self.disc.parameters(),
                device,
                lr=c.lr * c.d_lr_scale,
                betas=c.betas,
                graphed=self.graphed,
            ),
        )
        self.shuffle = seeded_generator(seed)  # CPU: index permutations
        self.noise = seeded_generator(seed + 1, device)  # latent vectors, drawn on the device
        self.history: list[tuple[float, float]] = []
        self.watch = FiniteWatch("cgan", device)  # one for the fit, reset each epoch
        self._graphed: tuple[torch.Tensor, torch.Tensor, GraphedStep] | None = None

    def checkpoint(self) -> dict:
        """Weights, optimizer states, both random streams and the loss history (CPU copies)."""
        return cpu_copy(
            {
                "epochs": len(self.history),
                "gen": self.gen.state_dict(),
                "disc": self.disc.state_dict(),
                "opt_g": self.opts[0].state_dict(),
                "opt_d": self.opts[1].state_dict(),
                "shuffle": self.shuffle.get_state(),
                "noise": self.noise.get_state(),
                "history": [list(h) for h in self.history],
            }
        )

    def restore(self, state: dict) -> None:
        self.gen.load_state_dict(state["gen"])
        self.disc.load_state_dict(state["disc"])
        self.opts[0].load_state_dict(state["opt_g"])
        self.opts[1].load_state_dict(state["opt_d"])
        self.shuffle.set_state(state["shuffle"])
        self.noise.set_state(state["noise"])
        self.history = [(float(d), float(g)) for d, g in state["history"]]

    def _step_of(self, images: torch.Tensor, labels: torch.Tensor) -> GraphedStep:
        """The (graphed on CUDA) step over these training tensors: batch indices, z -> losses."""
        if self._graphed is None or not (self._graphed[0] is images and self._graphed[1] is labels):
            fmt = _memory_format(images.device)

            def step(idx: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
                real = to_float(images[idx]).contiguous(memory_format=fmt)
                losses = _step(self.gen, self.disc, self.opts, real, labels[idx], z, self.watch)
                return torch.stack(losses)

            graphed = GraphedStep(
                step,
                modules=[self.gen, self.disc],
                optimizers=self.opts,
                also=self.watch.tensors(),
                enabled=self.graphed,
            )
            self._graphed = (images, labels, graphed)
        return self._graphed[2]

    def epoch_steps(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One epoch of updates without reading the device: mean (D, G) losses, shape (2,)."""
        device, c = images.device, self.c
        totals = torch.zeros(2, device=device)
        steps = batches(
            images.shape[0], c.batch_size, generator=self.shuffle, drop_last=True, device=device
        )
        step = self._step_of(images, labels)
        for idx in steps:  # device indices: slice on the device; uint8 -> float there too
            z = torch.randn((idx.shape[0], c.latent_dim), generator=self.noise, device=device)
            totals += step(idx, z)
        return totals / max(len(steps), 1)

    def train_to(self, images: torch.Tensor, labels: torch.Tensor, epochs: int) -> None:
        """Epochs ``len(history)+1 .. epochs`` of alternating updates."""
        c = self.c
        self.gen.train()
        self.disc.train()
        for epoch in range(len(self.history), epochs):
            self.watch.reset()
            means = self.epoch_steps(images, labels)
            self.watch.check()  # the epoch's one read of the device
            d_mean, g_mean = means.tolist()
            self.history.append((d_mean, g_mean))
            log.debug("cgan epoch %d/%d: D %.4f G %.4f", epoch + 1, c.epochs, d_mean, g_mean)
            reason = discriminator_won(self.history)
            if reason:
                raise TrialDiverged("cgan", f"{reason} at epoch {epoch + 1}")


@REBALANCERS.register("cgan")
class CganRebalancer(Rebalancer):
    """Class-conditional DCGAN: learns the LR images of ``classes``, then samples new ones."""

    trainable = True

    def fit(
        self,
        cfg: Config,
        train: SplitArrays,
        classes: list[int],
        *,
        seed: int,
        device: torch.device,
    ) -> Weights | None:
        """Train on the training LR images of ``classes``; deterministic on a CPU for a seed.

        Raises:
            TrialDiverged: a non-finite loss, a discriminator that won, or mode collapse.
        """
        state = self.train_to(cfg, train, classes, None, cfg.cgan.epochs, seed=seed, device=device)
        return self.weights_of(state)

    def train_to(
        self,
        cfg: Config,
        train: SplitArrays,
        classes: list[int],
        state: dict | None,
        epochs: int,
        *,
        seed: int,
        device: torch.device,
        check_collapse: bool = True,
    ) -> dict:
        """Continue ``state`` (None: a fresh start) to ``epochs`` epochs; the new checkpoint.

        The checkpoint holds the training state BEFORE the BatchNorm recalibration (so a later
        continuation is bit-identical on a CPU to one run) and, under ``weights``, the
        recalibrated generator that ``generate`` uses, checked for mode collapse unless
        ``check_collapse`` is False: a lower rung of the budget ladder skips the check, since a
        cGAN a third of the way through its epochs can still look collapsed, and the check is
        about the generator the full budget delivers; the low rung's images still go through
        the classifier, so a poor generator shows in that rung's objective.
        """
        images, labels, class_ids = _training_images(train, classes, device)
        side = int(images.shape[-1])
        c = cfg.cgan
        run = _Training(cfg, len(class_ids), side, seed=seed, device=device)
        if state is not None:
            run.restore(state)
        run.train_to(images, labels, epochs)
        out = run.checkpoint()
        recalibrate_batch_norm(run.gen, len(class_ids), c.latent_dim, seed=seed + 2, device=device)
        if check_collapse:
            check_mode_collapse(
                run.gen, images, labels, class_ids, c.latent_dim, seed=seed + 3, device=device
            )
        if run.history:
            log.info(
                "cgan trained %d epochs on %d images of classes %s: D %.3f G %.3f",
                len(run.history),
                images.shape[0],
                class_ids,
                *run.history[-1],
            )
        out["weights"] = cpu_copy(pack_weights(run.gen, class_ids, c.latent_dim, c.width, side))
        out["collapse_checked"] = bool(check_collapse)
        return out

    @staticmethod
    def weights_of(state: dict) -> Weights:
        """The generator weights (for ``generate``) of a ``train_to`` checkpoint."""
        return state["weights"]

    def generate(
        self,
        cfg: Config,
        weights: Weights | None,
        train: SplitArrays,
        counts: dict[int, int],
        *,
        seed: int,
        device: torch.device,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``counts[c]`` new LR images per class (classes in increasing order), uint8.

        Class ``c`` draws its latent vectors from a stream seeded by ``(seed, c)``.
        """
        wanted = {int(k): int(v) for k, v in counts.items() if int(v) > 0}
        if not wanted:
            return empty_images(train)
        if weights is None:
            raise InputError("cgan: generate needs the weights returned by fit")
        gen, class_ids, latent_dim = unpack_weights(weights)
        gen = gen.to(device, memory_format=_memory_format(device))
        missing = sorted(set(wanted) - set(class_ids))
        if missing:
            raise InputError(f"cgan: asked for classes {missing} but trained only on {class_ids}")
        images, labels = [], []
        with torch.inference_mode():
            for cls in sorted(wanted):
                noise = seeded_generator(_class_seed(seed, cls), device)
                remapped = class_ids.index(cls)
                for start in range(0, wanted[cls], GENERATE_BATCH):
                    n = min(GENERATE_BATCH, wanted[cls] - start)
                    ids = torch.full((n,), remapped, dtype=torch.int64, device=device)
                    images.append(to_uint8(_sample(gen, ids, latent_dim, noise, device)).cpu())
                labels.append(np.full(wanted[cls], cls, np.int64))
        lr = torch.cat(images).contiguous().numpy()
        return lr, np.concatenate(labels)
