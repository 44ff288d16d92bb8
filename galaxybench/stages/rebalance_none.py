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
from galaxybench.stages.base import NothingToLearn, Rebalancer, Weights
from galaxybench.stages.rebalance_common import empty_images


@REBALANCERS.register("none")
class NoRebalance(NothingToLearn, Rebalancer):
    """Adds no image, whatever ``counts`` asks for: the baseline row (docs/protocol.md)."""

    adds_images = False

    def generate(
        self,
        cfg: Config,
        weights: Weights | None,
        train: SplitArrays,
        counts: dict[int, int],
        *,
        seed: int,
        device: torch.device,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Empty arrays of the right shapes and dtypes."""
        return empty_images(train)
