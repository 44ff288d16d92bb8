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

Usage::

    meta = read_meta("Galaxy10_DECals.h5")          # validated labels, names, coordinates
    meta = read_meta("subset.h5", remap="2,5,8")     # labels 2, 5, 8 -> 0, 1, 2
    for start, chunk in iter_chunks(meta, rows=256):  # (m, H, W, 3) uint8, in file order
        ...
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from galaxybench.data.classes import DECALS_CLASS_NAMES, SDSS_CLASS_NAMES
from galaxybench.errors import DataError

MIN_SIZE = 16  # px; smaller images leave nothing to super-resolve
DECALS_SIZE = 256  # Galaxy10 DECaLS native side
SDSS_SIZE = 69  # Galaxy10 (SDSS) native side
MAX_SIDE_ENV = "GALAXYBENCH_MAX_IMAGE_SIDE"
MAX_SIDE_DEFAULT = 4096  # px; 16x the DECaLS side, one image is then 50 MB
MAX_DECODED_ENV = "GALAXYBENCH_MAX_DECODED_BYTES"
DECODED_MEMORY_FACTOR = 4  # default limit: this x the available memory (see the module doc)
REMAP_LABEL_MAX = 2**31  # remapped source labels must be below this (any real label id is)


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


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw)) if "e" in raw.lower() else int(raw)
    except ValueError:
        raise DataError(f"${name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise DataError(f"${name} must be positive, got {raw!r}")
    return value


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable, else free pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30  # unknown platform: assume a modest machine


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def _kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


@contextmanager
def open_h5(path: str | Path) -> Iterator[h5py.File]:
    """Open a regular HDF5 file read-only; DataError if missing, not a regular file, not HDF5 or
    truncated. The file type comes from ``stat``: a FIFO or device is never opened.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: is {_kind_of(mode)}, not a Galaxy10-format HDF5 file")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        text = str(exc)
        kind = (
            "truncated HDF5 file"
            if "truncated" in text
            else f"cannot read ({exc.strerror})"
            if exc.strerror
            else "not an HDF5 file"
        )
        raise DataError(f"{path}: {kind}") from None
    try:
        yield handle
    finally:
        handle.close()


def _resolve_link(f: h5py.File, key: str, path: Path) -> str:
    """The in-file path ``key`` names, following soft links; DataError for an external link."""
    name = key
    for _ in range(16):  # a soft-link chain longer than this is a loop
        link = f.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise DataError(
                f"{path}: {key!r} is an external link to {link.filename}:{link.path}; "
                "galaxybench reads only data stored in the file itself"
            )
        if isinstance(link, h5py.SoftLink):
            name = link.path
            continue
        return name
    raise DataError(f"{path}: {key!r} is a loop of soft links")


def _dataset(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    """The dataset ``key``, refusing links out of the file, external storage and virtual data."""
    names = set(f)  # link names only: `key in f` would open the target of an external link
    if key not in names:
        present = ", ".join(sorted(names)) or "nothing"
        raise DataError(f"{path}: missing dataset {key!r} (the file has: {present})")
    target = _resolve_link(f, key, path)
    parts = [p for p in target.split("/") if p]
    for j in range(1, len(parts)):  # a soft link may point below an external link
        _resolve_link(f, "/" + "/".join(parts[:j]), path)
    if f.get(target, getlink=True) is None:
        raise DataError(f"{path}: {key!r} is a dangling soft link")
    node = f[target]
    if not isinstance(node, h5py.Dataset):
        raise DataError(f"{path}: {key!r} is a group, not a dataset")
    if node.external:
        raise DataError(
            f"{path}: {key!r} keeps its data in external files; galaxybench reads "
            "only data stored in the file itself"
        )
    if node.is_virtual:
        raise DataError(
            f"{path}: {key!r} is a virtual dataset; galaxybench reads only data "
            "stored in the file itself"
        )
    return node


def _check_images(images: h5py.Dataset, path: Path) -> tuple[int, int, int]:
    """(N, native size, channels) of a valid ``images`` dataset whose decoded size is bounded."""
    shape = images.shape
    if shape is None or len(shape) not in (3, 4):
        raise DataError(
            f"{path}: 'images' has {len(shape or ())} dimensions {shape}; "
            "expected (N, H, W, 3) or greyscale (N, H, W)"
        )
    if len(shape) == 4 and shape[3] != 3:
        raise DataError(f"{path}: 'images' has {shape[3]} channels; expected 3 (or greyscale)")
    if images.dtype.kind not in "uif" or images.dtype.itemsize > 8:
        raise DataError(f"{path}: 'images' has dtype {images.dtype}; expected uint8 pixels")
    n, h, w = shape[:3]
    if n == 0:
        raise DataError(f"{path}: no images ('images' has 0 rows)")
    if h != w:
        raise DataError(f"{path}: images are {h}x{w} px; expected square images")
    if h < MIN_SIZE:
        raise DataError(f"{path}: images are {h}x{w} px, too small (at least {MIN_SIZE} px)")
    max_side = _env_int(MAX_SIDE_ENV, MAX_SIDE_DEFAULT)
    if h > max_side:
        raise DataError(
            f"{path}: images are {h}x{w} px, larger than the {max_side} px limit; "
            f"set ${MAX_SIDE_ENV} to read them anyway"
        )
    channels = 3 if len(shape) == 4 else 1
    # Python ints: a header claiming 2e9 rows must not overflow (or allocate) anything.
    decoded = int(n) * int(h) * int(w) * channels * images.dtype.itemsize
    limit = _env_int(MAX_DECODED_ENV, 0)
    if limit == 0:
        avail = available_memory()
        limit = DECODED_MEMORY_FACTOR * avail
        why = f"{DECODED_MEMORY_FACTOR} x the {_gb(avail)} of available memory"
    else:
        why = f"${MAX_DECODED_ENV}={limit}"
    if decoded > limit:
        raise DataError(
            f"{path}: 'images' {tuple(shape)} {images.dtype} decodes to "
            f"{_gb(decoded)}, more than {why}; set ${MAX_DECODED_ENV} (bytes) "
            "to read it anyway"
        )
    return int(n), int(h), channels


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
