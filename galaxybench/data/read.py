"""Read and validate Galaxy10-format HDF5 files; every bad input is one DataError naming the file.

A Galaxy10-format file has ``images`` (N, H, W, 3) (or greyscale (N, H, W)) with pixel values
0..255, ``ans`` integer labels 0..K-1, and optionally ``ra``, ``dec`` (degrees), ``redshift``,
``pxscale``. Files are only ever opened read-only.

Usage::

    meta = read_meta("Galaxy10_DECals.h5")          # validated labels, names, coordinates
    for start, chunk in iter_chunks(meta, rows=256):  # (m, H, W, 3) uint8, in file order
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from galaxybench.data.classes import DECALS_CLASS_NAMES, SDSS_CLASS_NAMES
from galaxybench.errors import DataError

MIN_SIZE = 16  # px; smaller images leave nothing to super-resolve
DECALS_SIZE = 256  # Galaxy10 DECaLS native side (DESIGN section 5)
SDSS_SIZE = 69  # Galaxy10 (SDSS) native side


@dataclass(frozen=True)
class Galaxy10Meta:
    """Validated facts about a Galaxy10-format file (everything but the pixels).

    Attributes:
        path: the file.
        num_images: N rows.
        native_size: H = W in pixels.
        channels: 3, or 1 for greyscale files (replicated to 3 when read).
        dtype: the pixel dtype stored in the file.
        labels: (N,) int64 in 0..K-1.
        class_names: K names.
        ra, dec: (N,) float64 degrees, or None when the file has no coordinates.
        keys: the datasets present in the file.
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

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> np.ndarray:
        """(K,) images per class in the file (before deduplication)."""
        return np.bincount(self.labels, minlength=self.num_classes)


