"""The controls of ``galaxybench validate``, computed from the stored rows of its two phases.

Each control is paired with the baseline by split seed (every control row runs once on each
confirmation seed's split): the paired difference with its t-interval, the sample standard
deviation of the differences, the minimum detectable effect at that n and the seeds needed for
a given effect (``report.power``). What each control means is in ``docs/protocol.md``
("Controls").

Usage::

    out = controls(baseline_rows, confirm_rows, effect=0.05)
    out["controls"][0]["mean"] == 0.0, out["negative_exact"]
"""

from __future__ import annotations

import math
from typing import Any

from galaxybench import protocol, results
from galaxybench.report import power, stats

# The controls in the order they are printed: (row, kind, what it is).
CONTROLS = (
    (protocol.ROW_BASELINE_AGAIN, "negative", "baseline vs itself, same seeds and splits"),
    (protocol.ROW_BASELINE_OTHER_SEED, "negative", "baseline vs baseline on another seed"),
    (protocol.ROW_ORACLE, "positive", "oracle upscaler vs baseline"),
    (protocol.ROW_ORACLE_REBALANCER, "positive", "oracle rebalancer vs baseline"),
)


def _by_split(rows: list[dict[str, Any]], row: str) -> dict[Any, float]:
    """Split seed -> test minority F1 of the ok runs of ``row``."""
    return {
        r.get("split_seed", r["config"].get("data.split_seed")): float(r[results.MINORITY_F1])
        for r in rows
        if str(r.get(results.ROW)) == row
        and r.get(results.STATUS) == results.STATUS_OK
        and isinstance(r.get(results.MINORITY_F1), (int, float))
    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The oracle rebalancer's planned and added images per class, per seed."""
    return [
        {
            "seed": r.get("seed"),
            "planned": r.get(results.PLANNED_PER_CLASS),
            "added": r.get(results.ADDED_PER_CLASS),
        }
        for r in rows
        if str(r.get(results.ROW)) == protocol.ROW_ORACLE_REBALANCER
        and r.get(results.STATUS) == results.STATUS_OK
    ]


def controls(
    baseline_rows: list[dict[str, Any]],
    confirm_rows: list[dict[str, Any]],
    *,
    effect: float,
    n_seeds: int,
) -> dict[str, Any]:
    """Every control against the baseline, and whether the same-seed control is exactly 0.

    Args:
        baseline_rows, confirm_rows: the rows of ``results/baseline.jsonl`` and
            ``results/confirm.jsonl`` of a validate run.
        effect: the effect (in minority F1) to find the seeds needed for, > 0.
        n_seeds: the space's number of confirmation seeds, at which the MDE is given.

    Returns:
        ``{"controls": [...], "negative_exact": bool, "effect", "n_seeds", "methods"}``; each
        control has row, kind, what, n, mean, ci_low, ci_high, sd, mde (at ``n_seeds``) and
        seeds_needed (None: not reachable, or no spread measured).
    """
    base = _by_split(baseline_rows, protocol.ROW_BASELINE)
    out = []
    for row, kind, what in CONTROLS:
        scores = _by_split(confirm_rows, row)
        gain = stats.paired_gain(scores, base)
        sd, _ = power.paired_sd(scores, base)
        entry = {
            results.ROW: row,
            "kind": kind,
            "what": what,
            "n": gain.n,
            "mean": _finite(gain.mean),
            "ci_low": _finite(gain.ci_low),
            "ci_high": _finite(gain.ci_high),
            "sd": _finite(sd),
            "mde": _finite(power.mde(sd, n_seeds)),
            "seeds_needed": power.seeds_needed(sd, effect) if math.isfinite(sd) else None,
        }
        if row == protocol.ROW_BASELINE_AGAIN:
            diffs = power.paired_differences(scores, base)
            entry["exact_zero"] = bool(len(diffs) == len(base) > 0 and (diffs == 0.0).all())
        out.append(entry)
    return {
        "controls": out,
        "negative_exact": bool(out[0]["exact_zero"]),
        "effect": effect,
        "n_seeds": n_seeds,
        "oracle_rebalancer_counts": _counts(confirm_rows),
        "methods": {"interval": stats.interval_label(), "mde": power.mde_label()},
    }


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def control_lines(summary: dict[str, Any]) -> list[str]:
    """The controls as text, one line each, then the method line."""
    lines = []
    n_seeds, effect = summary["n_seeds"], summary["effect"]
    for c in summary["controls"]:
        interval = f"[{_num(c['ci_low'])}, {_num(c['ci_high'])}]" if c["n"] >= 2 else "n/a"
        needed = c["seeds_needed"]
        need_text = (
            "no spread"
            if c["sd"] == 0.0
            else f"{needed} seeds"
            if needed is not None
            else f"over {power.MAX_SEEDS} seeds"
        )
        lines.append(
            f"{c['kind']:8s} {c['what']}: {_num(c['mean'])} {interval} at n = {c['n']}; "
            f"MDE at n = {n_seeds}: {_num(c['mde'])}; to resolve {effect:+.3f}: {need_text}"
            + (f"; exactly 0: {'yes' if c['exact_zero'] else 'NO'}" if "exact_zero" in c else "")
        )
    for entry in summary.get("oracle_rebalancer_counts") or []:
        added, planned = entry.get("added") or {}, entry.get("planned") or {}
        text = ", ".join(f"{c} {added.get(c, 0)} of {n}" for c, n in planned.items())
        lines.append(f"oracle rebalancer, seed {entry['seed']}: {text or 'nothing planned'}")
    methods = summary["methods"]
    lines.append(f"intervals: {methods['interval']}; MDE: {methods['mde']}")
    return lines
