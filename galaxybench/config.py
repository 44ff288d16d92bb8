"""One frozen-dataclass config tree, loaded from YAML, overridden by dotted keys, strict.

Dotted keys (``cgan.lr``) are the single namespace of YAML files, ``--set``, search spaces, Ray's
flat config and result columns.

This module parses ``--set`` overrides and loads profiles; it re-exports the rest: the sections
(``config_sections``), the root ``Config`` and its flat form (``config_tree``), the range and
choice checks (``config_checks``).

Usage::

    cfg = load_profile("smoke", overrides=["cgan.lr=1.0e-4", "rebalance.method=cgan"])
    cfg.cgan.lr, cfg.key(), to_flat(cfg)["srgan.depth"]
"""

from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from galaxybench.config_checks import validate  # noqa: F401 (re-exported)
from galaxybench.config_sections import (  # noqa: F401 (re-exported)
    MINORITY_FRACTION,
    CganConfig,
    ClassifierConfig,
    DataConfig,
    EvalConfig,
    MetricsConfig,
    RebalanceConfig,
    SrganConfig,
    UpscaleConfig,
)
from galaxybench.config_tree import (  # noqa: F401 (re-exported)
    KEYS_HELP,
    Config,
    as_number,
    flat_keys,
    from_flat,
    from_tree,
    stable_hash,
    suggest_keys,
    to_flat,
    to_tree,
    unflatten,
    unknown_key_message,
)
from galaxybench.errors import ConfigError


def parse_override(text: str, where: str = "--set") -> tuple[str, Any]:
    """``"cgan.lr=1.0e-4"`` -> ``("cgan.lr", 1e-4)``; the value is parsed as YAML.

    ``where`` names the source in error messages (``--set``, or the API's keyword arguments).
    """
    if "=" not in text:
        raise ConfigError(f"{where} expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if key not in flat_keys():
        raise ConfigError(unknown_key_message(key, where))
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    # Numbers written as 1e-4 on the command line are meant as numbers.
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    return key, value


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Config with ``KEY=VALUE`` strings applied."""
    flat = dict(parse_override(o) for o in overrides)
    return from_flat(flat, cfg) if flat else cfg


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    """``yaml.safe_load`` of a file, with a one-line error for a missing or malformed file.

    ``what`` names what the file should be (``search space``) in the error for a binary file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path} is not a {what}: it is binary, not UTF-8 text (expected YAML)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not a {what} (expected a YAML file)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None


def profile_names() -> list[str]:
    """Names of the built-in profiles (galaxybench/profiles/*.yaml)."""
    folder = resources.files("galaxybench") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(name: str = "default", overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """A built-in profile (or a YAML file path) with ``KEY=VALUE`` overrides applied."""
    if (
        name.endswith((".yaml", ".yml"))
        or "/" in name
        or (name not in profile_names() and Path(name).exists())
    ):
        path = Path(name)
    else:
        if name not in profile_names():
            raise ConfigError(f"unknown profile {name!r} (known: {', '.join(profile_names())})")
        path = Path(str(resources.files("galaxybench") / "profiles" / f"{name}.yaml"))
    tree = read_yaml(path, "profile") or {}
    try:
        cfg = from_tree(tree)
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None
    return apply_overrides(cfg, overrides)


def profile_keys(name: str, overrides: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The dotted keys a user set: those of ``--set`` and of a profile file (not a built-in).

    A built-in profile holds settings for every method a run may choose (``smoke`` sizes the
    SRGAN too), so its keys are not the user's choice; a profile file's keys are.
    """
    keys = [parse_override(text)[0] for text in overrides]
    if name.endswith((".yaml", ".yml")) or "/" in name:
        keys = sorted(tree_keys(read_yaml(name) or {})) + keys
    return list(dict.fromkeys(keys))


def tree_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of a nested mapping: ``{"cgan": {"lr": 1}}`` -> ``["cgan.lr"]``."""
    out: list[str] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += tree_keys(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out
