"""File helpers every layer shares: atomic writes and SHA256 of files.

Atomic writes go through ``mkstemp`` in the target directory, so a reader sees the old file or the
new one, never half of one, and a fixed temporary name can never be a symlink planted on shared
storage (``mkstemp`` opens with ``O_CREAT | O_EXCL``).

Usage::

    atomic_write_text(path, text)
    atomic_write(path, lambda f: np.save(f, array))       # any writer of a binary file object
    sha256_file(path)                                      # hex digest, streamed in 4 MiB blocks
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_BLOCK = 4 << 20


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any], *, mode: int = 0o644) -> Path:
    """Write ``path`` by calling ``write(file)`` on a temp file in the same directory, then rename.

    The temp file is removed when ``write`` raises (disk full included); ``path`` is untouched then.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def temp_path_beside(path: str | Path) -> Path:
    """A new, empty temp file next to ``path`` (created with O_EXCL by ``mkstemp``), for writers
    that need a file name rather than a file object (h5py); rename it over ``path`` when done."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_json(
    path: str | Path, obj: Any, *, default: Callable[[Any], Any] | None = None
) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=default) + "\n"
    return atomic_write_text(path, text)


def sha256_file(path: str | Path, *, progress: Callable[[int], Any] | None = None) -> str:
    """Hex SHA256 of a file, read in 4 MiB blocks; ``progress(nbytes)`` after each block."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()