@contextmanager
def open_h5(path: str | Path) -> Iterator[h5py.File]:
    """Open an HDF5 file read-only; DataError if missing, a directory, not HDF5 or truncated."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a Galaxy10-format HDF5 file")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        kind = "truncated HDF5 file" if "truncated" in str(exc) else "not an HDF5 file"
        raise DataError(f"{path}: {kind}") from None
    try:
        yield handle
    finally:
        handle.close()


def _dataset(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    if key not in f:
        present = ", ".join(sorted(f)) or "nothing"
        raise DataError(f"{path}: missing dataset {key!r} (the file has: {present})")
    node = f[key]
    if not isinstance(node, h5py.Dataset):
        raise DataError(f"{path}: {key!r} is a group, not a dataset")
    return node


def _check_images(images: h5py.Dataset, path: Path) -> tuple[int, int, int]:
    """(N, native size, channels) of a valid ``images`` dataset."""
    shape = images.shape
    if len(shape) not in (3, 4):
        raise DataError(f"{path}: 'images' has {len(shape)} dimensions {shape}; "
                        "expected (N, H, W, 3) or greyscale (N, H, W)")
    if len(shape) == 4 and shape[3] != 3:
        raise DataError(f"{path}: 'images' has {shape[3]} channels; expected 3 (or greyscale)")
    if images.dtype.kind not in "uif":
        raise DataError(f"{path}: 'images' has dtype {images.dtype}; expected uint8 pixels")
    n, h, w = shape[:3]
    if n == 0:
        raise DataError(f"{path}: no images ('images' has 0 rows)")
    if h != w:
        raise DataError(f"{path}: images are {h}x{w} px; expected square images")
    if h < MIN_SIZE:
        raise DataError(f"{path}: images are {h}x{w} px, too small (at least {MIN_SIZE} px)")
    return n, h, 3 if len(shape) == 4 else 1


def _read_labels(ans: h5py.Dataset, n: int, path: Path) -> np.ndarray:
    if ans.ndim != 1 or ans.shape[0] != n:
        raise DataError(f"{path}: length mismatch: 'images' has {n} rows but 'ans' has shape "
                        f"{ans.shape}")
    raw = ans[()]
    if raw.dtype.kind not in "uif":
        raise DataError(f"{path}: 'ans' has dtype {raw.dtype}; expected integer labels")
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all():
            raise DataError(f"{path}: non-finite labels in 'ans'")
        bad = raw[raw != np.round(raw)]
        if bad.size:
            raise DataError(f"{path}: non-integer labels in 'ans' (e.g. {bad[0]:g})")
    if raw.min() < 0:
        raise DataError(f"{path}: negative labels in 'ans' (min {raw.min():g})")
    return raw.astype(np.int64)


def _stored_class_names(f: h5py.File) -> tuple[str, ...] | None:
    for attrs in (f.attrs, f["ans"].attrs):
        if "class_names" in attrs:
            names = np.atleast_1d(attrs["class_names"])
            return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in names)
    return None


def _class_names(f: h5py.File, labels: np.ndarray, size: int, path: Path) -> tuple[str, ...]:
    """The ``class_names`` attribute, else the DECaLS/SDSS names by native size, else class_i."""
    top = int(labels.max())
    names = _stored_class_names(f)
    if names is None:
        known = {DECALS_SIZE: DECALS_CLASS_NAMES, SDSS_SIZE: SDSS_CLASS_NAMES}.get(size)
        names = known if known and top < len(known) else tuple(f"class_{i}" for i in range(top + 1))
    if len(set(names)) != len(names):
        raise DataError(f"{path}: duplicate names in the 'class_names' attribute")
    if top >= len(names):
        raise DataError(f"{path}: labels out of range 0..{len(names) - 1} in 'ans' (max {top})")
    present = np.unique(labels)
    if len(names) < 2 or present.size < 2:
        raise DataError(f"{path}: fewer than two classes (labels present: "
                        f"{', '.join(map(str, present.tolist()))})")
    return names


def _coordinates(f: h5py.File, n: int, path: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    if "ra" not in f and "dec" not in f:
        return None, None
    coords = []
    for key in ("ra", "dec"):
        node = _dataset(f, key, path)
        if node.shape != (n,) or node.dtype.kind not in "uif":
            raise DataError(f"{path}: {key!r} must be {n} numbers (one per image), "
                            f"got shape {node.shape} {node.dtype}")
        coords.append(node[()].astype(np.float64))
    return coords[0], coords[1]


def read_meta(path: str | Path) -> Galaxy10Meta:
    """Validate a Galaxy10-format file's structure and labels (pixels are checked when read).

    Raises:
        DataError: one line naming the file and the problem.
    """
    path = Path(path)
    with open_h5(path) as f:
        images = _dataset(f, "images", path)
        n, size, channels = _check_images(images, path)
        labels = _read_labels(_dataset(f, "ans", path), n, path)
        names = _class_names(f, labels, size, path)
        ra, dec = _coordinates(f, n, path)
        return Galaxy10Meta(path, n, size, channels, str(images.dtype), labels, names, ra, dec,
                            tuple(sorted(f)))


def _to_uint8(block: np.ndarray, start: int, path: Path) -> np.ndarray:
    """Pixels as uint8 (N, H, W[, 3]); DataError for non-finite or out-of-range values."""
    if block.dtype == np.uint8:
        return block
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        row = start + int(np.flatnonzero(~np.isfinite(block).reshape(len(block), -1).all(1))[0])
        raise DataError(f"{path}: non-finite pixels in 'images' (row {row})")
    low, high = block.min(), block.max()
    if low < 0 or high > 255:
        raise DataError(f"{path}: pixel values outside 0..255 in 'images' "
                        f"(rows {start}..{start + len(block) - 1}: {low:g}..{high:g})")
    return np.rint(block).astype(np.uint8) if block.dtype.kind == "f" else block.astype(np.uint8)


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
        images = f["images"]
        for start in range(0, meta.num_images, rows):
            stop = min(start + rows, meta.num_images)
            try:
                block = images[start:stop]
            except (OSError, RuntimeError) as exc:
                raise DataError(f"{meta.path}: cannot read 'images' rows {start}..{stop - 1} "
                                f"(corrupt or truncated file: {exc})") from None
            yield start, _to_uint8(block, start, meta.path)
