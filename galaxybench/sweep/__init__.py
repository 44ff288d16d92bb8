"""Sweeps: the Ray-free plan (phases, rows, top configs), the search space, and the experiment.

``run_experiment`` drives Ray Tune through ``sweep.ray_backend``, the only package that imports
Ray; importing this package does not import Ray. ``galaxybench.sweep(...)`` (the notebook call)
is ``galaxybench.api.run_sweep``: the package is made callable by ``galaxybench/__init__.py``.

Usage::

    from galaxybench.sweep import load_search_space, run_experiment
    summary = run_experiment(load_search_space("smoke"), name="demo", storage="experiments")
"""

from __future__ import annotations

from galaxybench.sweep.experiment import run_experiment
from galaxybench.sweep.space import SearchSpace, load_search_space, parse_search_space

__all__ = ["SearchSpace", "load_search_space", "parse_search_space", "run_experiment"]
