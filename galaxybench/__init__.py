"""galaxybench: does generative augmentation help classify galaxy morphologies, and when?

Usage::

    import galaxybench as gb
    data = gb.load_data()                      # downloaded Galaxy10 if present, else embedded
    result = gb.evaluate_trial(gb.load_profile("smoke"), data)
    result.metrics["minority_f1"]
    images, labels, meta = gb.load_galaxy10("galaxy10-decals")   # raw arrays, as astroNN's loader
    sweep = gb.sweep("smoke", name="demo")      # a whole sweep on Ray; sweep.leaderboard

Ray is imported only by ``galaxybench.sweep.ray_backend``; ``import galaxybench`` needs neither
Ray nor a GPU.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names are imported lazily so ``import galaxybench`` stays cheap (no torch import).
_LAZY = {
    "Config": "galaxybench.config",
    "load_profile": "galaxybench.config",
    "TrialResult": "galaxybench.results",
    "evaluate_trial": "galaxybench.trial",
    "load_data": "galaxybench.data",
    "prepare": "galaxybench.data",
    "load_galaxy10": "galaxybench.data.raw",
    "SweepResult": "galaxybench.api",
}

if TYPE_CHECKING:  # pragma: no cover
    from galaxybench.config import Config, load_profile
    from galaxybench.data import load_data, prepare
    from galaxybench.results import TrialResult
    from galaxybench.trial import evaluate_trial


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'galaxybench' has no attribute {name!r}")


__all__ = [
    "Config",
    "SweepResult",
    "TrialResult",
    "__version__",
    "evaluate_trial",
    "load_data",
    "load_galaxy10",
    "load_profile",
    "prepare",
    "sweep",
]


class _SweepPackage(types.ModuleType):
    """``galaxybench.sweep`` is both the sweep package and the ``sweep(...)`` notebook call.

    Python binds a subpackage as an attribute of its parent on import, so a function named
    ``galaxybench.sweep`` would be replaced by the package the first time anything imported
    ``galaxybench.sweep.plan``. Making the package callable keeps one name for both; the call is
    ``galaxybench.api.run_sweep``, which sits above the sweep and the report.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from galaxybench.api import run_sweep

        return run_sweep(*args, **kwargs)


# The parent package runs before any of its submodules, so this holds however the sweep is
# reached. The sweep package imports neither torch nor Ray.
sweep = importlib.import_module("galaxybench.sweep")
sweep.__class__ = _SweepPackage
