"""Where galaxybench keeps downloads, the embedded dataset and caches.

Usage: ``galaxybench.paths.home() / "data"``.
``$GALAXYBENCH_HOME`` overrides ``~/.cache/galaxybench``.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The galaxybench home directory (``$GALAXYBENCH_HOME`` or ``~/.cache/galaxybench``)."""
    env = os.environ.get("GALAXYBENCH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "galaxybench"


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
