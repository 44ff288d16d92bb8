"""galaxybench: does generative augmentation help classify galaxy morphologies, and when?

Usage::

    import galaxybench as gb
    data = gb.load_data()                      # downloaded Galaxy10 if present, else embedded
    result = gb.evaluate_trial(gb.load_profile("smoke"), data)
    result.metrics["minority_f1"]
    images, labels, meta = gb.load_galaxy10("galaxy10-decals")   # raw arrays, as astroNN's loader
    sweep = gb.sweep("smoke", name="demo")      # a whole sweep on Ray; sweep.leaderboard

Ray is imported only by the ``galaxybench.sweep.ray_backend`` package; ``import galaxybench``
needs neither Ray nor a GPU, and imports none of its subpackages until a name is used.
"""

from __future__ import annotations

import importlib
import sys
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


class _Galaxybench(types.ModuleType):
    """This package: its ``sweep`` attribute is the sweep package, imported on first use and made
    callable however it is reached (``gb.sweep``, ``import galaxybench.sweep.plan``), since the
    import system binds a subpackage to its parent through this setter."""

    @property
    def sweep(self) -> Any:
        if "_sweep" not in self.__dict__:
            importlib.import_module("galaxybench.sweep")  # binds itself through the setter
        return self.__dict__["_sweep"]

    @sweep.setter
    def sweep(self, module: types.ModuleType) -> None:
        module.__class__ = _SweepPackage
        self.__dict__["_sweep"] = module


# Importing the package runs nothing of the sweep: ``galaxybench.sweep`` is imported when it is
# first used.
sys.modules[__name__].__class__ = _Galaxybench


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
