"""The contracts every stage implementation follows (upscalers, rebalancers).

Stages are pure: they read no globals, environment or argv; they get arrays and a seed and return
arrays or weights. Images are uint8, channels first, (n, 3, h, w); float conversion happens on
``device``. Weights are ``dict[str, torch.Tensor]`` (CPU tensors) so the stage cache can store them
with ``torch.save`` and read them back with ``torch.load(weights_only=True)``.

Usage::

    up = UPSCALERS.get(cfg.upscale.method)()
    state = up.fit(cfg, data.subset("train"), seed=cfg.seed, device=device)   # cached by the trial
    hr = up.apply(cfg, state, lr_images, device=device, hr_true=hr_images_or_None)
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays

Weights = dict[str, torch.Tensor]


class Upscaler(Protocol):
    """LR -> HR (factor 2). Registered in ``galaxybench.registry.UPSCALERS``."""

    #: True when ``fit`` trains something (the trial then caches its weights).
    trainable: bool
    #: True when ``apply`` needs the true HR images (only the oracle).
    needs_hr: bool

    def fit(self, cfg: Config, train: SplitArrays, *, seed: int,
            device: torch.device) -> Weights | None:
        """Called once per (data, stage config, seed) on the training split only (LR/HR pairs).

        Returns weights to cache, or None for an upscaler with nothing to learn. Raises
        ``TrialDiverged`` when training goes non-finite.
        """
        ...

    def apply(self, cfg: Config, weights: Weights | None, lr: np.ndarray, *, device: torch.device,
              hr_true: np.ndarray | None = None) -> np.ndarray:
        """Upscale (n, 3, h, h) uint8 to (n, 3, 2h, 2h) uint8; deterministic; batched internally."""
        ...


class Rebalancer(Protocol):
    """Adds training images for under-represented classes. Registered in ``REBALANCERS``."""

    trainable: bool

    def fit(self, cfg: Config, train: SplitArrays, classes: list[int], *, seed: int,
            device: torch.device) -> Weights | None:
        """Called once per (data, stage config, seed) with the training split only.

        ``classes`` are the class ids to learn (the augmented classes, or all when
        ``cgan.train_on == "all"``). Raises ``TrialDiverged`` on NaN losses or mode collapse.
        """
        ...

    def generate(self, cfg: Config, weights: Weights | None, train: SplitArrays,
                 counts: dict[int, int], *, seed: int, device: torch.device
                 ) -> tuple[np.ndarray, np.ndarray]:
        """New LR images: ``counts[c]`` images of class ``c``.

        Returns (lr (m, 3, h, h) uint8, labels (m,) int64) with m = sum(counts.values()),
        deterministic for a given seed.
        """
        ...
