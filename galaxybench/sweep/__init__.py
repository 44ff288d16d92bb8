"""Sweeps: the Ray-free plan (phases, rows, top configs), the search space, and the experiment.

``run_experiment`` drives Ray Tune through ``sweep.ray_backend``, the only module that imports
Ray; importing this package does not import Ray. The package itself is callable, so the notebook
call reads as the command line does::

    import galaxybench as gb
    result = gb.sweep("smoke", name="demo")          # == galaxybench.sweep.run_sweep(...)
    result.leaderboard, result.report_path
"""

from __future__ import annotations

import sys
import types
from typing import Any

from galaxybench.sweep.api import SweepResult, run_sweep
from galaxybench.sweep.experiment import run_experiment
from galaxybench.sweep.space import SearchSpace, load_search_space, parse_search_space

__all__ = ["SearchSpace", "SweepResult", "load_search_space", "parse_search_space",
           "run_experiment", "run_sweep"]


class _CallableModule(types.ModuleType):
    """``galaxybench.sweep`` is both this package and the ``sweep(...)`` function.

    Python binds a subpackage as an attribute of its parent on import, so a function named
    ``galaxybench.sweep`` would be replaced by this module the first time anything imports
    ``galaxybench.sweep.plan``; making the module callable keeps one name for both.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> SweepResult:
        return run_sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
