"""The dataclasses of a search space: ``Param``, ``SearchSettings`` and ``SearchSpace``.

``galaxybench.sweep.space`` builds them from YAML (``parse_search_space``) and re-exports them.

Usage::

    from galaxybench.sweep.space import load_search_space  # builds a SearchSpace
    space = load_search_space("smoke"); space.with_options(num_samples=2).to_dict()["search"]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from galaxybench import config
from galaxybench.sweep.space_checks import _require, check_searched_keys_read

KINDS = ("grid", "choice", "uniform", "loguniform", "int")
ALGORITHMS = ("optuna", "grid", "random")
SCHEDULERS = ("asha", "hyperband", "fifo")
# ``confirm.fuse``: train the confirmation seeds of a row (and the baseline's) as one fused group
# (``galaxybench.trial.group``). auto: when trials run on CUDA; on: always; off: never.
FUSE_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Param:
    """One searched config key.

    Attributes:
        key: a dotted config key (``cgan.lr``).
        kind: grid (every value, in grid search) | choice | uniform | loguniform | int (inclusive).
        values: the candidates of grid/choice; empty otherwise.
        low, high: the bounds of uniform/loguniform/int; None for grid/choice.
    """

    key: str
    kind: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class SearchSettings:
    """How the search phase samples and prunes."""

    algorithm: str = "optuna"  # optuna (TPE, seeded) | grid | random
    num_samples: int = 8  # trials (optuna/random) or passes over the grid (grid)
    # asha: Ray Tune's ASHAScheduler, one bracket (prunes on the ladder's rungs, or without a
    # ladder on per-epoch val minority F1). hyperband: Ray Tune's AsyncHyperBandScheduler with one
    # bracket per decision point (asynchronous Hyperband: each trial is drawn into a bracket whose
    # first decision comes later, so some trials are never judged on the cheapest rung). fifo: no
    # pruning.
    scheduler: str = "asha"
    max_concurrent: int = 2
    grace_period: int = 1  # epochs before ASHA may stop a trial (no ladder; with one: 1 rung)
    reduction_factor: int = 2
    max_failures: int = 1  # retries of a crashed trial (a diverged GAN is never retried)
    # The budget ladder (galaxybench.budget): increasing fractions of every trained stage's
    # epochs, ending at 1.0. Empty: no ladder (one full-budget pass, ASHA on classifier epochs).
    # With a ladder each rung reports once and ASHA decides at every rung but the last.
    # YAML: ``ladder: [0.111, 0.333, 1.0]``, or ``rungs: 3`` with ``reduction_factor``.
    ladder: tuple[float, ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    """A whole sweep definition, validated."""

    source: str
    profile: str
    overrides: dict[str, Any]
    params: tuple[Param, ...]
    search: SearchSettings
    search_seed: int
    confirm_seeds: tuple[int, ...]
    top_k: int
    cpu: float = 1.0
    gpu: float = 0.0
    description: str = ""
    # ``gpu: auto`` (or no ``gpu`` key): the sweep picks the share (galaxybench.sweep.resources),
    # ``1 / trials_per_gpu`` of a GPU when the cluster has GPUs (0: its default), else none.
    gpu_auto: bool = False
    trials_per_gpu: int = 0
    fuse: str = "auto"  # FUSE_MODES

    def base_config(self) -> config.Config:
        """The base config: the profile with the space's (and ``--set``) overrides."""
        cfg = config.load_profile(self.profile)
        return config.from_flat(dict(self.overrides), cfg) if self.overrides else cfg

    def param_keys(self) -> list[str]:
        return [p.key for p in self.params]

    def with_options(
        self,
        *,
        overrides: list[str] | tuple[str, ...] = (),
        gpus_per_trial: float | None = None,
        num_samples: int | None = None,
        max_concurrent: int | None = None,
        fix_params: bool = False,
        where: str = "--set",
    ) -> SearchSpace:
        """A copy with command-line options applied (``--set``, ``--gpus-per-trial``, ...).

        ``fix_params`` lets ``--set`` give searched keys a value (``ablate`` runs one config);
        a sweep refuses that, since the search would override it. ``where`` names the overrides'
        source in error messages.
        """
        parsed = dict(config.parse_override(text, where) for text in overrides)
        for key in parsed:
            _require(
                key != "seed", f"seed in {where}", "cannot be set: the space's seeds set it", ""
            )
            _require(
                fix_params or key not in self.param_keys(),
                f"{key} in {where}",
                f"conflicts with a parameter that {self.source} searches",
                "",
            )
        search = self.search
        if num_samples is not None:
            _require(num_samples >= 1, "--num-samples", "must be >= 1", self.source)
            search = dataclasses.replace(search, num_samples=num_samples)
        if max_concurrent is not None:
            _require(max_concurrent >= 1, "--max-concurrent", "must be >= 1", self.source)
            search = dataclasses.replace(search, max_concurrent=max_concurrent)
        gpu = self.gpu if gpus_per_trial is None else float(gpus_per_trial)
        _require(
            gpu >= 0 and (gpu <= 1 or gpu.is_integer()),
            "--gpus-per-trial",
            "must be a fraction in [0, 1] or a whole number",
            self.source,
        )
        out = dataclasses.replace(
            self,
            search=search,
            gpu=gpu,
            gpu_auto=self.gpu_auto and gpus_per_trial is None,  # --gpus-per-trial wins
            overrides={**self.overrides, **parsed},
        )
        base = out.base_config()  # fail now, not in a trial
        if not fix_params:
            check_searched_keys_read(base, out.params, self.source)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The space as plain data in the YAML schema (parse_search_space reads it back)."""
        params = {}
        for p in self.params:
            params[p.key] = {
                p.kind: list(p.values) if p.kind in ("grid", "choice") else [p.low, p.high]
            }
        return {
            "description": self.description,
            "base": {"profile": self.profile, "set": dict(self.overrides)},
            "params": params,
            "search": {**dataclasses.asdict(self.search), "ladder": list(self.search.ladder)},
            "seeds": {"search": self.search_seed, "confirm": list(self.confirm_seeds)},
            "top_k": self.top_k,
            "resources": self._resources_dict(),
            "confirm": {"fuse": self.fuse},
        }

    def _resources_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cpu": self.cpu, "gpu": "auto" if self.gpu_auto else self.gpu}
        if self.trials_per_gpu:
            out["trials_per_gpu"] = self.trials_per_gpu
        return out

    def optuna_distributions(self) -> dict[str, Any]:
        """Optuna distributions of the params (grid params become categorical)."""
        from optuna import distributions as D

        out: dict[str, Any] = {}
        for p in self.params:
            if p.kind in ("grid", "choice"):
                out[p.key] = D.CategoricalDistribution(list(p.values))
            elif p.kind == "int":
                out[p.key] = D.IntDistribution(int(p.low), int(p.high))
            else:
                out[p.key] = D.FloatDistribution(p.low, p.high, log=p.kind == "loguniform")
        return out
