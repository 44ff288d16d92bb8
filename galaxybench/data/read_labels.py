"""Validate the labels of a Galaxy10-format file, name its classes and apply a label remap.

Labels are checked on their stored dtype before any cast; gaps (a class with no image) are refused
unless a remap (``auto`` or ``2,5,8``) maps the labels present to 0..K-1 (see ``data/read.py``).

Usage::

    spec = parse_remap("2,5,8")                       # [2, 5, 8]
    labels, names, mapping = _apply_labels(_read_labels(ans, n, path, True), None, 256, spec, path)
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from galaxybench.data.classes import DECALS_CLASS_NAMES, SDSS_CLASS_NAMES
from galaxybench.errors import DataError

DECALS_SIZE = 256  # Galaxy10 DECaLS native side
SDSS_SIZE = 69  # Galaxy10 (SDSS) native side
REMAP_LABEL_MAX = 2**31  # remapped source labels must be below this (any real label id is)


def parse_remap(spec: str) -> list[int] | str | None:
    """``""`` -> None, ``"auto"`` -> "auto", ``"2,5,8"`` -> [2, 5, 8].

    Raises:
        DataError: anything else (negative, repeated or non-integer labels, fewer than two).
    """
    spec = (spec or "").strip()
    if not spec:
        return None
    if spec == "auto":
        return "auto"
    parts = [p.strip() for p in spec.split(",")]
    if not all(p.isdigit() for p in parts):
        raise DataError(f"remap labels must be 'auto' or distinct labels like 2,5,8; got {spec!r}")
    labels = [int(p) for p in parts]
    if len(set(labels)) != len(labels) or len(labels) < 2:
        raise DataError(f"remap labels must be at least two distinct labels, got {spec!r}")
    if max(labels) >= REMAP_LABEL_MAX:
        raise DataError(f"remap label {max(labels)} is out of range (below {REMAP_LABEL_MAX})")
    return labels


def _ranges(values: list[int], limit: int = 8) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"; long lists end with "... (n in all)"."""
    spans: list[str] = []
    start = prev = None
    for v in [*values, None]:
        if start is not None and (v is None or v != prev + 1):
            spans.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if v is not None and start is None:
            start = v
        prev = v
    text = ", ".join(spans[:limit])
    return text + (f", ... ({len(values)} in all)" if len(spans) > limit else "")


def _read_labels(ans: h5py.Dataset, n: int, path: Path, remapping: bool) -> np.ndarray:
    """(N,) int64 source labels: integers, >= 0, and < N (or < 2**31 when remapping).

    Every check runs on the stored dtype before any cast, so 2**40, 1e300 or 2**63 + 5 is a
    one-line error and never an allocation, an overflow or a wrapped value.
    """
    if ans.shape is None or len(ans.shape) != 1 or ans.shape[0] != n:
        raise DataError(
            f"{path}: length mismatch: 'images' has {n} rows but 'ans' has shape {ans.shape}"
        )
    if ans.dtype.kind not in "uif" or ans.dtype.itemsize > 8:
        raise DataError(f"{path}: 'ans' has dtype {ans.dtype}; expected integer labels")
    try:
        raw = ans[()]
    except (OSError, RuntimeError) as exc:
        raise DataError(f"{path}: cannot read 'ans' (corrupt or truncated file: {exc})") from None
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all():
            raise DataError(f"{path}: non-finite labels in 'ans'")
        bad = raw[raw != np.round(raw)]
        if bad.size:
            raise DataError(f"{path}: non-integer labels in 'ans' (e.g. {bad[0]:g})")
    low, high = raw.min(), raw.max()  # numpy compares mixed int/uint/float scalars exactly
    if low < 0:
        raise DataError(f"{path}: negative labels in 'ans' (min {low:g})")
    bound = REMAP_LABEL_MAX if remapping else n
    if high >= bound:
        what = (
            f"below {REMAP_LABEL_MAX}"
            if remapping
            else f"0..{n - 1}: a file of {n} images holds at most {n} classes"
        )
        hint = "" if remapping else "; for a subset of another label set pass --remap-labels auto"
        raise DataError(
            f"{path}: labels out of range in 'ans' (max {high:.15g}; expected {what}){hint}"
        )
    return raw.astype(np.int64)


def _stored_class_names(f: h5py.File, ans: h5py.Dataset, path: Path) -> tuple[str, ...] | None:
    for attrs in (f.attrs, ans.attrs):
        if "class_names" in attrs:
            names = np.atleast_1d(attrs["class_names"])
            if names.ndim != 1 or names.dtype.kind not in "SUO":
                raise DataError(f"{path}: the 'class_names' attribute must be a list of strings")
            return tuple(
                v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in names
            )
    return None


def _source_names(
    stored: tuple[str, ...] | None, top: int, size: int, path: Path, remapping: bool
) -> tuple[str, ...]:
    """Names of source labels 0..top: declared, else Galaxy10's for 10 classes, else class_i."""
    if stored is not None:
        if len(set(stored)) != len(stored):
            raise DataError(f"{path}: duplicate names in the 'class_names' attribute")
        if top >= len(stored):
            raise DataError(
                f"{path}: labels out of range 0..{len(stored) - 1} in 'ans' (max "
                f"{top}; the 'class_names' attribute names {len(stored)} classes)"
            )
        return stored
    known = {DECALS_SIZE: DECALS_CLASS_NAMES, SDSS_SIZE: SDSS_CLASS_NAMES}.get(size)
    # Galaxy10's names only for a 10-class file at its native size; a subset (remapped) file
    # could be any catalogue, so its classes keep their source ids (class_2, class_5, ...).
    if known is not None and top + 1 == len(known) and not remapping:
        return known
    return tuple(f"class_{i}" for i in range(top + 1))


def _apply_labels(
    source: np.ndarray,
    stored: tuple[str, ...] | None,
    size: int,
    remap: list[int] | str | None,
    path: Path,
) -> tuple[np.ndarray, tuple[str, ...], dict[int, int] | None]:
    """Labels 0..K-1 with every class present, class names and the remap applied (if any)."""
    present = np.unique(source)  # sorts: no allocation sized by the label values
    top = int(present[-1])
    names = _source_names(stored, top, size, path, remap is not None)
    if remap is None:
        k = len(names)
        missing = np.setdiff1d(np.arange(k), present)
        if missing.size:
            raise DataError(
                f"{path}: labels leave gaps: no images of class {_ranges(missing.tolist())} "
                f"(of 0..{k - 1}); relabel the file, or pass --remap-labels auto (config "
                f"data.remap_labels) to map the labels present ({_ranges(present.tolist())}) "
                f"to 0..{present.size - 1}"
            )
        mapping = None
        labels = source
    else:
        order = present.tolist() if remap == "auto" else list(remap)
        extra = np.setdiff1d(present, order)
        if extra.size:
            raise DataError(
                f"{path}: labels {_ranges(extra.tolist())} are not in the remap "
                f"{','.join(map(str, order))}; list every label to keep, or use auto"
            )
        missing = np.setdiff1d(order, present)
        if missing.size:
            raise DataError(
                f"{path}: the remap names labels with no images: {_ranges(missing.tolist())}"
            )
        mapping = {src: i for i, src in enumerate(order)}
        lookup = np.searchsorted(np.asarray(sorted(order)), source)
        new_ids = np.asarray([mapping[s] for s in sorted(order)], dtype=np.int64)
        labels = new_ids[lookup]
        names = tuple(names[src] for src in order)
    if len(names) < 2:
        raise DataError(
            f"{path}: fewer than two classes (labels present: {_ranges(present.tolist())})"
        )
    return labels, names, mapping
