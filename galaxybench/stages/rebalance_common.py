"""Helpers shared by the rebalancers: the empty result of a rebalancer that adds nothing.

Usage::

    lr, labels = empty_images(train)      # (0, 3, h, h) uint8 and (0,) int64
"""

from __future__ import annotations

import numpy as np

from galaxybench.data.arrays import SplitArrays


def empty_images(train: SplitArrays) -> tuple[np.ndarray, np.ndarray]:
    """(0, 3, h, h) uint8 and (0,) int64 with the LR side of ``train``."""
    side = int(train.lr.shape[-1])
    return np.zeros((0, 3, side, side), np.uint8), np.zeros((0,), np.int64)
