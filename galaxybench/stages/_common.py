"""Helpers shared by the torch stages: seeding, batching, autocast, divergence checks.

The uint8 <-> float conversions live in ``galaxybench.images`` and are re-exported here.

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
from galaxybench.images import to_float, to_tensor_uint8, to_uint8

__all__ = [
    "autocast",
    "batches",
    "check_finite",
    "cpu_copy",
    "seed_everything",
    "seeded_generator",
    "set_threads",
    "to_float",
    "to_tensor_uint8",
    "to_uint8",
]


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


def cpu_copy(obj):
    """A deep copy of nested dicts/lists/tuples with every tensor cloned to the CPU (checkpoints:
    the copy must not change when training continues, and must load on any device)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [cpu_copy(v) for v in obj]
    return obj


def check_finite(stage: str, *losses: torch.Tensor) -> None:
    """Raise TrialDiverged when any loss is NaN or infinite."""
    for loss in losses:
        if not torch.isfinite(loss).all():
            raise TrialDiverged(stage, f"non-finite loss ({loss.detach().float().cpu().item()})")


def batches(
    n: int, batch_size: int, *, generator: torch.Generator | None = None, drop_last: bool = False
) -> list[torch.Tensor]:
    """Index batches over range(n), shuffled with ``generator`` when given (CPU index tensors)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; a no-op on a CPU, where bf16 is slow and would change the numbers
    (CPU runs stay float32 and bit-reproducible)."""
    return torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"
    )


def set_threads(num_threads: int | None) -> None:
    """torch.set_num_threads for CPU trials so concurrent trials don't oversubscribe cores."""
    if num_threads and num_threads > 0:
        torch.set_num_threads(int(num_threads))
