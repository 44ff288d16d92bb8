"""Raw Galaxy10 arrays for a notebook, the way astroNN's ``load_galaxy10`` hands them out.

No resizing, deduplication or splitting: the file's own images (validated, as uint8) and labels,
plus what the file says about itself. Use ``load_data`` for the benchmark's prepared arrays.

Usage::

    images, labels, meta = load_galaxy10("galaxy10-decals")   # (N, H, W, 3) uint8, (N,) int64
    meta["class_names"][labels[0]], meta["ra"][0]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from galaxybench.data.galaxy10 import resolve_data
from galaxybench.data.read import iter_chunks, read_meta, rows_per_chunk


def load_galaxy10(
    path_or_name: str | Path | None = None, *, remap_labels: str | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Images, labels and metadata of a Galaxy10-format file, in file order.

    Args:
        path_or_name: a file, ``galaxy10-decals``/``galaxy10-sdss`` (downloaded), ``embedded``,
            or None (a downloaded file if present, else the embedded synthetic set).
        remap_labels: as ``data.remap_labels`` (``auto`` or ``2,5,8``) for subsets of classes.

    Returns:
        ``images`` (N, H, W, 3) uint8 (greyscale files are replicated to 3 channels),
        ``labels`` (N,) int64 in 0..K-1, and ``meta``: path, source, class_names, ra, dec
        (None when absent) and the file's keys. The whole file is held in memory: 3.5 GB for
        Galaxy10 DECaLS.

    Raises:
        DataError: one line naming the file and the problem.
    """
    path, source = resolve_data(None if path_or_name is None else str(path_or_name))
    meta = read_meta(path, remap_labels)
    size = meta.native_size
    images = np.empty((meta.num_images, size, size, 3), dtype=np.uint8)
    for start, block in iter_chunks(meta, rows_per_chunk(meta)):
        if block.ndim == 3:  # greyscale: replicate the channel
            block = np.repeat(block[..., None], 3, axis=-1)
        images[start : start + len(block)] = block
    info = {
        "path": str(meta.path),
        "source": source,
        "class_names": list(meta.class_names),
        "ra": meta.ra,
        "dec": meta.dec,
        "keys": list(meta.keys),
    }
    return images, np.asarray(meta.labels, dtype=np.int64), info
