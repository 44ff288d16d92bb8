"""Open a Galaxy10-format HDF5 file safely and check its ``images`` header before any read.

Only a regular file is opened read-only; links out of the file, external storage and virtual
datasets are refused; the image side and the decoded size are bounded (see ``data/read.py``).

Usage::

    with open_h5(path) as f:                      # path: the file, a Path
        images = _dataset(f, "images", path)       # refuses links out of the file
        n, size, channels = _check_images(images, path)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

from galaxybench.errors import DataError

MIN_SIZE = 16  # px; smaller images leave nothing to super-resolve
MAX_SIDE_ENV = "GALAXYBENCH_MAX_IMAGE_SIDE"
MAX_SIDE_DEFAULT = 4096  # px; 16x the DECaLS side, one image is then 50 MB
MAX_DECODED_ENV = "GALAXYBENCH_MAX_DECODED_BYTES"
DECODED_MEMORY_FACTOR = 4  # default limit: this x the available memory (see the module doc)


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
