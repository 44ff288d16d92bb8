"""The oracle upscaler: returns the true HR images. An upper bound for the table, not a method.

Usage::

    hr = UPSCALERS.get("oracle")().apply(cfg, None, lr, device=device, hr_true=hr_images)
"""

from __future__ import annotations

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.images import check_images
from galaxybench.registry import UPSCALERS
from galaxybench.stages.base import NothingToLearn, Upscaler, Weights


@UPSCALERS.register("oracle")
class OracleUpscaler(NothingToLearn, Upscaler):
    """True HR in place of an upscaled image: what a perfect upscaler would give.

    The oracle row of docs/protocol.md; ``needs_hr`` makes the trial pass the true HR images.
    """

    needs_hr = True

    def apply(
        self,
        cfg: Config,
        weights: Weights | None,
        lr: np.ndarray,
        *,
        device: torch.device,
        hr_true: np.ndarray | None = None,
    ) -> np.ndarray:
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
            raise ValueError(
                f"oracle hr_true must be {expected} uint8, got {hr_true.shape} {hr_true.dtype}"
            )
        return np.array(hr_true, dtype=np.uint8, copy=True)
