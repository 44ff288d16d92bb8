"""The searched parameters of a space: one ``params`` entry of the YAML parsed into a ``Param``.

A distribution (grid, choice, uniform, loguniform, int) over one config key, checked against the
base config; ``galaxybench.sweep.space.parse_search_space`` calls ``_param`` per entry.

Usage::

    _param("cgan.lr", {"loguniform": [1.0e-4, 1.0e-2]}, base, "space.yaml")
"""

from __future__ import annotations

from typing import Any

from galaxybench import config
from galaxybench.errors import close_matches, did_you_mean
from galaxybench.sweep.space_checks import (
    _check_value,
    _config_key,
    _is_int,
    _is_number,
    _number,
    _require,
)
from galaxybench.sweep.space_types import KINDS, Param

# Keys no search may vary, and why: the trials of one search are ranked against each other, so
# they need one definition of the objective and one scheduler time scale (ASHA's max_t).
_FIXED_KEYS = {
    "eval": "it defines the objective (the scoring minority set), which must be the same for "
    "every trial",
    "classifier.epochs": "it sets ASHA's max_t (one report per epoch), which must be the same "
    "for every trial; set it under base.set",
}


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
