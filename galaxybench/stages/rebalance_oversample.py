"""Random oversampling: repeat real training images of each under-represented class.

Each class is drawn from its own seeded stream: a random permutation of its images, used up
without replacement, then another permutation, and so on, so every real image is repeated
either floor(n / count) or ceil(n / count) times.

Usage::

    lr, labels = REBALANCERS.get("oversample")().generate(cfg, None, train, {4: 1412}, seed=0,
                                                         device=torch.device("cpu"))
"""

from __future__ import annotations

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import DataError
from galaxybench.registry import REBALANCERS
from galaxybench.stages.base import NothingToLearn, Rebalancer, Weights
from galaxybench.stages.rebalance_common import empty_images


def repeat_positions(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` entries of ``pool``: whole shuffled passes over it, then part of one more."""
    passes = [rng.permutation(pool) for _ in range(-(-n // len(pool)))]
    return np.concatenate(passes)[:n] if passes else pool[:0]


@REBALANCERS.register("oversample")
class Oversample(NothingToLearn, Rebalancer):
    """Repeats real LR images of a class until it has ``counts[c]`` more."""

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
        """Copies of real images: classes in increasing order, ``counts[c]`` images each.

        The stream of class ``c`` is seeded by ``(seed, c)``, so one class's copies do not
        depend on which other classes are augmented.
        """
        chosen: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        for cls in sorted(counts):
            n = int(counts[cls])
            if n <= 0:
                continue
            pool = np.flatnonzero(train.labels == cls)
            if pool.size == 0:
                raise DataError(f"oversample: class {cls} has no training image to repeat")
            chosen.append(repeat_positions(pool, n, np.random.default_rng([seed % 2**63, cls])))
            labels.append(np.full(n, cls, np.int64))
        if not chosen:
            return empty_images(train)
        positions = np.concatenate(chosen)
        return np.ascontiguousarray(train.lr[positions]), np.concatenate(labels)
