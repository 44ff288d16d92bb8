"""Which classes a rebalancer augments, and by how many images: a pure function of train counts.

Every class whose training count is below ``rebalance.threshold`` x the largest class count gets
enough new images to reach ``max(threshold, target)`` x that count. With threshold = target this is
the paper's rule (classes under 1750 of 2645 filled to 1750). Filling to at least the threshold
makes the threshold act over its whole range: a class that qualifies is never left between the
target and the threshold with nothing added, so a higher threshold always means more images.
``target`` is a floor on the fill level for thresholds below it (``docs/protocol.md``, "The
rebalancing threshold").

Usage::

    counts = plan_counts(np.bincount(train.labels, minlength=K), cfg.rebalance.threshold,
                         cfg.rebalance.target)          # {class id: images to add}
"""

from __future__ import annotations

import math

import numpy as np

from galaxybench.errors import ConfigError

# Products such as 0.7 x 10 come out as 7.000000000000001 in binary floating point; rounding to
# this many decimals first keeps "below 7" and "ceil(7)" what a person computing by hand expects.
_DECIMALS = 9


def plan_counts(train_counts: np.ndarray, threshold: float, target: float) -> dict[int, int]:
    """Images to add per under-represented class.

    Args:
        train_counts: (K,) images per class in the training split (non-negative integers).
        threshold: a class is augmented when its count < threshold x the largest count, in (0, 1].
        target: the least fill level: augmented classes are filled up to
            ceil(max(threshold, target) x the largest count), in (0, 1].

    Returns:
        ``{class id: n}`` with n = ceil(max(threshold, target) x max) - count > 0, in increasing
        class order.
        Classes with nothing to add are omitted; so are classes with no training image at all
        (nothing to repeat or to learn from, and they cannot be scored either).
    """
    counts = np.asarray(train_counts)
    if counts.ndim != 1 or counts.size == 0 or (counts < 0).any():
        raise ConfigError(f"plan_counts needs a non-empty 1-d array of counts >= 0, got {counts!r}")
    if not (0.0 < threshold <= 1.0 and 0.0 < target <= 1.0):
        raise ConfigError(
            f"rebalance threshold and target must be in (0, 1], got {threshold} and {target}"
        )
    largest = int(counts.max())
    below = round(threshold * largest, _DECIMALS)
    goal = math.ceil(round(max(threshold, target) * largest, _DECIMALS))
    plan: dict[int, int] = {}
    for cls, count in enumerate(counts.tolist()):
        if 0 < count < below and goal - count > 0:
            plan[cls] = int(goal - count)
    return plan
