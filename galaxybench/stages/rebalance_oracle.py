"""The oracle rebalancer: real withheld images of a class as its "synthetic" images.

An upper bound for the table, not a method: what a perfect generator could add at the planned
count. The trial hands it the reserve (``trial.reserve``) in place of the training split, with
the plan capped at what the reserve holds; it returns ``counts[c]`` distinct reserve images of
each class, drawn without replacement.

Usage::

    lr, labels = REBALANCERS.get("oracle")().generate(cfg, None, reserve, {4: 8}, seed=0,
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


@REBALANCERS.register("oracle")
class OracleRebalancer(NothingToLearn, Rebalancer):
    """Distinct real LR images of each class from the images it is handed (the reserve)."""

    #: The trial passes the reserve as ``train`` and caps ``counts`` at what it holds.
    needs_reserve = True

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
        """``counts[c]`` distinct images of class ``c`` (stream ``(seed, c)``), classes in
        increasing order; DataError when ``train`` holds fewer (never a repeat)."""
        chosen: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        for cls in sorted(counts):
            n = int(counts[cls])
            if n <= 0:
                continue
            pool = np.flatnonzero(train.labels == cls)
            if pool.size < n:
                raise DataError(
                    f"oracle rebalancer: {n} images of class {cls} asked, {pool.size} held"
                )
            chosen.append(np.random.default_rng([seed % 2**63, cls]).permutation(pool)[:n])
            labels.append(np.full(n, cls, np.int64))
        if not chosen:
            return empty_images(train)
        positions = np.concatenate(chosen)
        return np.ascontiguousarray(train.lr[positions]), np.concatenate(labels)
