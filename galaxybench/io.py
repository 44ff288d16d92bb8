"""File helpers every layer shares: atomic writes and SHA256 of files.

Atomic writes go through ``mkstemp`` in the target directory, so a reader sees the old file or the
new one, never half of one, and a fixed temporary name can never be a symlink planted on shared
storage (``mkstemp`` opens with ``O_CREAT | O_EXCL``). ``mkstemp`` makes a private file (0600);
every file written here gets ``0666 & ~umask`` before the rename, as ``open()`` would give it, so
colleagues read what the user's umask lets them read. JSON is strict: NaN and infinities -> null.

Usage::

    atomic_write_text(path, text)
    atomic_write(path, lambda f: np.save(f, array))       # any writer of a binary file object
    text = strict_json_dumps(obj)                          # NaN / inf -> null, never bare NaN
    sha256_file(path)                                      # hex digest, streamed in 4 MiB blocks
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_BLOCK = 4 << 20
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it for long (``os.umask`` sets as it reads).

    Linux 4.7+ shows it in ``/proc/self/status``; elsewhere it is set and restored under a lock.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` would give a new file: ``0666 & ~umask``."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` would give a new folder: ``0777 & ~umask``."""
    return 0o777 & ~current_umask()


def _target(path: str | Path) -> Path:
    """``path`` with its folder made; a folder at ``path`` itself is refused by its own name.

    Without this check the rename fails naming the temp file, a name the user never gave.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(
    path: str | Path, write: Callable[[IO[bytes]], Any], *, mode: int | None = None
) -> Path:
    """Write ``path`` by calling ``write(file)`` on a temp file in the same directory, then rename.

    The file gets ``mode`` (default ``0666 & ~umask``, as ``open()`` would give it). The temp file
    is removed when ``write`` raises (disk full included); ``path`` is untouched then.
    """
    path = _target(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def temp_path_beside(path: str | Path) -> Path:
    """A new, empty temp file next to ``path`` (created with O_EXCL by ``mkstemp``), for writers
    that need a file name rather than a file object (h5py); rename it over ``path`` when done.

    It has the mode ``open()`` would give (``0666 & ~umask``), not ``mkstemp``'s private 0600, and
    keeps it when a writer such as h5py truncates and rewrites it by name."""
    path = _target(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    return Path(tmp)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_json(
    path: str | Path, obj: Any, *, default: Callable[[Any], Any] | None = None
) -> Path:
    """Write ``obj`` as indented, key-sorted strict JSON to ``path`` atomically (NaN -> null)."""
    text = strict_json_dumps(obj, indent=2, sort_keys=True, default=default) + "\n"
    return atomic_write_text(path, text)


def _finite(obj: Any, default: Callable[[Any], Any] | None) -> Any:
    """``obj`` with every NaN or infinite float (numpy's included) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v, default) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v, default) for v in obj]
    if obj is None or isinstance(obj, (str, int)):
        return obj
    if default is not None:
        try:
            converted = default(obj)
        except TypeError:
            return obj  # json.dumps raises its own TypeError for it
        return _finite(converted, default)
    return obj


def strict_json_dumps(obj: Any, *, default: Callable[[Any], Any] | None = None, **kw: Any) -> str:
    """``json.dumps`` that writes null for NaN and infinities: strict JSON any parser reads.

    ``default`` converts other objects (numpy scalars, ...) first, so their NaN become null too.
    """
    return json.dumps(_finite(obj, default), allow_nan=False, default=default, **kw)


def sha256_file(path: str | Path, *, progress: Callable[[int], Any] | None = None) -> str:
    """Hex SHA256 of a file, read in 4 MiB blocks; ``progress(nbytes)`` after each block."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()
