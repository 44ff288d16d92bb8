"""The oracle upscaler: returns the true HR images. An upper bound for the table, not a method.

Usage::

    hr = UPSCALERS.get("oracle")().apply(cfg, None, lr, device=device, hr_true=hr_images)
"""

from __future__ import annotations

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.registry import UPSCALERS
from galaxybench.stages.base import Weights
from galaxybench.images import check_images


@UPSCALERS.register("oracle")
class OracleUpscaler:
    """True HR in place of an upscaled image (DESIGN 1.3): what a perfect upscaler would give."""

    trainable = False
    needs_hr = True

    def fit(self, cfg: Config, train: SplitArrays, *, seed: int,
            device: torch.device) -> Weights | None:
        """Nothing to learn: returns None."""
        return None

    def apply(self, cfg: Config, weights: Weights | None, lr: np.ndarray, *,
              device: torch.device, hr_true: np.ndarray | None = None) -> np.ndarray:
        """A copy of ``hr_true`` (n, 3, 2h, 2h) uint8; ValueError when it is missing or mismatched.

        The copy matters: arrays from Ray's object store are read-only, and callers may edit
        the result in place.
        """
        check_images(lr, "upscaler input")
        if hr_true is None:
            raise ValueError("the oracle upscaler needs hr_true (the true HR images)")
        n, _, h, w = lr.shape
        expected = (n, 3, 2 * h, 2 * w)
        if hr_true.shape != expected or hr_true.dtype != np.uint8:
            raise ValueError(f"oracle hr_true must be {expected} uint8, "
                             f"got {hr_true.shape} {hr_true.dtype}")
        return np.array(hr_true, dtype=np.uint8, copy=True)
