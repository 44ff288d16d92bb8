"""The reserve: real minority-class training images withheld from every row of a sweep.

Before anything trains, ``protocol.RESERVE_FRACTION`` of each scoring-minority class's training
images is drawn from the split's training part (seeded by the split seed, so every row at one
split withholds the same images) and moved to a split of its own, ``protocol.RESERVE_SPLIT``.
Every row (baseline, GANs, classical, oracle upscaler) trains on the reduced training set; only
the oracle rebalancer reads the reserve, as its "synthetic" images (``docs/protocol.md``, "The
reserve and the oracle rebalancer").

Usage::

    data = withhold_reserve(data, minority, split_seed=cfg.data.split_seed)
    data.splits["train"], data.splits["reserve"]          # disjoint positions
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from galaxybench.data.arrays import PreparedData
from galaxybench.protocol import RESERVE_FRACTION, RESERVE_SPLIT

# A fixed stream id, so the reserve's draw is independent of every stage's random stream.
_RESERVE_STREAM = 0x5E5E


def reserve_positions(
    train_index: np.ndarray,
    labels: np.ndarray,
    minority: list[int],
    split_seed: int,
    fraction: float = RESERVE_FRACTION,
) -> np.ndarray:
    """Sorted dataset positions of the reserve: ``floor(fraction x count)`` training images of
    each class in ``minority``, drawn without replacement (stream ``(split seed, class)``).

    Args:
        train_index: dataset positions of the training split.
        labels: (N,) labels of the whole dataset.
        minority: the scoring-minority classes (fixed for a sweep).
        split_seed: the split's seed (``data.split_seed``).
    """
    train_index = np.sort(np.asarray(train_index, dtype=np.int64))
    chosen: list[np.ndarray] = []
    for cls in sorted(minority):
        pool = train_index[labels[train_index] == cls]
        size = int(np.floor(fraction * pool.size))
        rng = np.random.default_rng([_RESERVE_STREAM, split_seed % 2**63, cls])
        chosen.append(rng.permutation(pool)[:size])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def withhold_reserve(
    data: PreparedData, minority: list[int], split_seed: int, fraction: float = RESERVE_FRACTION
) -> PreparedData:
    """``data`` with the reserve moved out of ``splits["train"]`` into ``splits[RESERVE_SPLIT]``.

    The image arrays are shared, not copied. Data that already holds a reserve is returned as
    it is (withholding twice would shrink the training set twice).
    """
    if RESERVE_SPLIT in data.splits:
        return data
    train = data.splits["train"]
    reserve = reserve_positions(train, data.labels, minority, split_seed, fraction)
    kept = train[~np.isin(train, reserve)]
    splits = {**data.splits, "train": kept, RESERVE_SPLIT: reserve}
    return dataclasses.replace(data, splits=splits)


def check_reserve_withheld(
    data: PreparedData, consumed: Mapping[str, np.ndarray], allowed: str
) -> None:
    """AssertionError when a reserve position reached any stage in ``consumed`` but ``allowed``
    (the oracle rebalancer's use of the reserve)."""
    reserve = set(data.splits.get(RESERVE_SPLIT, np.zeros(0, np.int64)).tolist())
    for name, index in consumed.items():
        if name == allowed:
            continue
        reached = reserve & set(np.asarray(index).tolist())
        if reached:
            raise AssertionError(f"{len(reached)} reserve images reached {name}")
