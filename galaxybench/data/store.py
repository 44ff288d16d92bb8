"""File fingerprints (streamed SHA256, cached by path, size and mtime) and the prepared-array cache.

Usage::

    sha = file_sha256("Galaxy10_DECals.h5")        # hashes once; later calls read the cache
    data = load_prepared(key)                       # PreparedData or None (damaged: deleted)
    save_prepared(key, data)                        # temp file + rename: never half-written
"""

from __future__ import annotations

import json
import logging
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from galaxybench import paths
from galaxybench.data._progress import progress_bar
from galaxybench.data.arrays import SPLITS, PreparedData
from galaxybench.io import atomic_write, atomic_write_text, sha256_file

log = logging.getLogger(__name__)


# What a damaged .npz raises: truncated or bad CRC (BadZipFile, zlib.error), empty (EOFError),
# a missing or mis-shaped member (KeyError, ValueError), an unreadable file (OSError).
_DAMAGED = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def _index_path() -> Path:
    return paths.home() / "fingerprints.json"


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
    with progress_bar(stat["size"], f"sha256 {path.name}", enabled=progress, unit="bytes") as adv:
        sha = sha256_file(path, progress=adv)
    index_path = _index_path()
    paths.ensure_dir(index_path.parent)
    with FileLock(str(index_path) + ".lock"):
        index = _read_index()
        index[key] = {**stat, "sha256": sha}
        atomic_write_text(index_path, json.dumps(index, indent=1, sort_keys=True))
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
    meta = {"fingerprint": data.fingerprint, "source": data.source, "info": data.info}
    atomic_write(
        dest,
        lambda out: np.savez(
            out,
            lr=data.lr,
            hr=data.hr,
            labels=data.labels,
            class_names=np.array(data.class_names, dtype=str),
            meta=np.array(json.dumps(meta)),
            **{f"split_{s}": data.splits[s] for s in SPLITS},
        ),
    )
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
