"""The baseline rebalancer: adds nothing (the imbalanced training split as it is).

Usage::

    lr, labels = REBALANCERS.get("none")().generate(cfg, None, train, counts, seed=0, device=dev)
    # lr.shape == (0, 3, h, h), labels.shape == (0,)
"""

from __future__ import annotations

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.registry import REBALANCERS
from galaxybench.stages.base import Weights
from galaxybench.stages.rebalance_plan import plan_counts

__all__ = ["NoRebalance", "plan_counts"]


def empty_images(train: SplitArrays) -> tuple[np.ndarray, np.ndarray]:
    """(0, 3, h, h) uint8 and (0,) int64 with the LR side of ``train``."""
    side = int(train.lr.shape[-1])
    return np.zeros((0, 3, side, side), np.uint8), np.zeros((0,), np.int64)


@REBALANCERS.register("none")
class NoRebalance:
    """Adds no image, whatever ``counts`` asks for: the baseline of DESIGN 1.4."""

    trainable = False

    def fit(self, cfg: Config, train: SplitArrays, classes: list[int], *, seed: int,
            device: torch.device) -> Weights | None:
        """Nothing to learn."""
        return None

    def generate(self, cfg: Config, weights: Weights | None, train: SplitArrays,
                 counts: dict[int, int], *, seed: int, device: torch.device
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Empty arrays of the right shapes and dtypes."""
        return empty_images(train)
