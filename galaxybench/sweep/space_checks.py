"""Checks shared by the search-space loader: one-line errors, key and value checks, unread keys.

``never_read`` and ``unread_settings`` say which config keys no trial of a space reads
(``protocol.READ_WHEN``); ``galaxybench.sweep.space`` re-exports them.

Usage::

    unread_settings(space, ["cgan.epochs"])  # ["cgan.epochs has no effect: it is read only ..."]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from galaxybench import config, protocol
from galaxybench.errors import ConfigError, close_matches, did_you_mean

if TYPE_CHECKING:
    from galaxybench.sweep.space_types import Param, SearchSpace


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
