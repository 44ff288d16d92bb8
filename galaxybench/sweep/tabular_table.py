"""The tabular benchmark's schema: the discretised space, its grid, and ``Table`` (rows and
provenance, with the lookups replay needs: configs, rungs, standalone costs, sub-ladders).

Usage::

    disc = discretise(space, {"cgan.lr": 4}); grid(disc); table.best_full()
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from galaxybench import budget, config, results
from galaxybench.errors import ConfigError, DataError, close_matches, did_you_mean
from galaxybench.sweep.space import SearchSpace

# Stages whose compute columns the table keeps (evaluate_trial's accounting keys).
GAN_STAGES = ("srgan", "cgan")
STAGES = ("srgan", "cgan", "classifier", "other")
TEST_METRICS = (results.MINORITY_F1, results.MINORITY_F1_DELTA, results.MACRO_F1)


def discretise(
    space: SearchSpace,
    levels: dict[str, int] | None = None,
    values: dict[str, Sequence[Any]] | None = None,
) -> dict[str, list[Any]]:
    """The table's value list per searched key.

    Args:
        levels: key -> number of points for a continuous (uniform, loguniform, int) dimension,
            or a subset size for a grid/choice one (evenly spaced over its values); default 4.
        values: key -> explicit values; also adds a dimension the space does not search (each
            value is checked against the base config).
    """
    levels, values = dict(levels or {}), dict(values or {})
    known = set(space.param_keys()) | set(values)
    for key in levels:
        if key not in known:
            raise ConfigError(
                f"--levels {key}: not a searched parameter of {space.source}"
                f"{did_you_mean(close_matches(key, sorted(known)))} "
                f"(searched: {', '.join(space.param_keys())})"
            )
    base = space.base_config()
    out: dict[str, list[Any]] = {}
    for p in space.params:
        n = int(levels.get(p.key, 4))
        if n < 1:
            raise ConfigError(f"--levels {p.key}={n}: needs at least 1 level")
        if p.key in values:
            out[p.key] = list(values.pop(p.key))
        elif p.kind in ("grid", "choice"):
            vals = list(p.values)
            idx = sorted({round(i * (len(vals) - 1) / max(n - 1, 1)) for i in range(n)})
            out[p.key] = vals if n >= len(vals) else [vals[i] for i in idx]
        elif n == 1:
            out[p.key] = [_round((p.low + p.high) / 2, p.kind)]
        elif p.kind == "loguniform":
            lo, hi = math.log(p.low), math.log(p.high)
            out[p.key] = [_round(math.exp(lo + i * (hi - lo) / (n - 1)), p.kind) for i in range(n)]
        else:
            out[p.key] = sorted(
                {_round(p.low + i * (p.high - p.low) / (n - 1), p.kind) for i in range(n)}
            )
    out.update({k: list(v) for k, v in values.items()})
    for key, vals in out.items():
        if not vals:
            raise ConfigError(f"{key}: no values to tabulate")
        for v in vals:
            try:
                config.from_flat({key: v}, base)
            except ConfigError as exc:
                raise ConfigError(f"table value {key}={v!r}: {exc}") from None
    return out


def _round(v: float, kind: str) -> Any:
    """Four significant digits (a table value is written and read back as text)."""
    return round(v) if kind == "int" else float(f"{v:.4g}")


def grid(disc: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every configuration of the discretised space, in product order."""
    keys = list(disc)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*disc.values())]


def config_key(params: dict[str, Any]) -> str:
    """A row's configuration id (stable over a CSV round trip)."""
    return config.stable_hash({k: params[k] for k in sorted(params)})


