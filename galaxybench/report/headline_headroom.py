"""The headline's headroom and captured sentences: what an oracle upscaler or rebalancer adds over
the baseline, and which fraction of it each generative row captures.

Usage::

    headroom(exp)         # "Headroom: oracle upscaler minus baseline ..."
    captured(exp, board)  # "Captured: top-1 +0.44 [+0.20, +0.70] of the rebalancing headroom"
"""

from __future__ import annotations

import pandas as pd

from galaxybench import results
from galaxybench.protocol import ROW_BASELINE, ROW_ORACLE_REBALANCER
from galaxybench.report import power, stats
from galaxybench.report.experiment import Experiment
from galaxybench.report.headline_words import (
    NA,
    ORACLE_ROW,
    PIPELINE_BOUND_ROW,
    _fmt,
    _gain_text,
    is_gan_row,
)
from galaxybench.report.tables import row_scores


def headroom(exp: Experiment) -> str:
    """Oracle upscaler minus baseline: what any upscaler could add on this data, with its CI."""
    oracle = row_scores(exp, ORACLE_ROW)
    if not oracle:
        return "Headroom: no oracle-upscaler row was run, so the upscaling headroom is unknown."
    g = stats.paired_gain(oracle, row_scores(exp, ROW_BASELINE))
    if g.n == 0:
        return "Headroom: the oracle upscaler has no result paired with the baseline."
    if g.n < 2:
        return (
            f"Headroom: oracle upscaler minus baseline {_fmt(g.mean)}, no interval at "
            f"n = {g.n}: one seed cannot tell whether an upscaler can help on this data."
        )
    if g.resolved and g.mean > 0:
        tail = "an upscaler can show an effect on this data"
    elif g.resolved:
        tail = "true HR images score below LR input here, so upscaling cannot help"
    else:
        tail = "within noise: no upscaler can show an effect on this data at this n"
    return (
        f"Headroom: oracle upscaler minus baseline {_gain_text(g)} at n = {g.n} "
        f"({stats.interval_label()}); {tail}." + _rebalancing_headroom(exp)
    )


def _rebalancing_headroom(exp: Experiment) -> str:
    """ " Oracle rebalancer minus baseline ...; it adds ...": the rebalancing headroom, or ""."""
    oracle = row_scores(exp, ROW_ORACLE_REBALANCER)
    if not oracle:
        return " No oracle-rebalancer row was run, so the rebalancing headroom is unknown."
    g = stats.paired_gain(oracle, row_scores(exp, ROW_BASELINE))
    if g.n < 2:
        return f" Oracle rebalancer minus baseline {_gain_text(g)}." if g.n else ""
    tail = (
        "a rebalancer can show an effect on this data"
        if g.resolved and g.mean > 0
        else "adding real images does not help here"
        if g.resolved
        else "within noise: no rebalancer can show an effect on this data at this n"
    )
    return (
        f" Oracle rebalancer minus baseline {_gain_text(g)} at n = {g.n}; {tail}; "
        f"it adds withheld real images, min(plan, reserve) per class: {oracle_counts(exp)}."
    )


def _span(values: list[int]) -> str:
    return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"


def oracle_counts(exp: Experiment) -> str:
    """ "Disturbed 26 of 92 planned, ..." over the oracle rebalancer's ok runs (ranges when
    the seeds' splits differ); "n/a" when its runs did not record them."""
    runs = [
        r
        for r in exp.confirmed
        if str(r.get(results.ROW)) == ROW_ORACLE_REBALANCER
        and r.get(results.STATUS) == results.STATUS_OK
    ]
    planned = [r.get(results.PLANNED_PER_CLASS) for r in runs]
    added = [r.get(results.ADDED_PER_CLASS) or {} for r in runs]
    if not runs or not all(isinstance(p, dict) for p in planned):
        return NA
    classes = sorted({c for p in planned for c in p}, key=str)
    parts = [
        f"{c} {_span([a.get(c, 0) for a in added])} of {_span([p.get(c, 0) for p in planned])} "
        "planned"
        for c in classes
    ]
    return ", ".join(parts) if parts else "the plan asked for none"


def _fraction_text(r: power.Ratio, which: str) -> str:
    if not r.defined:
        return f"undefined for the {which} headroom (not resolved at n = {r.n})"
    return f"{_fmt(r.value, 2)} [{_fmt(r.ci_low, 2)}, {_fmt(r.ci_high, 2)}] of the {which} headroom"


def captured(exp: Experiment, board: pd.DataFrame) -> str:
    """ "Captured: top-1 +0.44 [+0.20, +0.70] of the rebalancing headroom; ..." for every
    generative row (a cGAN row against the oracle rebalancer, an SRGAN row against the oracle
    upscaler), with Fieller's interval; "" when there is no such row."""
    configs = {str(r.get(results.ROW)): r["config"] for r in exp.confirmed}
    bounds = {ROW_BASELINE, ORACLE_ROW, PIPELINE_BOUND_ROW, ROW_ORACLE_REBALANCER}
    rows = [
        str(r)
        for r, n in zip(board[results.ROW], board["n"], strict=True)
        if n > 0 and str(r) not in bounds and is_gan_row(configs.get(str(r), {}))
    ]
    if not rows:
        return ""
    base = row_scores(exp, ROW_BASELINE)
    oracles = {"upscaling": row_scores(exp, ORACLE_ROW)}
    oracles["rebalancing"] = row_scores(exp, ROW_ORACLE_REBALANCER)
    parts = []
    for row in rows:
        cfg, scores = configs[row], row_scores(exp, row)
        which = [
            w
            for w, m in (("rebalancing", "rebalance.method"), ("upscaling", "upscale.method"))
            if cfg.get(m) in ("cgan", "srgan")
        ]
        texts = [
            _fraction_text(power.captured_fraction(scores, base, oracles[w]), w)
            for w in which
            if oracles[w]
        ]
        if texts:
            parts.append(f"{row} " + ", ".join(texts))
    if not parts:
        return ""
    return (
        "Captured: "
        + "; ".join(parts)
        + f" (row - baseline over oracle - baseline; {round(100 * stats.CONFIDENCE)}% Fieller "
        "interval; undefined where the headroom's t-interval includes 0)."
    )
