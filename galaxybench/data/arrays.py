"""The prepared dataset every trial consumes: LR and HR uint8 arrays, labels, a fixed split.

Usage::

    data = galaxybench.data.prepare(path, cfg.data)
    train = data.subset("train")      # SplitArrays: lr, hr, labels, index
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitArrays:
    """One split (or any subset) of the prepared data.

    Attributes:
        lr: (n, 3, h, h) uint8, the observed low resolution (h = hr_size // 2).
        hr: (n, 3, H, H) uint8, true high resolution (H = hr_size).
        labels: (n,) int64 class ids.
        index: (n,) int64 positions in the prepared arrays (used to prove splits never mix).
    """

    lr: np.ndarray
    hr: np.ndarray
    labels: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, positions: np.ndarray) -> SplitArrays:
        """Subset by positions within this split."""
        return SplitArrays(
            self.lr[positions], self.hr[positions], self.labels[positions], self.index[positions]
        )


@dataclass(frozen=True)
class PreparedData:
    """A deduplicated, resized and split Galaxy10-format dataset.

    Attributes:
        lr: (N, 3, h, h) uint8 channels-first LR images.
        hr: (N, 3, H, H) uint8 channels-first HR images.
        labels: (N,) int64 labels in 0..K-1.
        class_names: K names.
        splits: "train" / "val" / "test" -> int64 positions into the arrays, disjoint, stratified,
            drawn with ``data.split_seed``.
        fingerprint: hex digest of the file's SHA256 plus the preparation settings.
        source: where the data came from (a path, with "embedded" for the synthetic set).
        info: duplicates dropped, native size, file fingerprint, counts, and other facts.
    """

    lr: np.ndarray
    hr: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    splits: dict[str, np.ndarray]
    fingerprint: str
    source: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def hr_size(self) -> int:
        return int(self.hr.shape[-1])

    def subset(self, split: str) -> SplitArrays:
        """The arrays of one split ("train", "val" or "test")."""
        idx = self.splits[split]
        return SplitArrays(self.lr[idx], self.hr[idx], self.labels[idx], idx)
