"""Search spaces as data: a strict loader for ``search_spaces/*.yaml``.

A space names a base config (a profile plus dotted overrides), the parameters to search and their
distributions, the search algorithm, the seeds of the search and of the confirmation, top-k and the
resources of one trial. Conversion to Ray lives in ``galaxybench.sweep.ray_backend`` (the only
Ray importer). This module reads the YAML tree; it re-exports the dataclasses (``space_types``),
the shared checks and unread-key messages (``space_checks``); ``space_params`` parses the
searched parameters.

Usage::

    space = load_search_space("smoke")          # or a path to a YAML file
    cfg = space.base_config(); space.params[0].key, space.search.num_samples
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from galaxybench import budget, config
from galaxybench.errors import ConfigError
from galaxybench.sweep.space_checks import (  # noqa: F401 (re-exported)
    _config_key,
    _is_int,
    _is_number,
    _mapping,
    _require,
    check_searched_keys_read,
    never_read,
    unread_settings,
)
from galaxybench.sweep.space_params import _param
from galaxybench.sweep.space_types import (  # noqa: F401 (re-exported)
    ALGORITHMS,
    FUSE_MODES,
    KINDS,
    SCHEDULERS,
    Param,
    SearchSettings,
    SearchSpace,
)

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


def _fuse(tree: Any, source: str) -> str:
    """``confirm: {fuse: auto|on|off}`` (default auto)."""
    tree = _mapping(tree if tree is not None else {}, "confirm", {"fuse"}, source)
    fuse = tree.get("fuse", "auto")
    _require(fuse in FUSE_MODES, "confirm.fuse", f"must be one of {', '.join(FUSE_MODES)}", source)
    return str(fuse)


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
