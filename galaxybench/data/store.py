"""File fingerprints (streamed SHA256, cached by path, size and mtime) and the prepared-array cache.

Usage::

    sha = file_sha256("Galaxy10_DECals.h5")        # hashes once; later calls read the cache
    data = load_prepared(key)                       # PreparedData or None
    save_prepared(key, data)                        # temp file + rename: never half-written
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from galaxybench import paths
from galaxybench.data._progress import progress_bar
from galaxybench.data.prepared import SPLITS, PreparedData

log = logging.getLogger(__name__)

_BLOCK = 8 << 20  # bytes per hash update; hashlib releases the GIL on large buffers


def _index_path() -> Path:
    return paths.home() / "fingerprints.json"


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
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
    with progress_bar(stat["size"], f"sha256 {path.name}", enabled=progress, unit="bytes") as adv, \
            path.open("rb") as src:
        while block := src.read(_BLOCK):
            digest.update(block)
            adv(len(block))
    sha = digest.hexdigest()
    index_path = _index_path()
    index_path.parent.mkdir(parents=True, exist_ok=True)
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
    paths.prepared_dir().mkdir(parents=True, exist_ok=True)
    return FileLock(str(prepared_path(key)) + ".lock")


def save_prepared(key: str, data: PreparedData) -> Path:
    """Write ``data`` to the cache atomically (temp file in the same folder, then rename)."""
    dest = prepared_path(key)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{key}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, lr=data.lr, hr=data.hr, labels=data.labels,
                     class_names=np.array(data.class_names, dtype=str),
                     meta=np.array(json.dumps({"fingerprint": data.fingerprint,
                                               "source": data.source, "info": data.info})),
                     **{f"split_{s}": data.splits[s] for s in SPLITS})
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def load_prepared(key: str) -> PreparedData | None:
    """The cached PreparedData for ``key``, or None (absent or unreadable: prepare again)."""
    path = prepared_path(key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return PreparedData(
                lr=z["lr"], hr=z["hr"], labels=z["labels"],
                class_names=tuple(str(c) for c in z["class_names"]),
                splits={s: z[f"split_{s}"] for s in SPLITS},
                fingerprint=meta["fingerprint"], source=meta["source"], info=meta["info"])
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable prepared cache %s (%s)", path, exc)
        return None