@dataclass
class Table:
    """Rows of a tabular benchmark and its provenance.

    ``rows`` hold: config_id, one column per key of ``meta["discretisation"]``, rung (1-based),
    budget_fraction, status, val_objective (NaN when the trial did not finish ok), the test
    metrics (full rung only, else NaN), compute_<stage> and compute_seconds (standalone seconds of
    this rung), measured_seconds, gan_epochs_trained.
    """

    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return list(self.meta["discretisation"])

    @property
    def ladder(self) -> tuple[float, ...]:
        return tuple(self.meta["ladder"])

    def configs(self) -> list[dict[str, Any]]:
        """The table's configurations in its row order (one per config_id)."""
        seen: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            seen.setdefault(row[results.CONFIG_ID], {k: row[k] for k in self.keys})
        return list(seen.values())

    def lookup(self) -> dict[str, list[dict[str, Any]]]:
        """config_id -> its rows ordered by rung."""
        out: dict[str, list[dict[str, Any]]] = {}
        for row in sorted(self.rows, key=lambda r: r["rung"]):
            out.setdefault(row[results.CONFIG_ID], []).append(row)
        return out

    def full_budget_seconds(self, config_id: str) -> float:
        """What the configuration costs without a ladder: GANs over every rung (continued,
        so their sum is one full run), then the full rung's classifier and other seconds."""
        rows = self.lookup()[config_id]
        gans = sum(float(r[f"compute_{s}"]) for r in rows for s in GAN_STAGES)
        last = rows[-1]
        return gans + float(last["compute_classifier"]) + float(last["compute_other"])

    def grid_full_seconds(self) -> float:
        """The exhaustive grid at full budget without a ladder (seconds)."""
        return sum(self.full_budget_seconds(cid) for cid in self.lookup())

    def sub_ladder(self, keep: Sequence[float]) -> Table:
        """The table a search on the shorter ladder ``keep`` (a subset of this ladder's rungs,
        ending at 1) would have built: a kept rung's GAN seconds and epochs include the skipped
        rungs since the previous kept one (a GAN continued past a rung it never reported at trains
        the same epochs; continuation is bit-identical, so the values are those of this table),
        while a skipped rung's classifier and other seconds are not paid. A configuration whose
        climb ended (diverged) at a skipped rung ends at the next kept rung with that row's
        status and the seconds spent up to it."""
        keep = budget.check_ladder(list(keep), "sub-ladder")
        index = []
        for f in keep:
            match = [i for i, g in enumerate(self.ladder) if abs(g - f) <= 1e-6]
            if not match:
                raise ConfigError(f"sub-ladder rung {f} is not a rung of the table {self.ladder}")
            index.append(match[0] + 1)  # 1-based rung
        out_rows = []
        for rows in self.lookup().values():
            by_rung = {r["rung"]: r for r in rows}
            prev = 0
            for new_rung, old_rung in enumerate(index, start=1):
                span = [by_rung[k] for k in range(prev + 1, old_rung + 1) if k in by_rung]
                if not span:
                    break
                row = dict(span[-1])
                for stage in GAN_STAGES:
                    row[f"compute_{stage}"] = round(
                        sum(float(r[f"compute_{stage}"]) for r in span), 3
                    )
                row["gan_epochs_trained"] = sum(int(r["gan_epochs_trained"]) for r in span)
                row["compute_seconds"] = round(sum(float(row[f"compute_{s}"]) for s in STAGES), 3)
                row["rung"], row["budget_fraction"] = new_rung, keep[new_rung - 1]
                out_rows.append(row)
                if span[-1]["rung"] != old_rung:  # the climb ended inside the span
                    break
                prev = old_rung
        meta = {**self.meta, "ladder": list(keep), "sub_ladder_of": list(self.ladder)}
        return Table(out_rows, meta)

    def best_full(self) -> dict[str, Any]:
        """The full-rung row with the highest validation objective."""
        full = [
            r
            for r in self.rows
            if r["rung"] == len(self.ladder) and math.isfinite(r["val_objective"])
        ]
        if not full:
            raise DataError("the table has no finished full-budget configuration")
        return max(full, key=lambda r: r["val_objective"])
