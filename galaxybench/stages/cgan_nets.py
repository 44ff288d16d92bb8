"""The class-conditional DCGAN of the ``cgan`` rebalancer (Radford et al. 2016; Mirza 2014).

Generator: latent z concatenated with a learned label embedding -> dense -> (C0, s0, s0) ->
transposed convs (kernel 4, stride 2) with BatchNorm + ReLU, doubling the side each time, the last
one to 3 channels -> tanh. Discriminator: the label embedding projected to one image-sized channel,
concatenated to the image -> strided convs with LeakyReLU(0.2) (BatchNorm but on the first) ->
one logit. Works for any LR side that is a multiple of 4 (8, 16, 32, 64, also 12, 20, ...).

Usage::

    gen = Generator(num_classes=3, latent_dim=64, width=32, side=16)
    images = gen(torch.randn(8, 64), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))  # (8, 3, 16, 16)
    logits = Discriminator(num_classes=3, width=32, side=16)(images, labels)   # (8,)
    gen, class_ids, latent_dim = unpack_weights(pack_weights(gen, [0, 4, 8], 64, 32, 16))
"""

from __future__ import annotations

import torch
from torch import nn


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
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, 3, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_dcgan(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.dense(torch.cat([z, self.embed(labels)], dim=1))
        return self.body(h.view(-1, self.channels, self.start, self.start))


class Discriminator(nn.Module):
    """(images (B, 3, side, side), labels (B,)) -> real/fake logits (B,)."""

    def __init__(self, num_classes: int, width: int, side: int) -> None:
        super().__init__()
        start, n_down = layer_plan(side)
        self.side = side
        self.label_map = nn.Embedding(num_classes, side * side)  # one extra input channel
        layers: list[nn.Module] = [nn.Conv2d(4, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(ch * start * start, 1)
        init_dcgan(self)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        plane = self.label_map(labels).view(-1, 1, self.side, self.side).to(images.dtype)
        h = self.body(torch.cat([images, plane], dim=1))
        return self.head(h.flatten(1)).squeeze(1)


def pack_weights(gen: Generator, class_ids: list[int], latent_dim: int, width: int,
                 side: int) -> dict[str, torch.Tensor]:
    """Generator state (CPU tensors, ``generator.`` prefix) plus what rebuilds it (``meta.``).

    ``meta.class_ids[i]`` is the original class id of label embedding row ``i``;
    ``meta.shape`` is (latent_dim, width, side).
    """
    state = {f"generator.{k}": v.detach().cpu().contiguous().clone()
             for k, v in gen.state_dict().items()}
    state["meta.class_ids"] = torch.tensor(class_ids, dtype=torch.int64)
    state["meta.shape"] = torch.tensor([latent_dim, width, side], dtype=torch.int64)
    return state


def unpack_weights(weights: dict[str, torch.Tensor]) -> tuple[Generator, list[int], int]:
    """(generator on the CPU in eval mode, class ids, latent_dim) from ``pack_weights``."""
    class_ids = [int(c) for c in weights["meta.class_ids"].tolist()]
    latent_dim, width, side = (int(v) for v in weights["meta.shape"].tolist())
    gen = Generator(len(class_ids), latent_dim, width, side)
    gen.load_state_dict({k[len("generator."):]: v for k, v in weights.items()
                         if k.startswith("generator.")})
    return gen.eval(), class_ids, latent_dim
