"""The class-conditional DCGAN of the ``cgan`` rebalancer (Radford et al. 2016; Mirza 2014).

Generator: latent z concatenated with a learned label embedding -> dense -> (C0, s0, s0) ->
transposed convs (kernel 4, stride 2) with BatchNorm + ReLU, doubling the side each time, the last
one to 3 channels -> tanh. Discriminator: the label embedding projected to one image-sized channel,
concatenated to the image -> strided convs with LeakyReLU(0.2) (no BatchNorm: with separate real
and fake batches it normalises away how alike the fakes are) -> a per-class minibatch-stddev
feature map -> one logit. Works for any LR side that is a multiple of 4 (8, 16, 32, 64, also 12,
20, ...).

Usage::

    gen = Generator(num_classes=3, latent_dim=64, width=32, side=16)
    images = gen(torch.randn(8, 64), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))  # (8, 3, 16, 16)
    logits = Discriminator(num_classes=3, width=32, side=16)(images, labels)   # (8,)
    gen, class_ids, latent_dim = unpack_weights(pack_weights(gen, [0, 4, 8], 64, 32, 16))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EMBED_STD = 0.1  # std of the generator's initial label embedding (z ~ N(0, 1))
# The per-class minibatch-stddev feature is multiplied by STDDEV_GAIN before D's head: one input
# of ~1000 at default init would need thousands of steps to matter; ~x30 makes it usable in the
# few hundred steps of a default run.
STDDEV_GAIN = 30.0


def layer_plan(side: int) -> tuple[int, int]:
    """(s0, n_up): start side and number of x2 steps with s0 x 2**n_up == side.

    Halves at least twice (the DCGAN shape), then keeps halving while the start side stays even
    and above 4, so 64 px starts from 4 x 4 rather than from a huge dense layer at 16 x 16.
    """
    if side < 8 or side % 4:
        raise ValueError(f"cGAN image side must be a multiple of 4 and >= 8, got {side}")
    start, n_up = side // 4, 2
    while start % 2 == 0 and start > 4:
        start, n_up = start // 2, n_up + 1
    return start, n_up


def init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """(z (B, latent_dim), labels (B,) in 0..num_classes-1) -> (B, 3, side, side) in [-1, 1]."""

    def __init__(self, num_classes: int, latent_dim: int, width: int, side: int) -> None:
        super().__init__()
        self.start, n_up = layer_plan(side)
        self.channels = width * 2 ** (n_up - 1)  # halved by every step but the last, which gives 3
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.dense = nn.Linear(2 * latent_dim, self.channels * self.start**2)
        layers: list[nn.Module] = [nn.BatchNorm2d(self.channels), nn.ReLU(inplace=True)]
        ch = self.channels
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(inplace=True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, 3, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_dcgan(self)
        # A label embedding of std EMBED_STD (not nn.Embedding's 1) so that z (std 1) is not
        # swamped by the class code: with equal scales G learnt one image per class, ignoring z.
        nn.init.normal_(self.embed.weight, 0.0, EMBED_STD)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.dense(torch.cat([z, self.embed(labels)], dim=1))
        return self.body(h.view(-1, self.channels, self.start, self.start))


class Discriminator(nn.Module):
    """(images (B, 3, side, side), labels (B,)) -> real/fake logits (B,)."""

    def __init__(self, num_classes: int, width: int, side: int) -> None:
        # PyTorch's default init, not DCGAN's N(0, 0.02): without BatchNorm that one shrinks the
        # activations ~6x a layer and D then learns too slowly to stop G collapsing.
        super().__init__()
        start, n_down = layer_plan(side)
        self.side = side
        self.label_map = nn.Embedding(num_classes, side * side)  # one extra input channel
        layers: list[nn.Module] = [nn.Conv2d(4, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        # +1 feature map: the minibatch standard deviation (Karras et al. 2018), which lets D
        # see that a batch of fakes is too uniform and so penalises mode collapse.
        self.head = nn.Linear((ch + 1) * start * start, 1)
        # Projection conditioning (Miyato & Koyama 2018): logit += <embed(label), features>, a
        # stronger class signal than the input label plane alone.
        self.project = nn.Embedding(num_classes, (ch + 1) * start * start)
        nn.init.normal_(self.project.weight, 0.0, 0.02)
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        plane = self.label_map(labels).view(-1, 1, self.side, self.side).to(images.dtype)
        h = self.body(torch.cat([images, plane], dim=1))
        h = minibatch_stddev(h, labels, self.num_classes).flatten(1)
        return self.head(h).squeeze(1) + (self.project(labels).to(h.dtype) * h).sum(1)


def minibatch_stddev(
    h: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """``h`` (B, C, s, s) plus one channel: the std of features over the batch's same-class images.

    Per class rather than over the whole batch (Karras et al. 2018 use the whole batch): a
    conditional generator that ignores z still varies ACROSS classes, only not within one.
    Each image gets the mean over features of the std among the images of its own label
    (0 for a label that occurs once in the batch).

    ``num_classes`` (the discriminator's) fixes the one-hot width without reading the labels:
    ``labels.max()`` in a forward pass would make every training step wait for the GPU. Absent
    classes are zero columns, which change no image's value.
    """
    flat = h.float().flatten(1)
    k = int(labels.max()) + 1 if num_classes is None else num_classes
    onehot = F.one_hot(labels, k).to(flat.dtype)  # (B, k)
    counts = onehot.sum(0).clamp(min=1).unsqueeze(1)
    mean = onehot.T @ flat / counts
    var = (onehot.T @ flat.square() / counts - mean.square()).clamp(min=0)
    std = (var + 1e-8).sqrt().mean(1)[labels] * STDDEV_GAIN  # (B,)
    return torch.cat([h, std.to(h.dtype).view(-1, 1, 1, 1).expand(-1, 1, *h.shape[2:])], dim=1)


def pack_weights(
    gen: Generator, class_ids: list[int], latent_dim: int, width: int, side: int
) -> dict[str, torch.Tensor]:
    """Generator state (CPU tensors, ``generator.`` prefix) plus what rebuilds it (``meta.``).

    ``meta.class_ids[i]`` is the original class id of label embedding row ``i``;
    ``meta.shape`` is (latent_dim, width, side).
    """
    state = {
        f"generator.{k}": v.detach().cpu().contiguous().clone() for k, v in gen.state_dict().items()
    }
    state["meta.class_ids"] = torch.tensor(class_ids, dtype=torch.int64)
    state["meta.shape"] = torch.tensor([latent_dim, width, side], dtype=torch.int64)
    return state


def unpack_weights(weights: dict[str, torch.Tensor]) -> tuple[Generator, list[int], int]:
    """(generator on the CPU in eval mode, class ids, latent_dim) from ``pack_weights``."""
    class_ids = [int(c) for c in weights["meta.class_ids"].tolist()]
    latent_dim, width, side = (int(v) for v in weights["meta.shape"].tolist())
    gen = Generator(len(class_ids), latent_dim, width, side)
    gen.load_state_dict(
        {k[len("generator.") :]: v for k, v in weights.items() if k.startswith("generator.")}
    )
    return gen.eval(), class_ids, latent_dim
