"""Where galaxybench keeps downloads, the embedded dataset and caches, experiments and reports.

Usage: ``galaxybench.paths.home() / "data"``; ``paths.experiments_dir()``, ``paths.reports_dir()``.
``$GALAXYBENCH_HOME`` overrides ``~/.cache/galaxybench``.

Experiments and reports go to ``experiments/`` and ``reports/`` in the project folder, found
upward from the current folder as git finds a repository (``project_dir``), so a notebook in
``nb/`` and a terminal one folder up share them. ``$GALAXYBENCH_PROJECT`` names the folder.
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


def _is_project(folder: Path) -> bool:
    """A folder holding a project (.git, pyproject.toml) or galaxybench's own results."""
    if (folder / ".git").exists() or (folder / "pyproject.toml").is_file():
        return True
    if (folder / "reports" / "index.html").is_file():
        return True
    experiments = folder / "experiments"
    return experiments.is_dir() and any(experiments.glob("*/sweep.yaml"))


def project_dir() -> Path:
    """Where ``experiments/`` and ``reports/`` go by default.

    ``$GALAXYBENCH_PROJECT`` if set; else the nearest folder from the current one upward, below the
    home folder, that holds ``.git``, ``pyproject.toml``, a ``reports/index.html`` or an
    ``experiments/`` with a sweep in it; else the current folder. Relative to the current folder
    when it is the current folder (messages then read ``reports``, not a long absolute path).
    """
    env = os.environ.get("GALAXYBENCH_PROJECT")
    if env:
        return Path(env).expanduser()
    cwd = Path.cwd()
    stop = {Path.home(), Path(cwd.anchor)}
    for folder in (cwd, *cwd.parents):
        if folder in stop:
            break
        if _is_project(folder):
            return Path(".") if folder == cwd else folder
    return Path(".")


def experiments_dir() -> Path:
    """Default ``--storage`` of a sweep: ``<project>/experiments``."""
    return project_dir() / "experiments"


def reports_dir() -> Path:
    """Default folder of published reports (sweep, report, publish, leaderboard)."""
    return project_dir() / "reports"


def stage_cache_dir() -> Path:
    """Default stage cache for ``galaxybench run`` (a sweep keeps its own in the experiment dir)."""
    return home() / "stage_cache"
