"""Helpers shared by the torch stages: seeding, batching, autocast, divergence checks.

The uint8 <-> float conversions live in ``galaxybench.images`` and are re-exported here.

Usage::

    gen = seeded_generator(seed)                 # a torch.Generator for shuffles and noise
    x = to_float(images_uint8, device)           # (B, 3, H, W) float32 in [-1, 1] on device
    check_finite("srgan", loss)                   # raises TrialDiverged on NaN/inf
    watch = FiniteWatch("srgan", device)          # per step: watch.observe(loss); per epoch:
    watch.check()                                 # raises TrialDiverged (one read of the GPU)
"""

from __future__ import annotations

import random

import numpy as np
import torch

from galaxybench.errors import TrialDiverged
from galaxybench.images import to_float, to_tensor_uint8, to_uint8

__all__ = [
    "FiniteWatch",
    "adam",
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


class FiniteWatch:
    """Whether a stage's losses stayed finite, kept on the device and read once per epoch.

    Reading a CUDA value in Python (``bool(t)``, ``.item()``, ``float(t)``) makes the CPU wait
    for the GPU before it can queue the next step, which leaves a small-batch step idle most of
    the time. The watch folds each step's check into a device flag and the first non-finite
    value; ``check()`` reads them once, at the end of the epoch, so a diverged trial runs at most
    the rest of that epoch before it is reported (with its stage and the value, as before).

    On a CPU nothing is asynchronous, so ``observe`` checks at once, as ``check_finite`` does: a
    CPU run stops at the same step as before and its numbers do not change. ``deferred`` forces
    one behaviour (tests).

    Losses are scalars (a non-scalar is summed, which keeps NaN and infinity).
    """

    def __init__(self, stage: str, device: torch.device, *, deferred: bool | None = None):
        self.stage = stage
        self.deferred = torch.device(device).type == "cuda" if deferred is None else deferred
        self._finite = torch.ones((), dtype=torch.bool, device=device)
        self._first = torch.zeros((), dtype=torch.float32, device=device)

    def observe(self, *losses: torch.Tensor) -> None:
        """Note ``losses``; raise TrialDiverged now unless the check is deferred."""
        if not self.deferred:
            check_finite(self.stage, *losses)
            return
        for loss in losses:  # in place: a CUDA graph that replays this updates the same flag
            value = loss.detach().float().sum()
            finite = torch.isfinite(value)
            self._first.copy_(torch.where(self._finite & ~finite, value, self._first))
            self._finite.logical_and_(finite)

    def tensors(self) -> list[torch.Tensor]:
        """The device tensors the watch updates in place (a graphed step restores them)."""
        return [self._finite, self._first]

    def reset(self) -> None:
        """Start a new epoch's watch on the same device tensors (in place)."""
        self._finite.fill_(True)
        self._first.zero_()

    def check(self) -> None:
        """Raise TrialDiverged if any observed loss was NaN or infinite (reads the device)."""
        if self.deferred and not bool(self._finite):
            raise TrialDiverged(self.stage, f"non-finite loss ({self._first.item()})")


def batches(
    n: int,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    device: torch.device | str | None = None,
) -> list[torch.Tensor]:
    """Index batches over range(n), shuffled with ``generator`` when given.

    The order is drawn on the CPU (the generator's stream does not depend on the device) and,
    with ``device``, copied there once per epoch: each batch is then a slice of a device tensor
    rather than a host-to-device copy per step.
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    if device is not None and torch.device(device).type == "cuda":
        # Pinned, so the copy is queued without waiting for the GPU (a pageable copy syncs).
        order = order.pin_memory().to(device, non_blocking=True)
    elif device is not None:
        order = order.to(device)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]


def adam(
    params, device: torch.device | str, *, graphed: bool = False, **kwargs
) -> torch.optim.Adam:
    """``torch.optim.Adam``; on CUDA its fused kernel (one launch for every parameter tensor
    instead of a few per tensor: the optimizer step of a small network is launch-bound), made
    ``capturable`` when its steps are replayed as a CUDA graph (``graphed``; the fused kernel's
    arithmetic is the same either way). On a CPU the default implementation, so CPU runs keep
    their numbers."""
    if torch.device(device).type == "cuda":
        kwargs.setdefault("fused", True)
        if graphed:
            kwargs.setdefault("capturable", True)
    return torch.optim.Adam(params, **kwargs)


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
