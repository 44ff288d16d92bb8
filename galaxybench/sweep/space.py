"""Search spaces as data: a strict loader for ``search_spaces/*.yaml``.

A space names a base config (a profile plus dotted overrides), the parameters to search and their
distributions, the search algorithm, the seeds of the search and of the confirmation, top-k and the
resources of one trial. Conversion to Ray lives in ``galaxybench.sweep.ray_backend`` (the only
Ray importer).

Usage::

    space = load_search_space("smoke")          # or a path to a YAML file
    cfg = space.base_config(); space.params[0].key, space.search.num_samples
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from galaxybench import budget, config, protocol
from galaxybench.errors import ConfigError, close_matches, did_you_mean

KINDS = ("grid", "choice", "uniform", "loguniform", "int")
ALGORITHMS = ("optuna", "grid", "random")
SCHEDULERS = ("asha", "hyperband", "fifo")
_TOP_KEYS = {
    "description",
    "base",
    "params",
    "search",
    "seeds",
    "top_k",
    "resources",
    "confirm",
}
# ``confirm.fuse``: train the confirmation seeds of a row (and the baseline's) as one fused group
# (``galaxybench.trial.group``). auto: when trials run on CUDA; on: always; off: never.
FUSE_MODES = ("auto", "on", "off")
_BASE_KEYS = {"profile", "set"}
_SEARCH_KEYS = {
    "algorithm",
    "num_samples",
    "scheduler",
    "max_concurrent",
    "grace_period",
    "reduction_factor",
    "max_failures",
    "ladder",
    "rungs",
}
_SEED_KEYS = {"search", "confirm"}
_RESOURCE_KEYS = {"cpu", "gpu", "trials_per_gpu"}
# Keys no search may vary, and why: the trials of one search are ranked against each other, so
# they need one definition of the objective and one scheduler time scale (ASHA's max_t).
_FIXED_KEYS = {
    "eval": "it defines the objective (the scoring minority set), which must be the same for "
    "every trial",
    "classifier.epochs": "it sets ASHA's max_t (one report per epoch), which must be the same "
    "for every trial; set it under base.set",
}


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


# --- loading -------------------------------------------------------------------------------------


def _require(cond: bool, key: str, message: str, source: str) -> None:
    if not cond:
        raise ConfigError(f"{source}: {key} {message}" if source else f"{key} {message}")


def _mapping(tree: Any, where: str, allowed: set[str], source: str) -> dict[str, Any]:
    _require(isinstance(tree, dict), where, "must be a mapping", source)
    unknown = sorted(set(tree) - allowed, key=str)
    if unknown:
        name = str(unknown[0])
        hint = did_you_mean(close_matches(name, sorted(allowed)))
        at = name if where == "top level" else f"{where}.{name}"
        _require(
            False, at, f"is not a known key{hint} (known: {', '.join(sorted(allowed))})", source
        )
    return tree


def _config_key(key: str, where: str, source: str) -> None:
    """A dotted config key of a space file, or ConfigError with the likely key."""
    _require(key != "seed", where, "cannot be set here: seeds go under `seeds`", source)
    if key not in config.flat_keys():
        hint = config.unknown_key_message(key)
        raise ConfigError(f"{source}: {where}: {hint}")


def _number(v: Any) -> Any:
    """A numeric string such as "1e-4" (PyYAML's reading of 1e-4) as a float; others unchanged."""
    if isinstance(v, str) and config.as_number(v) is not None:
        return config.as_number(v)
    return v


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_value(base: config.Config, key: str, value: Any, where: str, source: str) -> Any:
    """A candidate value must make a valid config (type and range checks of config.py).

    Returns the value as the config holds it ("1e-4" becomes 1e-4 for a float key).
    """
    try:
        return config.to_flat(config.from_flat({key: value}, base))[key]
    except ConfigError as exc:
        raise ConfigError(f"{source}: {where}: {exc}") from None


def _param(key: str, spec: Any, base: config.Config, source: str) -> Param:
    where = f"params.{key}"
    _config_key(key, where, source)
    # The data are prepared once per sweep on the driver (docs/architecture.md, "Data flow"),
    # so they cannot vary.
    _require(
        not key.startswith("data."), where, "cannot be searched: data are prepared once", source
    )
    # Every trial must be scored by the same objective and pruned on the same epoch scale.
    for fixed, why in _FIXED_KEYS.items():
        _require(
            not (key == fixed or key.startswith(fixed + ".")),
            where,
            f"cannot be searched: {why}",
            source,
        )
    _require(
        isinstance(spec, dict) and len(spec) == 1,
        where,
        f"must be a mapping with one of {', '.join(KINDS)}",
        source,
    )
    kind, arg = next(iter(spec.items()))
    _require(
        kind in KINDS,
        f"{where}.{kind}",
        f"is not a distribution{did_you_mean(close_matches(str(kind), KINDS))} "
        f"({', '.join(KINDS)})",
        source,
    )
    where = f"{where}.{kind}"
    field_type = type(config.to_flat(base)[key])
    if kind in ("grid", "choice"):
        _require(isinstance(arg, list) and len(arg) >= 1, where, "must be a non-empty list", source)
        values = [_check_value(base, key, v, where, source) for v in arg]
        _require(
            len({repr(v) for v in values}) == len(values), where, "has repeated values", source
        )
        return Param(key, kind, values=tuple(values))
    _require(isinstance(arg, list) and len(arg) == 2, where, "must be a list [low, high]", source)
    low, high = arg
    low, high = _number(low), _number(high)
    _require(
        _is_number(low) and _is_number(high),
        where,
        f"bounds must be numbers, got {low!r}, {high!r}",
        source,
    )
    if kind == "int":
        _require(_is_int(low) and _is_int(high), where, "bounds must be integers", source)
        _require(field_type is int, where, f"int needs an integer config key, {key} is not", source)
        _require(low <= high, where, f"needs low <= high, got [{low}, {high}]", source)
    else:
        _require(field_type is float, where, f"{kind} needs a float config key; use int", source)
        _require(low < high, where, f"needs low < high, got [{low}, {high}]", source)
        _require(kind != "loguniform" or low > 0, where, "needs low > 0", source)
    for v in (low, high):
        _check_value(base, key, v, where, source)
    return Param(
        key,
        kind,
        low=float(low) if kind != "int" else low,
        high=float(high) if kind != "int" else high,
    )


def _takes(values: tuple[Any, ...]) -> str:
    shown = [protocol.show_value(v) for v in values]
    return f"is {shown[0]}" if len(shown) == 1 else f"is one of {', '.join(shown)}"


def never_read(key: str, base: config.Config, params: tuple[Param, ...]) -> str | None:
    """Why no trial of a space reads ``key`` (``protocol.READ_WHEN``), or None when some does.

    A condition's key takes the base value, or the values of its grid/choice when it is itself
    searched (``rebalance.method: {choice: [none, cgan]}`` reads ``cgan.lr`` in some trials).
    """
    flat = config.to_flat(base)
    searched = {p.key: p for p in params}
    for cond in protocol.read_conditions(key):
        control = searched.get(cond.control)
        if control is not None and control.kind not in ("grid", "choice"):
            continue  # a numeric range: not a method choice
        values = control.values if control is not None else (flat.get(cond.control),)
        if not any(cond.holds(v) for v in values):
            return (
                f"it is read only when {cond.describe()}, and {cond.control} {_takes(values)} "
                "in every trial of this space"
            )
    return None


def check_searched_keys_read(base: config.Config, params: tuple[Param, ...], source: str) -> None:
    """Refuse a searched key that no configuration of the space reads (``never_read``)."""
    for param in params:
        why = never_read(param.key, base, params)
        _require(why is None, f"params.{param.key}", f"is never read: {why}", source)


def unread_settings(space: SearchSpace, keys: list[str]) -> list[str]:
    """One line per key of ``keys`` (``--set``) that no trial of ``space`` reads."""
    base = space.base_config()
    lines = [(key, never_read(key, base, space.params)) for key in dict.fromkeys(keys)]
    return [f"{key} has no effect: {why}" for key, why in lines if why]


def _seeds(tree: Any, source: str) -> tuple[int, tuple[int, ...]]:
    tree = _mapping(tree, "seeds", _SEED_KEYS, source)
    search, confirm = tree.get("search", 0), tree.get("confirm", [1, 2, 3])
    _require(_is_int(search) and search >= 0, "seeds.search", "must be an integer >= 0", source)
    _require(
        isinstance(confirm, list) and confirm and all(_is_int(s) and s >= 0 for s in confirm),
        "seeds.confirm",
        "must be a non-empty list of integers >= 0",
        source,
    )
    _require(len(set(confirm)) == len(confirm), "seeds.confirm", "has repeated seeds", source)
    # docs/protocol.md, "Phases": the confirmed runs use fresh seeds, never the one the search
    # selected on.
    _require(
        search not in confirm, "seeds.confirm", f"must not contain the search seed {search}", source
    )
    return search, tuple(confirm)


def _search(tree: Any, params: tuple[Param, ...], source: str) -> SearchSettings:
    tree = _mapping(tree if tree is not None else {}, "search", _SEARCH_KEYS, source)
    defaults = SearchSettings()
    tree = dict(tree)
    ladder, rungs = tree.pop("ladder", None), tree.pop("rungs", None)
    for key in _SEARCH_KEYS - {"algorithm", "scheduler", "ladder", "rungs"}:
        v = tree.get(key, getattr(defaults, key))
        low = 0 if key == "max_failures" else 1
        _require(_is_int(v) and v >= low, f"search.{key}", f"must be an integer >= {low}", source)
    _require(
        ladder is None or rungs is None,
        "search.rungs",
        "and search.ladder both given: set one",
        source,
    )
    if rungs is not None:
        _require(_is_int(rungs) and rungs >= 1, "search.rungs", "must be an integer >= 1", source)
        ladder = budget.make_ladder(tree.get("reduction_factor", defaults.reduction_factor), rungs)
    try:
        tree["ladder"] = budget.check_ladder(ladder) if ladder else ()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    s = SearchSettings(**tree)
    _require(s.algorithm in ALGORITHMS, "search.algorithm", f"must be one of {ALGORITHMS}", source)
    _require(s.scheduler in SCHEDULERS, "search.scheduler", f"must be one of {SCHEDULERS}", source)
    _require(s.reduction_factor >= 2, "search.reduction_factor", "must be >= 2", source)
    if s.algorithm == "grid":
        bad = [p.key for p in params if p.kind != "grid"]
        _require(
            not bad,
            f"params.{bad[0]}" if bad else "params",
            "must be a grid parameter when search.algorithm is grid",
            source,
        )
    return s


def _resources(tree: Any, source: str) -> dict[str, Any]:
    """cpu, gpu, gpu_auto and trials_per_gpu of the ``resources`` mapping (no ``gpu``: auto)."""
    tree = _mapping(tree if tree is not None else {}, "resources", _RESOURCE_KEYS, source)
    cpu, gpu = tree.get("cpu", 1), tree.get("gpu", "auto")
    per_gpu = tree.get("trials_per_gpu")
    _require(_is_number(cpu) and cpu > 0, "resources.cpu", "must be a number > 0", source)
    auto = gpu == "auto"
    _require(
        auto or (_is_number(gpu) and gpu >= 0 and (gpu <= 1 or float(gpu).is_integer())),
        "resources.gpu",
        "must be auto, a fraction in [0, 1] or a whole number",
        source,
    )
    _require(
        per_gpu is None or (_is_int(per_gpu) and per_gpu >= 1 and auto),
        "resources.trials_per_gpu",
        "must be an integer >= 1, with gpu: auto",
        source,
    )
    return {
        "cpu": float(cpu),
        "gpu": 0.0 if auto else float(gpu),
        "gpu_auto": auto,
        "trials_per_gpu": int(per_gpu or 0),
    }


def parse_search_space(tree: Any, source: str = "<search space>") -> SearchSpace:
    """A validated SearchSpace from plain data; ConfigError naming ``source`` and the key."""
    tree = _mapping(tree, "top level", _TOP_KEYS, source)
    base_tree = _mapping(tree.get("base", {}), "base", _BASE_KEYS, source)
    profile = base_tree.get("profile", "default")
    _require(isinstance(profile, str), "base.profile", "must be a profile name", source)
    overrides = base_tree.get("set") or {}
    _require(isinstance(overrides, dict), "base.set", "must be a mapping of config keys", source)
    for key in overrides:
        _config_key(key, f"base.set.{key}", source)
    try:
        base = config.from_flat(dict(overrides), config.load_profile(profile))
    except ConfigError as exc:
        raise ConfigError(f"{source}: base: {exc}") from None
    flat = config.to_flat(base)
    overrides = {k: flat[k] for k in overrides}  # as the config holds them: "1e-4" -> 1e-4
    params_tree = tree.get("params") or {}
    _require(isinstance(params_tree, dict), "params", "must be a mapping", source)
    params = tuple(_param(k, v, base, source) for k, v in params_tree.items())
    check_searched_keys_read(base, params, source)
    search_seed, confirm_seeds = _seeds(tree.get("seeds", {}), source)
    top_k = tree.get("top_k", 1)
    _require(_is_int(top_k) and top_k >= 1, "top_k", "must be an integer >= 1", source)
    description = tree.get("description", "")
    _require(isinstance(description, str), "description", "must be a string", source)
    return SearchSpace(
        source=source,
        profile=profile,
        overrides=dict(overrides),
        params=params,
        search=_search(tree.get("search"), params, source),
        search_seed=search_seed,
        confirm_seeds=confirm_seeds,
        top_k=top_k,
        description=description,
        fuse=_fuse(tree.get("confirm"), source),
        **_resources(tree.get("resources"), source),
    )


def _fuse(tree: Any, source: str) -> str:
    """``confirm: {fuse: auto|on|off}`` (default auto)."""
    tree = _mapping(tree if tree is not None else {}, "confirm", {"fuse"}, source)
    fuse = tree.get("fuse", "auto")
    _require(fuse in FUSE_MODES, "confirm.fuse", f"must be one of {', '.join(FUSE_MODES)}", source)
    return str(fuse)


def search_space_names() -> list[str]:
    """Names of the built-in search spaces (galaxybench/search_spaces/*.yaml)."""
    folder = resources.files("galaxybench") / "search_spaces"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_search_space(name_or_path: str | Path = "default") -> SearchSpace:
    """A built-in space by name, or a YAML file; ConfigError naming the file and key if invalid."""
    text = str(name_or_path)
    # A path: a .yaml name, a name with a folder, or any other file that exists (then refused
    # with one line if it is not YAML).
    if (
        text.endswith((".yaml", ".yml"))
        or "/" in text
        or (text not in search_space_names() and Path(text).exists())
    ):
        path = Path(text)
    elif text in search_space_names():
        path = Path(str(resources.files("galaxybench") / "search_spaces" / f"{text}.yaml"))
    else:
        raise ConfigError(
            f"unknown search space {text!r} "
            f"(known: {', '.join(search_space_names())}; or a path to a .yaml file)"
        )
    return parse_search_space(config.read_yaml(path, "search space"), source=path.name)
