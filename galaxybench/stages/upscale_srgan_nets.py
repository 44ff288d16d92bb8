"""SRGAN networks (Ledig et al. 2017, fig. 4), sized for 8-128 px galaxy images.

Usage::

    g = build_generator(cfg.srgan)                # (B, 3, h, h) in [-1, 1] -> (B, 3, 2h, 2h)
    d = build_discriminator(cfg.srgan, hr_size)   # (B, 3, H, H) -> (B,) logits
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from galaxybench.config import SrganConfig


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus identity skip (Ledig et al. 2017, fig. 4, B blocks)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.PReLU(c),
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """SRResNet / SRGAN generator for a factor of 2: one PixelShuffle upsampling block.

    Layout: conv9x9-PReLU; ``depth`` residual blocks; conv3x3-BN plus a long skip from the first
    layer; conv3x3 to 4C channels, PixelShuffle(2), PReLU; conv9x9 to RGB, tanh (images live in
    [-1, 1], so tanh bounds the output to the valid range).

    With ``bicubic_skip`` (not in Ledig et al.; VDSR's global residual, Kim et al. 2016) the
    network predicts a correction added to bicubic x2 of the input, clamped to [-1, 1]; the last
    conv starts at zero, so the untrained generator is exactly bicubic.
    """

    def __init__(self, depth: int, channels: int, bicubic_skip: bool = False) -> None:
        super().__init__()
        c = channels
        self.bicubic_skip = bicubic_skip
        self.head = nn.Sequential(nn.Conv2d(3, c, 9, padding=4), nn.PReLU(c))
        self.body = nn.Sequential(*[ResidualBlock(c) for _ in range(depth)])
        self.body_tail = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))
        self.upsample = nn.Sequential(
            nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(c)
        )
        self.tail = nn.Conv2d(c, 3, 9, padding=4)
        if bicubic_skip:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)  # (B, C, h, h)
        feats = head + self.body_tail(self.body(head))  # long skip
        out = self.tail(self.upsample(feats))  # (B, 3, 2h, 2h)
        if not self.bicubic_skip:
            return torch.tanh(out)
        base = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        return (base + out).clamp(-1.0, 1.0)


def _conv_bn_lrelu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    ]


class Discriminator(nn.Module):
    """Strided-conv discriminator (Ledig et al. 2017, fig. 4), shortened for small images.

    conv3x3-LReLU, then stages of (conv stride 1, conv stride 2) with BN and LeakyReLU(0.2),
    doubling channels per stage (capped at 8x the base), until the map is about 4 px wide;
    then global average pooling (so any input size works), dense 2C-LReLU, dense -> 1 logit.
    """

    def __init__(self, hr_size: int, channels: int) -> None:
        super().__init__()
        n_down = max(1, min(4, int(math.log2(max(hr_size, 2))) - 2))  # 16px: 2, 32px: 3, 64+: 4
        layers: list[nn.Module] = [
            nn.Conv2d(3, channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        layers += _conv_bn_lrelu(channels, channels, 2)
        c = channels
        for _ in range(n_down - 1):
            nxt = min(2 * c, 8 * channels)
            layers += _conv_bn_lrelu(c, nxt, 1) + _conv_bn_lrelu(nxt, nxt, 2)
            c = nxt
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c, 2 * c),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(2 * c, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)  # (B,) logits


def build_generator(cfg: SrganConfig) -> Generator:
    """The generator for ``cfg`` (``depth`` residual blocks of ``channels`` filters)."""
    return Generator(cfg.depth, cfg.channels, cfg.bicubic_skip)


def build_discriminator(cfg: SrganConfig, hr_size: int) -> Discriminator:
    """The discriminator for HR images of side ``hr_size`` (base width ``cfg.channels``)."""
    return Discriminator(hr_size, cfg.channels)
