"""Where galaxybench keeps downloads, the embedded dataset and caches.

Usage: ``galaxybench.paths.home() / "data"``.
``$GALAXYBENCH_HOME`` overrides ``~/.cache/galaxybench``.
"""

from __future__ import annotations

import os
from pathlib import Path

from galaxybench.errors import InputError


def home() -> Path:
    """The galaxybench home directory (``$GALAXYBENCH_HOME`` or ``~/.cache/galaxybench``)."""
    env = os.environ.get("GALAXYBENCH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "galaxybench"


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and check it is writable; InputError in one line if not.

    Catches an unwritable or read-only ``$GALAXYBENCH_HOME`` before any work is done.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create {path} ({exc.strerror or exc}); set GALAXYBENCH_HOME "
            "(or the destination) to a writable folder"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(
            f"{path} is not writable; set GALAXYBENCH_HOME (or the destination) "
            "to a writable folder"
        )
    return path


def data_dir() -> Path:
    """Default destination of ``galaxybench data download``."""
    return home() / "data"


def embedded_dir() -> Path:
    """Where the embedded synthetic dataset is generated once and kept."""
    return home() / "embedded"


def prepared_dir() -> Path:
    """On-disk cache of prepared (resized, deduplicated, split) arrays, keyed by fingerprint."""
    return home() / "prepared"


def stage_cache_dir() -> Path:
    """Default stage cache for ``galaxybench run`` (a sweep keeps its own in the experiment dir)."""
    return home() / "stage_cache"
