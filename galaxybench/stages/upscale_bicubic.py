"""The baseline upscaler: bicubic interpolation x2, no learned enhancement (docs/protocol.md).

Usage::

    hr = UPSCALERS.get("bicubic")().apply(cfg, None, lr_uint8, device=torch.device("cpu"))
"""

from __future__ import annotations

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.images import bicubic_x2
from galaxybench.registry import UPSCALERS
from galaxybench.stages.base import NothingToLearn, Upscaler, Weights


@UPSCALERS.register("bicubic")
class BicubicUpscaler(NothingToLearn, Upscaler):
    """Bicubic interpolation: the baseline with nothing to learn."""

    needs_hr = False

    def apply(
        self,
        cfg: Config,
        weights: Weights | None,
        lr: np.ndarray,
        *,
        device: torch.device,
        hr_true: np.ndarray | None = None,
    ) -> np.ndarray:
        """(n, 3, h, h) uint8 -> (n, 3, 2h, 2h) uint8 by bicubic interpolation."""
        return bicubic_x2(lr, device)
