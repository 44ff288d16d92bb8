"""Helpers shared by the torch stages: seeding, uint8 <-> float on the device, divergence checks.

Usage::

    gen = seeded_generator(seed)                 # a torch.Generator for shuffles and noise
    x = to_float(images_uint8, device)           # (B, 3, H, W) float32 in [-1, 1] on device
    check_finite("srgan", loss)                   # raises TrialDiverged on NaN/inf
"""

from __future__ import annotations

import random

import numpy as np
import torch

from galaxybench.errors import TrialDiverged


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seeded_generator(seed)


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def to_tensor_uint8(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """(n, 3, h, w) uint8 numpy -> uint8 tensor on device.

    Copied: arrays from Ray's object store are read-only.
    """
    return torch.from_numpy(np.ascontiguousarray(images)).to(device)


def to_float(images: torch.Tensor | np.ndarray, device: torch.device | None = None) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 in [-1, 1] on device (conversion happens on the device)."""
    if isinstance(images, np.ndarray):
        images = to_tensor_uint8(images, device or torch.device("cpu"))
    elif device is not None:
        images = images.to(device)
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] (B, 3, H, W) -> uint8, rounded and clamped."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def check_finite(stage: str, *losses: torch.Tensor) -> None:
    """Raise TrialDiverged when any loss is NaN or infinite."""
    for loss in losses:
        if not torch.isfinite(loss).all():
            raise TrialDiverged(stage, f"non-finite loss ({loss.detach().float().cpu().item()})")


def batches(n: int, batch_size: int, *, generator: torch.Generator | None = None,
            drop_last: bool = False) -> list[torch.Tensor]:
    """Index batches over range(n), shuffled with ``generator`` when given (CPU index tensors)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; a no-op on a CPU, where bf16 is slow and would change the numbers
    (CPU runs stay float32 and bit-reproducible)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=device.type == "cuda")


def set_threads(num_threads: int | None) -> None:
    """torch.set_num_threads for CPU trials so concurrent trials don't oversubscribe cores."""
    if num_threads and num_threads > 0:
        torch.set_num_threads(int(num_threads))
