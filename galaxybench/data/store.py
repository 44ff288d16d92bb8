"""File fingerprints (streamed SHA256, cached by path, size and mtime) and the prepared-array cache.

Usage::

    sha = file_sha256("Galaxy10_DECals.h5")        # hashes once; later calls read the cache
    data = load_prepared(key)                       # PreparedData or None (damaged: deleted)
    save_prepared(key, data)                        # temp file + rename: never half-written
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from galaxybench import paths
from galaxybench.data._progress import progress_bar
from galaxybench.data.arrays import SPLITS, PreparedData

log = logging.getLogger(__name__)

_BLOCK = 8 << 20  # bytes per hash update; hashlib releases the GIL on large buffers


# What a damaged .npz raises: truncated or bad CRC (BadZipFile, zlib.error), empty (EOFError),
# a missing or mis-shaped member (KeyError, ValueError), an unreadable file (OSError).
_DAMAGED = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def _index_path() -> Path:
    return paths.home() / "fingerprints.json"


def _atomic_write_text(path: Path, text: str) -> None:
    paths.ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_index() -> dict[str, Any]:
    try:
        return json.loads(_index_path().read_text())
    except (OSError, ValueError):
        return {}  # missing or damaged index: recompute, never fail on a cache


def _stat_key(path: Path) -> tuple[str, dict[str, int]]:
    st = path.stat()
    return str(path.resolve()), {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cached_sha256(path: str | Path) -> str | None:
    """The cached SHA256 of a file when its path, size and mtime are unchanged, else None."""
    key, stat = _stat_key(Path(path))
    entry = _read_index().get(key)
    if entry and all(entry.get(k) == v for k, v in stat.items()):
        return str(entry["sha256"])
    return None


def file_sha256(path: str | Path, *, progress: bool = False) -> str:
    """Hex SHA256 of a file's bytes, streamed; cached in ``paths.home()/fingerprints.json``."""
    path = Path(path)
    hit = cached_sha256(path)
    if hit:
        return hit
    key, stat = _stat_key(path)
    digest = hashlib.sha256()
    with (
        progress_bar(stat["size"], f"sha256 {path.name}", enabled=progress, unit="bytes") as adv,
        path.open("rb") as src,
    ):
        while block := src.read(_BLOCK):
            digest.update(block)
            adv(len(block))
    sha = digest.hexdigest()
    index_path = _index_path()
    paths.ensure_dir(index_path.parent)
    with FileLock(str(index_path) + ".lock"):
        index = _read_index()
        index[key] = {**stat, "sha256": sha}
        _atomic_write_text(index_path, json.dumps(index, indent=1, sort_keys=True))
    return sha


def prepared_path(key: str) -> Path:
    """Where the prepared arrays with fingerprint ``key`` live."""
    return paths.prepared_dir() / f"{key}.npz"


def prepared_lock(key: str) -> FileLock:
    """A lock so that concurrent processes prepare one file once."""
    paths.ensure_dir(paths.prepared_dir())
    return FileLock(str(prepared_path(key)) + ".lock")


def save_prepared(key: str, data: PreparedData) -> Path:
    """Write ``data`` to the cache atomically (temp file in the same folder, then rename)."""
    dest = prepared_path(key)
    paths.ensure_dir(dest.parent)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{key}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(
                out,
                lr=data.lr,
                hr=data.hr,
                labels=data.labels,
                class_names=np.array(data.class_names, dtype=str),
                meta=np.array(
                    json.dumps(
                        {"fingerprint": data.fingerprint, "source": data.source, "info": data.info}
                    )
                ),
                **{f"split_{s}": data.splits[s] for s in SPLITS},
            )
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _check_consistent(data: PreparedData) -> None:
    """ValueError unless the arrays agree with each other (a damaged entry can still unzip)."""
    n = len(data.labels)
    if len(data.lr) != n or len(data.hr) != n or data.lr.ndim != 4 or data.hr.ndim != 4:
        raise ValueError("array lengths disagree")
    if n and (data.labels.min() < 0 or data.labels.max() >= len(data.class_names)):
        raise ValueError("labels out of range")
    for s in SPLITS:
        idx = data.splits[s]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"split {s} out of range")


def load_prepared(key: str) -> PreparedData | None:
    """The cached PreparedData for ``key``, or None (absent, or damaged: then deleted).

    Call it under :func:`prepared_lock` ``(key)``: a damaged entry (truncated, bad CRC, empty,
    inconsistent) is deleted with one log line, so the caller rebuilds it instead of failing on
    every later run.
    """
    path = prepared_path(key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            data = PreparedData(
                lr=z["lr"],
                hr=z["hr"],
                labels=z["labels"],
                class_names=tuple(str(c) for c in z["class_names"]),
                splits={s: z[f"split_{s}"] for s in SPLITS},
                fingerprint=meta["fingerprint"],
                source=meta["source"],
                info=meta["info"],
            )
        _check_consistent(data)
        return data
    except _DAMAGED as exc:
        log.warning(
            "deleted damaged prepared cache %s (%s: %s); rebuilding", path, type(exc).__name__, exc
        )
        path.unlink(missing_ok=True)
        return None
