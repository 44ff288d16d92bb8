"""The baseline upscaler: bicubic interpolation x2, no learned enhancement (DESIGN 1.3).

Usage::

    hr = UPSCALERS.get("bicubic")().apply(cfg, None, lr_uint8, device=torch.device("cpu"))
"""

from __future__ import annotations

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.images import bicubic_x2
from galaxybench.registry import UPSCALERS
from galaxybench.stages.base import Weights

@UPSCALERS.register("bicubic")
class BicubicUpscaler:
    """Bicubic interpolation: the baseline with nothing to learn."""

    trainable = False
    needs_hr = False

    def fit(self, cfg: Config, train: SplitArrays, *, seed: int,
            device: torch.device) -> Weights | None:
        """Nothing to learn: returns None."""
        return None

    def apply(self, cfg: Config, weights: Weights | None, lr: np.ndarray, *,
              device: torch.device, hr_true: np.ndarray | None = None) -> np.ndarray:
        """(n, 3, h, h) uint8 -> (n, 3, 2h, 2h) uint8 by bicubic interpolation."""
        return bicubic_x2(lr, device)
