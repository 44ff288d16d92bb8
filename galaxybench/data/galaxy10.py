"""Which Galaxy10 data to use, loading it prepared, and the facts ``galaxybench data info`` shows.

Usage::

    path, what = resolve_data(None)        # downloaded DECaLS, else SDSS, else the embedded set
    data = load_data("galaxy10-decals", cfg.data)
    facts = inspect("Galaxy10_DECals.h5")   # shape, classes, duplicates, minority set, sha256
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from galaxybench import paths
from galaxybench.config import MINORITY_FRACTION, DataConfig
from galaxybench.data.arrays import PreparedData
from galaxybench.data.read import iter_chunks, read_meta, rows_per_chunk
from galaxybench.errors import DataError
from galaxybench.protocol import minority_classes

# Names accepted wherever a data path is: name -> (file name in paths.data_dir(), description).
DOWNLOADED = {
    "galaxy10-decals": ("Galaxy10_DECals.h5", "Galaxy10 DECaLS"),
    "galaxy10-sdss": ("Galaxy10.h5", "Galaxy10 (SDSS)"),
}
EMBEDDED = "embedded"


def _embedded() -> tuple[Path, str]:
    from galaxybench.data import synthetic  # generated lazily: most runs use a cached copy

    path = Path(synthetic.ensure_embedded())
    return path, f"embedded synthetic Galaxy10 ({path})"


def resolve_data(name_or_path: str | None) -> tuple[Path, str]:
    """The file to use and a sentence saying which it is.

    Args:
        name_or_path: a path; "galaxy10-decals" or "galaxy10-sdss" (downloaded into
            ``paths.data_dir()``); "embedded"; or None: the downloaded DECaLS file if present,
            else the SDSS file if present, else the embedded synthetic set (generated once).

    Raises:
        DataError: a name not downloaded yet, or a path that does not exist.
    """
    if name_or_path is None:
        for name, (filename, label) in DOWNLOADED.items():
            path = paths.data_dir() / filename
            if path.is_file():
                return path, f"downloaded {label} ({path}; {name})"
        return _embedded()
    if name_or_path == EMBEDDED:
        return _embedded()
    if name_or_path in DOWNLOADED:
        filename, label = DOWNLOADED[name_or_path]
        path = paths.data_dir() / filename
        if not path.is_file():
            raise DataError(
                f"{label} is not downloaded ({path} missing); run "
                f"`galaxybench data download {name_or_path}`"
            )
        return path, f"downloaded {label} ({path})"
    path = Path(name_or_path).expanduser()
    if not path.exists():
        known = ", ".join([*DOWNLOADED, EMBEDDED])
        raise DataError(f"{path}: no such file (or a data name: {known})")
    return path, f"Galaxy10-format file {path}"


def load_data(
    name_or_path: str | None = None, data_cfg: DataConfig | None = None, *, progress: bool = False
) -> PreparedData:
    """Resolve, then :func:`~galaxybench.data.preparation.prepare`; ``source`` says which data."""
    from galaxybench.data.preparation import prepare

    path, what = resolve_data(name_or_path)
    data = prepare(path, data_cfg or DataConfig(), progress=progress)
    return dataclasses.replace(data, source=what)


def _scan_pixels(meta: Any) -> None:
    """Read every pixel once (only for non-uint8 files, whose values may be invalid)."""
    for _ in iter_chunks(meta, rows_per_chunk(meta)):
        pass


def inspect(
    path: str | Path,
    *,
    minority_fraction: float = MINORITY_FRACTION,
    remap_labels: str = "",
    progress: bool = False,
) -> dict[str, Any]:
    """Facts about a Galaxy10-format file for ``galaxybench data info`` (JSON-serializable).

    Keys: path, shape, native_size, channels, dtype, keys, num_images, num_classes, classes
    (id, name, count), imbalance_ratio (largest / smallest class count), duplicates (groups,
    conflicting, dropped, tolerance_arcsec; None without coordinates), minority_fraction,
    minority_classes (names), fingerprint (the file's SHA256; the reader refuses external links,
    external storage and virtual datasets, so those bytes are all it reads), remap (source label
    -> label as strings, or None; with ``remap_labels`` as in ``data.remap_labels``).

    Raises:
        DataError: the file is not a valid Galaxy10-format file.
    """
    meta = read_meta(path, remap_labels)  # first: a bad file is refused before torch is imported

    from galaxybench.data.preparation import DEDUPE_TOLERANCE_ARCSEC, dedupe
    from galaxybench.data.store import file_sha256

    if meta.dtype != "uint8":
        _scan_pixels(meta)
    counts = meta.counts()
    dup = dedupe(meta.ra, meta.dec, meta.labels)
    shape = [meta.num_images, meta.native_size, meta.native_size]
    return {
        "path": str(meta.path),
        "shape": shape + ([3] if meta.channels == 3 else []),
        "native_size": meta.native_size,
        "channels": meta.channels,
        "dtype": meta.dtype,
        "keys": list(meta.keys),
        "num_images": meta.num_images,
        "num_classes": meta.num_classes,
        "classes": [
            {"id": k, "name": name, "count": int(counts[k])}
            for k, name in enumerate(meta.class_names)
        ],
        "imbalance_ratio": float(counts.max() / counts.min()) if counts.min() > 0 else None,
        "duplicates": None
        if meta.ra is None
        else {
            "groups": dup.groups,
            "conflicting": dup.conflicting,
            "dropped": dup.dropped,
            "tolerance_arcsec": DEDUPE_TOLERANCE_ARCSEC,
        },
        "minority_fraction": minority_fraction,
        "minority_classes": [
            meta.class_names[k] for k in minority_classes(counts, minority_fraction)
        ],
        "fingerprint": file_sha256(meta.path, progress=progress),
        "remap": None if meta.remap is None else {str(k): v for k, v in meta.remap.items()},
    }
