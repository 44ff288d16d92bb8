"""The root ``Config``, its tree and flat (dotted-key) forms, typed building, unknown-key messages.

``galaxybench.config`` re-exports everything here; build configs through it.

Usage::

    cfg = from_flat({"cgan.lr": 1.0e-4}); to_flat(cfg)["cgan.lr"], flat_keys(), cfg.key()
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from galaxybench.config_checks import validate
from galaxybench.config_sections import (
    CganConfig,
    ClassifierConfig,
    DataConfig,
    EvalConfig,
    MetricsConfig,
    RebalanceConfig,
    SrganConfig,
    UpscaleConfig,
)
from galaxybench.errors import ConfigError, close_matches, did_you_mean


def stable_hash(obj: Any) -> str:
    """SHA256 of canonical JSON (sorted keys), first 16 hex chars."""
    blob = json.dumps(obj, sort_keys=True, default=list, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Value converted to type ``tp`` or ConfigError naming the key."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(key, value, non_none[0])
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(
                f"config key {key!r} must be a list of {len(args)} values, got {value!r}"
            )
        return tuple(_coerce(key, v, a) for v, a in zip(value, args, strict=True))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"config key {key!r} must be an integer, got {value!r}")
        return value
    if tp is float:
        number = as_number(value)
        if number is None:
            raise ConfigError(f"config key {key!r} must be a number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} must be a string, got {value!r}")
        return value
    raise ConfigError(f"config key {key!r} has unsupported type {tp}")


def as_number(value: Any) -> float | None:
    """A finite number as float, or None; a string such as "1e-4" counts (PyYAML reads 1e-4,
    without a dot, as a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return float(value) if isinstance(value, (int, float)) else None


# Where every config key is listed; an unknown key's message points there instead of listing them.
KEYS_HELP = "galaxybench run --help lists keys"
# Names other tools use for a setting -> its name here (cgan.learning_rate -> cgan.lr).
_SYNONYMS = {
    "learning_rate": "lr",
    "learningrate": "lr",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "epoch": "epochs",
    "batch": "batch_size",
    "batchsize": "batch_size",
    "bs": "batch_size",
    "beta": "betas",
    "z_dim": "latent_dim",
    "nz": "latent_dim",
}


def suggest_keys(key: str, known: Sequence[str] | None = None) -> list[str]:
    """The known dotted keys a mistyped ``key`` most likely meant, best first ([] if none)."""
    known = sorted(flat_keys() if known is None else known)
    section, dot, leaf = key.strip().lower().replace("-", "_").rpartition(".")
    leaf = _SYNONYMS.get(leaf, leaf)
    normal = f"{section}{dot}{leaf}"
    if normal in known and normal != key:
        return [normal]
    if not dot:  # a bare "lr": every key of that name
        same = [k for k in known if k.rpartition(".")[2] == leaf]
        if same:
            return same
    return close_matches(normal, known)


def unknown_key_message(
    key: str,
    where: str = "",
    known: Sequence[str] | None = None,
    show: Callable[[str], str] = str,
) -> str:
    """One line for an unknown config key: where it came from, the likely key, where keys are.

    ``show`` spells a key as the user wrote it (``cgan__lr`` for keyword arguments).
    """
    known = flat_keys() if known is None else list(known)
    head = f"unknown config key {show(key)!r}" + (f" in {where}" if where else "")
    section = [show(k) for k in known if k.startswith(f"{key}.")]
    if section:
        return f"{head}: {key!r} is a section; name one of its keys ({', '.join(section)})"
    return f"{head}{did_you_mean(suggest_keys(key, known), show)} ({KEYS_HELP})"


def _unknown_in_tree(prefix: str, name: Any, value: Any, names: set[str]) -> str:
    """The message for an unknown name in a nested config (a YAML profile or ``from_tree``)."""
    key = f"{prefix}{name}"
    if "." in str(name) and key in flat_keys():
        section, _, leaf = key.partition(".")
        return f"config key {key!r} must be nested in YAML: {section}: {{{leaf}: ...}}"
    if isinstance(value, dict):  # a mistyped section name
        hint = did_you_mean(close_matches(str(name), sorted(names)))
        return f"unknown config section {key!r}{hint} ({KEYS_HELP})"
    return unknown_key_message(key)


def _build(cls: type, tree: Any, prefix: str) -> Any:
    if not isinstance(tree, dict):
        raise ConfigError(f"config section {prefix.rstrip('.') or 'top'!r} must be a mapping")
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(tree) - names, key=str)
    if unknown:
        raise ConfigError(_unknown_in_tree(prefix, unknown[0], tree[unknown[0]], names))
    kwargs = {}
    for name, value in tree.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(prefix + name, value, tp)
    return cls(**kwargs)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def to_tree(cfg: Config) -> dict[str, Any]:
    """Nested plain dict (tuples as lists), as written to YAML."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def to_flat(cfg: Config) -> dict[str, Any]:
    """Flat dict of dotted keys -> values (tuples as lists)."""
    flat: dict[str, Any] = {}

    def walk(tree: dict, prefix: str) -> None:
        for k, v in tree.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                flat[prefix + k] = v

    walk(to_tree(cfg), "")
    return flat


def flat_keys() -> list[str]:
    """Every dotted config key."""
    return sorted(to_flat(Config()))


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"cgan.lr": 1}`` -> ``{"cgan": {"lr": 1}}``; unknown keys are caught by from_tree."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key {key!r} conflicts with a value above it")
        node[parts[-1]] = value
    return tree


def from_tree(tree: dict[str, Any], base: Config | None = None) -> Config:
    """Config from a nested dict laid over ``base`` (defaults if None), validated."""
    if tree is not None and not isinstance(tree, dict):
        raise ConfigError(
            f"a config must be a mapping of sections (cgan: {{lr: ...}}), got {type(tree).__name__}"
        )
    merged = _merge(to_tree(base or Config()), tree or {})
    cfg = _build(Config, merged, "")
    validate(cfg)
    return cfg


def from_flat(flat: dict[str, Any], base: Config | None = None) -> Config:
    """Config from dotted keys laid over ``base``, validated."""
    return from_tree(unflatten(flat), base)


@dataclass(frozen=True)
class Config:
    """The whole configuration of one trial."""

    data: DataConfig = field(default_factory=DataConfig)
    upscale: UpscaleConfig = field(default_factory=UpscaleConfig)
    srgan: SrganConfig = field(default_factory=SrganConfig)
    cgan: CganConfig = field(default_factory=CganConfig)
    rebalance: RebalanceConfig = field(default_factory=RebalanceConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    seed: int = 0

    def key(self) -> str:
        """A stable hash of the whole config (hex, 16 chars)."""
        return stable_hash(to_flat(self))

    def replace(self, **dotted: Any) -> Config:
        """A copy with dotted keys replaced: ``cfg.replace(**{"cgan.lr": 1e-4})``."""
        return from_flat({**to_flat(self), **dotted})
