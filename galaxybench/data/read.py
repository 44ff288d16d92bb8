"""Read and validate Galaxy10-format HDF5 files; every bad input is one DataError naming the file.

A Galaxy10-format file has ``images`` (N, H, W, 3) (or greyscale (N, H, W)) with pixel values
0..255, ``ans`` integer labels 0..K-1 (every class present), and optionally ``ra``, ``dec``
(degrees), ``redshift``, ``pxscale``. Files are only ever opened read-only.

The reader bounds its work before it allocates anything sized by the file's header:

- only a regular file is opened (a FIFO, directory or device is refused from ``stat``, so it can
  never block a read);
- external links, external raw storage and virtual datasets are refused, so every byte read
  comes from the one file whose SHA256 is the data fingerprint;
- labels are checked to be integers in range before any cast or ``bincount``;
- the image side is limited (``$GALAXYBENCH_MAX_IMAGE_SIDE``, default 4096 px) and the decoded
  pixel bytes are limited against available memory (``$GALAXYBENCH_MAX_DECODED_BYTES``, default
  4 x the available memory: pixels are streamed in chunks, but prepared arrays, the page cache
  and per-row metadata scale with the file).

Labels that leave gaps (a class with no image) are refused unless a remap is given
(``data.remap_labels``, ``--remap-labels``): ``auto`` maps the sorted labels present to 0..K-1;
``2,5,8`` maps label 2 to 0, 5 to 1 and 8 to 2 (and refuses any other label).

The checks live beside this module: ``read_h5`` (the file and the ``images`` header),
``read_labels`` (labels, class names, remap) and ``read_pixels`` (pixel values to uint8).

Usage::

    meta = read_meta("Galaxy10_DECals.h5")          # validated labels, names, coordinates
    meta = read_meta("subset.h5", remap="2,5,8")     # labels 2, 5, 8 -> 0, 1, 2
    for start, chunk in iter_chunks(meta, rows=256):  # (m, H, W, 3) uint8, in file order
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from galaxybench.data.read_h5 import (
    DECODED_MEMORY_FACTOR,
    MAX_DECODED_ENV,
    MAX_SIDE_DEFAULT,
    MAX_SIDE_ENV,
    MIN_SIZE,
    _check_images,
    _dataset,
    available_memory,
    open_h5,
)
from galaxybench.data.read_labels import (
    DECALS_SIZE,
    REMAP_LABEL_MAX,
    SDSS_SIZE,
    _apply_labels,
    _read_labels,
    _stored_class_names,
    parse_remap,
)
from galaxybench.data.read_pixels import (
    PIXEL_RULE,
    SCALE_SAMPLE_ROWS,
    _to_uint8,
    check_pixel_scale,
)
from galaxybench.errors import DataError

__all__ = [
    "DECALS_SIZE",
    "DECODED_MEMORY_FACTOR",
    "MAX_DECODED_ENV",
    "MAX_SIDE_DEFAULT",
    "MAX_SIDE_ENV",
    "MIN_SIZE",
    "PIXEL_RULE",
    "REMAP_LABEL_MAX",
    "SCALE_SAMPLE_ROWS",
    "SDSS_SIZE",
    "Galaxy10Meta",
    "available_memory",
    "check_pixel_scale",
    "iter_chunks",
    "open_h5",
    "parse_remap",
    "read_meta",
    "rows_per_chunk",
]


@dataclass(frozen=True)
class Galaxy10Meta:
    """Validated facts about a Galaxy10-format file (everything but the pixels).

    Attributes:
        path: the file.
        num_images: N rows.
        native_size: H = W in pixels.
        channels: 3, or 1 for greyscale files (replicated to 3 when read).
        dtype: the pixel dtype stored in the file.
        labels: (N,) int64 in 0..K-1, after the remap if one was given.
        class_names: K names (following the remap).
        ra, dec: (N,) float64 degrees, or None when the file has no coordinates.
        keys: the datasets present in the file.
        remap: source label -> label, when a remap was applied; else None.
    """

    path: Path
    num_images: int
    native_size: int
    channels: int
    dtype: str
    labels: np.ndarray
    class_names: tuple[str, ...]
    ra: np.ndarray | None
    dec: np.ndarray | None
    keys: tuple[str, ...]
    remap: dict[int, int] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> np.ndarray:
        """(K,) images per class in the file (before deduplication)."""
        return np.bincount(self.labels, minlength=self.num_classes)


def _coordinates(f: h5py.File, n: int, path: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    names = set(f)
    if "ra" not in names and "dec" not in names:
        return None, None
    coords = []
    for key in ("ra", "dec"):
        node = _dataset(f, key, path)
        if node.shape != (n,) or node.dtype.kind not in "uif" or node.dtype.itemsize > 8:
            raise DataError(
                f"{path}: {key!r} must be {n} numbers (one per image), "
                f"got shape {node.shape} {node.dtype}"
            )
        try:
            coords.append(node[()].astype(np.float64))
        except (OSError, RuntimeError) as exc:
            raise DataError(f"{path}: cannot read {key!r} (corrupt or truncated: {exc})") from None
    return coords[0], coords[1]


def read_meta(path: str | Path, remap: str | list[int] | None = None) -> Galaxy10Meta:
    """Validate a Galaxy10-format file's structure and labels (pixels are checked when read).

    Args:
        path: the HDF5 file.
        remap: None or "" (labels must already be 0..K-1, every class present), "auto" (the
            sorted labels present become 0..K-1) or labels like "2,5,8" / [2, 5, 8] (2 -> 0,
            5 -> 1, 8 -> 2; any other label is refused). Class names follow the remap.

    Raises:
        DataError: one line naming the file and the problem.
    """
    path = Path(path)
    spec = parse_remap(",".join(map(str, remap)) if isinstance(remap, list) else remap or "")
    with open_h5(path) as f:
        images = _dataset(f, "images", path)
        n, size, channels = _check_images(images, path)
        check_pixel_scale(images, path)
        ans = _dataset(f, "ans", path)
        source = _read_labels(ans, n, path, spec is not None)
        labels, names, mapping = _apply_labels(
            source, _stored_class_names(f, ans, path), size, spec, path
        )
        ra, dec = _coordinates(f, n, path)
        return Galaxy10Meta(
            path,
            n,
            size,
            channels,
            str(images.dtype),
            labels,
            names,
            ra,
            dec,
            tuple(sorted(f)),
            mapping,
        )


def rows_per_chunk(meta: Galaxy10Meta, chunk_bytes: int = 32 << 20) -> int:
    """Rows per read so one chunk holds about ``chunk_bytes`` of native uint8 pixels."""
    per_image = meta.native_size**2 * 3
    return max(1, min(meta.num_images, chunk_bytes // per_image))


def iter_chunks(meta: Galaxy10Meta, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, block)`` in file order; block is (m, H, W) or (m, H, W, 3) uint8.

    Greyscale blocks stay (m, H, W): the caller replicates the channel where it is cheapest.

    Raises:
        DataError: pixels that are non-finite or outside 0..255, or unreadable (corrupt) data.
    """
    with open_h5(meta.path) as f:
        images = _dataset(f, "images", meta.path)
        for start in range(0, meta.num_images, rows):
            stop = min(start + rows, meta.num_images)
            try:
                block = images[start:stop]
            except (OSError, RuntimeError) as exc:
                raise DataError(
                    f"{meta.path}: cannot read 'images' rows {start}..{stop - 1} "
                    f"(corrupt or truncated file: {exc})"
                ) from None
            yield start, _to_uint8(block, start, meta.path)
