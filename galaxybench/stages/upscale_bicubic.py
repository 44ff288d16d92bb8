"""The baseline upscaler: bicubic interpolation x2, no learned enhancement (DESIGN 1.3).

Usage::

    hr = UPSCALERS.get("bicubic")().apply(cfg, None, lr_uint8, device=torch.device("cpu"))
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from galaxybench.config import Config
from galaxybench.data.prepared import SplitArrays
from galaxybench.registry import UPSCALERS
from galaxybench.stages._common import to_tensor_uint8
from galaxybench.stages.base import Weights

# Images per interpolation call: bounds the float32 working set on the device.
_BATCH = 512


def check_lr_images(lr: np.ndarray) -> None:
    """Raise ValueError unless ``lr`` is a (n, 3, h, w) uint8 array (shared by the upscalers)."""
    if not isinstance(lr, np.ndarray) or lr.dtype != np.uint8 or lr.ndim != 4 or lr.shape[1] != 3:
        shape = getattr(lr, "shape", None)
        dtype = getattr(lr, "dtype", type(lr).__name__)
        raise ValueError(f"upscaler input must be (n, 3, h, w) uint8, got shape {shape} {dtype}")


def bicubic_x2(lr: np.ndarray, device: torch.device) -> np.ndarray:
    """Bicubic x2 of (n, 3, h, w) uint8 -> (n, 3, 2h, 2w) uint8, rounded and clamped to 0..255.

    ``F.interpolate(mode="bicubic", align_corners=False)`` (Keys' cubic, a = -0.75, as OpenCV);
    the cubic kernel overshoots at edges, hence the clamp.
    """
    check_lr_images(lr)
    n, _, h, w = lr.shape
    out = np.empty((n, 3, 2 * h, 2 * w), dtype=np.uint8)
    for start in range(0, n, _BATCH):
        x = to_tensor_uint8(lr[start:start + _BATCH], device).float()  # (B, 3, h, w) in 0..255
        y = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        out[start:start + _BATCH] = y.clamp_(0, 255).round_().to(torch.uint8).cpu().numpy()
    return out


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
