"""Resize native Galaxy10 pixels to HR and LR by area averaging, uint8 in and out.

Each output pixel is the mean of the native pixels it covers, rounded half up; LR is the 2x2 mean
of the unrounded HR. Exact integer block sums when the native side is a multiple of the HR side.

Usage::

    hr, lr = resize_block(block, 128)   # (m, 3, 128, 128) and (m, 3, 64, 64) uint8 tensors
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _block_sums(t: torch.Tensor, f: int) -> torch.Tensor:
    """(m, H, W, C) integer -> (m, H/f, W/f, C) sums of f x f blocks, by strided adds.

    Integer adds of strided views are several times faster than a float area resize and exact.
    """
    acc = torch.int16 if f * f * 255 * 4 < 2**15 else torch.int32  # room for the LR sums too
    rows = t[:, 0::f].to(acc, copy=True).contiguous()  # never a view of t: += below
    for i in range(1, f):
        rows += t[:, i::f]
    m, h, w, c = rows.shape
    cols = rows.view(m, h, w // f, f, c)
    out = cols[:, :, :, 0].clone()
    for i in range(1, f):
        out += cols[:, :, :, i]
    return out


def _round_mean(sums: torch.Tensor, count: int) -> torch.Tensor:
    """Block sums -> uint8 means rounded half up: floor(sum / count + 1/2)."""
    if count & (count - 1) == 0:  # a power of two: a shift is the cheap floor division
        return ((sums + count // 2) >> (count.bit_length() - 1)).to(torch.uint8)
    return torch.div(sums + count // 2, count, rounding_mode="floor").to(torch.uint8)


def _channels_first(x: torch.Tensor) -> torch.Tensor:
    """(m, h, w, 1 or 3) -> contiguous (m, 3, h, w), replicating a greyscale channel."""
    return x.permute(0, 3, 1, 2).expand(-1, 3, -1, -1).contiguous()


def resize_block(block: np.ndarray, hr_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Area-average (m, H, W[, 3]) uint8 to HR (m, 3, S, S) and LR (m, 3, S/2, S/2) uint8.

    Each output pixel is the mean of the native pixels it covers, rounded half up. LR is the
    2x2 mean of the unrounded HR, so LR is HR's own degradation (what SRGAN inverts). When H is a
    multiple of S the means are exact integer block sums; otherwise torch's "area" resize.
    """
    x = torch.from_numpy(block)
    if x.ndim == 3:  # greyscale: one channel now, replicated at the end
        x = x.unsqueeze(-1)
    native = x.shape[1]
    if native % hr_size == 0:
        f = native // hr_size
        hr_sums = _block_sums(x, f)  # (m, S, S, C)
        lr_sums = _block_sums(hr_sums, 2)  # sums over 2f x 2f native pixels
        return (
            _channels_first(_round_mean(hr_sums, f * f)),
            _channels_first(_round_mean(lr_sums, 4 * f * f)),
        )
    xf = x.permute(0, 3, 1, 2).float()  # (m, C, H, W)
    hr = F.interpolate(xf, size=(hr_size, hr_size), mode="area")
    lr = F.avg_pool2d(hr, 2)
    to_uint8 = lambda y: y.add(0.5).floor_().clamp_(0, 255).to(torch.uint8)  # noqa: E731
    return (
        to_uint8(hr).expand(-1, 3, -1, -1).contiguous(),
        to_uint8(lr).expand(-1, 3, -1, -1).contiguous(),
    )
