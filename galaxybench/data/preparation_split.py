"""Deduplicate a Galaxy10-format file by sky position and split it stratified (train/val/test).

Copies of one object (within ``DEDUPE_TOLERANCE_ARCSEC``) keep one row when their labels agree and
none when they disagree; the split is drawn with ``data.split_seed`` in a canonical row order.

Usage::

    dup = dedupe(meta.ra, meta.dec, meta.labels)      # Dedupe(keep, groups, conflicting, dropped)
    splits = stratified_split(meta.labels[dup.keep], cfg.data)   # {"train": ..., "val": ...}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from sklearn.model_selection import train_test_split

from galaxybench.config import DataConfig
from galaxybench.data.arrays import SPLITS
from galaxybench.data.read import Galaxy10Meta
from galaxybench.errors import DataError

DEDUPE_TOLERANCE_ARCSEC = 0.5  # same object: positions closer than this


@dataclass(frozen=True)
class Dedupe:
    """Outcome of deduplication by position.

    Attributes:
        keep: (N,) bool, rows that survive.
        groups: objects seen more than once.
        conflicting: of those, objects whose copies disagree on the label (all copies dropped).
        dropped: rows removed.
    """

    keep: np.ndarray
    groups: int
    conflicting: int
    dropped: int


def dedupe(
    ra: np.ndarray | None,
    dec: np.ndarray | None,
    labels: np.ndarray,
    *,
    tolerance_arcsec: float = DEDUPE_TOLERANCE_ARCSEC,
) -> Dedupe:
    """Find rows of the same object (within ``tolerance_arcsec``); keep one copy if the labels
    agree (the one with the smallest (ra, dec), whatever the row order), drop every copy if they
    disagree. Rows with non-finite coordinates are kept as unique.
    """
    n = len(labels)
    if ra is None or dec is None:
        return Dedupe(np.ones(n, bool), 0, 0, 0)
    ok = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    ra_r, dec_r = np.radians(ra[ok]), np.radians(dec[ok])
    xyz = np.stack([np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r), np.sin(dec_r)], 1)
    chord = 2 * np.sin(np.radians(tolerance_arcsec / 3600) / 2)  # angle -> unit-sphere chord
    pairs = cKDTree(xyz).query_pairs(chord, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(ok),) * 2)
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    keep = np.ones(n, bool)
    groups = conflicting = 0
    for c in np.flatnonzero(sizes > 1):
        rows = ok[comp == c]  # ascending file rows
        groups += 1
        if np.unique(labels[rows]).size > 1:
            conflicting += 1
            keep[rows] = False
        else:  # keep the westernmost copy: the choice must not depend on the row order
            keep[np.delete(rows, np.lexsort((dec[rows], ra[rows]))[0])] = False
    return Dedupe(keep, groups, conflicting, int(n - keep.sum()))


def stratified_split(
    labels: np.ndarray, data_cfg: DataConfig, *, order: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Disjoint stratified train/val/test positions drawn with ``data_cfg.split_seed``.

    Args:
        labels: (N,) class ids.
        order: a canonical permutation of the rows (e.g. sorted by position on the sky); the
            split then assigns each object the same split whatever the file's row order.

    Raises:
        ValueError: a class too small to stratify (sklearn's message).
    """
    pos = np.arange(len(labels)) if order is None else np.asarray(order)
    seed = data_cfg.split_seed
    rest, test = train_test_split(
        pos, test_size=data_cfg.test_fraction, stratify=labels[pos], random_state=seed
    )
    val_share = data_cfg.val_fraction / (1.0 - data_cfg.test_fraction)
    train, val = train_test_split(
        rest, test_size=val_share, stratify=labels[rest], random_state=seed
    )
    return {
        "train": np.sort(train).astype(np.int64),
        "val": np.sort(val).astype(np.int64),
        "test": np.sort(test).astype(np.int64),
    }


def _split_or_refuse(
    meta: Galaxy10Meta, labels: np.ndarray, order: np.ndarray, data_cfg: DataConfig
) -> dict[str, np.ndarray]:
    counts = np.bincount(labels, minlength=meta.num_classes)
    try:
        splits = stratified_split(labels, data_cfg, order=order)
        present = np.stack([np.bincount(labels[splits[s]], minlength=len(counts)) for s in SPLITS])
        short = np.flatnonzero(present.min(axis=0) == 0)
    except ValueError:
        short = np.flatnonzero(counts == counts.min())
    if short.size:
        k = int(short[0])
        raise DataError(
            f"{meta.path}: class {meta.class_names[k]!r} has {counts[k]} images after "
            "deduplication, too few to appear in every split (train, val, test)"
        )
    return splits
