"""Convert the pixels of a Galaxy10-format file to uint8 0..255, refusing what would be a guess.

Whole-number pixels 0..255 of any numeric dtype convert exactly; floats scaled to 0..1, fractional,
non-finite or out-of-range values are one DataError naming the file and row.

Usage::

    check_pixel_scale(images, path)               # at the door, from the first rows
    block = _to_uint8(images[0:256], 0, path)     # (m, H, W[, 3]) uint8
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from galaxybench.errors import DataError

# Pixels are read as 8-bit values 0..255 and never rescaled: a file of floats in 0..1 (or any
# fractional values) is refused rather than guessed at (docs/protocol.md, "Pixel values").
PIXEL_RULE = "docs/protocol.md, 'Pixel values'"
SCALE_SAMPLE_ROWS = 16  # rows read at the door to spot floats in 0..1 before anything runs


def _unit_scale_error(dtype: np.dtype, where: str, path: Path) -> DataError:
    return DataError(
        f"{path}: 'images' holds {dtype} pixels scaled to 0..1 ({where}); galaxybench reads 8-bit "
        "pixels 0..255 and does not guess a scale: store np.rint(images * 255).astype(np.uint8) "
        f"instead ({PIXEL_RULE})"
    )


def _fractional_error(block: np.ndarray, start: int, path: Path) -> DataError:
    """The one-line refusal for float pixels that are not whole numbers."""
    bad = (block != np.rint(block)).reshape(len(block), -1).any(1)
    row = start + int(np.flatnonzero(bad)[0])
    if float(block.max()) <= 1.0:
        return _unit_scale_error(block.dtype, f"row {row}", path)
    return DataError(
        f"{path}: 'images' holds {block.dtype} pixels with fractional values (row {row}); "
        f"galaxybench reads whole-number pixels 0..255: round them and store uint8 ({PIXEL_RULE})"
    )


def check_pixel_scale(images: h5py.Dataset, path: Path) -> None:
    """Refuse float pixels scaled to 0..1 at the door, from the first rows (cheap enough for
    ``data info``). Whole-number floats 0..255 pass; every row is checked again when read."""
    if images.dtype.kind != "f":
        return
    k = min(SCALE_SAMPLE_ROWS, images.shape[0])
    block = images[:k]
    if not np.isfinite(block).all():
        return  # the full read names the row with non-finite pixels
    if (block != np.rint(block)).any():
        raise _fractional_error(block, 0, path)
    if 0.0 < float(block.max()) <= 1.0:  # whole numbers, but only 0 and 1: a 0..1 image
        raise _unit_scale_error(images.dtype, f"rows 0..{k - 1} hold only 0 and 1", path)


def _to_uint8(block: np.ndarray, start: int, path: Path) -> np.ndarray:
    """Pixels as uint8 (N, H, W[, 3]); DataError for non-finite, out-of-range or fractional values.

    Whole-number floats and wider integers in 0..255 convert exactly; nothing is rescaled.
    """
    if block.dtype == np.uint8:
        return block
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        row = start + int(np.flatnonzero(~np.isfinite(block).reshape(len(block), -1).all(1))[0])
        raise DataError(f"{path}: non-finite pixels in 'images' (row {row})")
    low, high = block.min(), block.max()
    if low < 0 or high > 255:
        raise DataError(
            f"{path}: pixel values outside 0..255 in 'images' "
            f"(rows {start}..{start + len(block) - 1}: {low:g}..{high:g})"
        )
    if block.dtype.kind == "f" and (block != np.rint(block)).any():
        raise _fractional_error(block, start, path)
    return block.astype(np.uint8)
