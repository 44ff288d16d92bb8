"""The first lines of a report: what it ran on, what it found, and how much an upscaler could add.

Usage::

    h = headline(exp, board); h.lines()   # ["Data: ...", "Finding: ...", "Headroom: ...",
                                           #  "Captured: ..."]
    h.to_dict()                            # for provenance.json and the published index

Everything is read from the stored results (records' configs, ``sweep.yaml``, ``summary.json``);
a fact the experiment did not store is written "n/a", never guessed. A comparison is "resolved"
when the 95% t-interval of the paired difference (by seed and split) excludes 0.

This module writes the finding and assembles the headline; the data line is in
``headline_data``, the headroom and captured sentences in ``headline_headroom``, row names and
number formats in ``headline_words`` (all re-exported here).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass

import pandas as pd

from galaxybench import results
from galaxybench.protocol import ROW_BASELINE, ROW_ORACLE_REBALANCER
from galaxybench.report import power, stats
from galaxybench.report.experiment import Experiment
from galaxybench.report.headline_data import DATA_INFO_KEYS, data_line, data_name
from galaxybench.report.headline_headroom import captured, headroom, oracle_counts
from galaxybench.report.headline_words import (
    ABLATIONS,
    NA,
    ORACLE_ROW,
    PIPELINE_BOUND_ROW,
    ROW_LABELS,
    SEARCHED_ROW,
    _abs,
    _at_n,
    _ci,
    _fmt,
    _gain_text,
    is_gan_row,
    row_label,
)
from galaxybench.report.tables import row_scores


@dataclass
class Headline:
    """The report's first lines; each field is one sentence."""

    data: str
    finding: str
    headroom: str
    search: str = ""  # set when the search yielded no usable GAN configuration
    captured: str = ""  # each generative row's fraction of the headroom

    def lines(self) -> list[str]:
        return [
            s for s in (self.search, self.data, self.finding, self.headroom, self.captured) if s
        ]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _best(board: pd.DataFrame, rows: list[str]) -> str | None:
    ranked = [r for r in board[results.ROW] if r in rows]  # the board is ranked best first
    return ranked[0] if ranked else None


def searched_failures(exp: Experiment) -> str:
    """ "the searched configuration (top-1) diverged on 4 of 5 confirmation seeds", or "".

    The top-1 row is the configuration the search chose; its runs that did not finish are said
    before any comparison, since the rows compared may then be its ablations, not itself.
    """
    runs = [r for r in exp.confirmed if str(r.get(results.ROW)) == SEARCHED_ROW]
    bad = Counter(
        str(r.get(results.STATUS)) for r in runs if r.get(results.STATUS) != results.STATUS_OK
    )
    if not bad:
        return ""
    what = " and ".join(f"{status} on {n}" for status, n in sorted(bad.items()))
    return (
        f"the searched configuration ({SEARCHED_ROW}) {what} of {len(runs)} confirmation "
        f"seed{'s' if len(runs) > 1 else ''}"
    )


def _gan_label(row: str, searched_failed: bool) -> str:
    """How the finding names the best GAN row: an ablation is never "the best configuration"."""
    if row == SEARCHED_ROW and searched_failed:
        return f"the searched configuration ({row}, on the seeds it finished)"
    if row == SEARCHED_ROW:
        return f"the best GAN configuration ({row})"
    if row in ABLATIONS:
        return f"the best GAN row, {row} ({ABLATIONS[row]})"
    return f"the best GAN row ({row_label(row)})"


def finding(exp: Experiment, board: pd.DataFrame) -> str:
    """The best classical row against the best GAN row, with the paired difference; first, how
    many confirmation seeds the searched configuration failed on, when any."""
    configs = {str(r.get(results.ROW)): r["config"] for r in exp.confirmed}
    ok_rows = [str(r) for r, n in zip(board[results.ROW], board["n"], strict=True) if n > 0]
    bounds = {ROW_BASELINE, ORACLE_ROW, PIPELINE_BOUND_ROW, ROW_ORACLE_REBALANCER}
    gan = _best(board, [r for r in ok_rows if r not in bounds and is_gan_row(configs[r])])
    classical = _best(
        board,
        [
            r
            for r in ok_rows
            if r not in bounds
            and not is_gan_row(configs[r])
            and configs[r].get("upscale.method") != "oracle"
        ],
    )
    failed = searched_failures(exp)
    text = _comparison(exp, gan, classical, bool(failed))
    return (
        "Finding: " + (f"{failed}; " if failed else "") + text + _mde_sentence(exp, gan, classical)
    )


def _mde_sentence(exp: Experiment, gan: str | None, classical: str | None) -> str:
    """ " Effects smaller than +0.083 cannot be resolved at n = 5 (...)." for the finding's
    comparison (the two rows, or the one row against the baseline); "" below two pairs."""
    rows = [r for r in (gan, classical) if r]
    if not rows:
        return ""
    other = row_scores(exp, rows[1]) if len(rows) == 2 else row_scores(exp, ROW_BASELINE)
    sd, n = power.paired_sd(row_scores(exp, rows[0]), other)
    mde = power.mde(sd, n)
    if not math.isfinite(mde):
        return ""
    return (
        f" Effects smaller than {_fmt(mde)} cannot be resolved at n = {n} "
        f"(minimum detectable effect; {power.mde_label()})."
    )


def _comparison(exp: Experiment, gan: str | None, classical: str | None, failed: bool) -> str:
    base = row_scores(exp, ROW_BASELINE)
    label = {r: _gan_label(r, failed) if r == gan else row_label(r) for r in (gan, classical) if r}
    gains = {r: stats.paired_gain(row_scores(exp, r), base) for r in label}
    if gan is None and classical is None:
        return "no row other than the baseline has a confirmed result."
    if gan is None or classical is None:
        only = gan or classical
        g = gains[only]
        what = "no GAN configuration has" if gan is None else "no classical rebalancer has"
        return (
            f"{label[only]} gains {_gain_text(g)} in minority F1 over the baseline{_at_n(g)}; "
            f"{what} a confirmed result to compare with."
        )
    diff = stats.paired_gain(row_scores(exp, gan), row_scores(exp, classical))
    first, second = (gan, classical) if diff.mean > 0 else (classical, gan)
    head = (
        f"{label[first]} ({_gain_text(gains[first])}) beats {label[second]} "
        f"({_gain_text(gains[second])}) in minority-F1 gain over the baseline; the difference"
    )
    if diff.n < 2:
        return f"{head} ({_fmt(abs(diff.mean))}) has no interval at n = {diff.n}."
    verdict = "resolved" if diff.resolved else "not resolved"
    return (
        f"{head} ({_fmt(abs(diff.mean))} {_ci(_abs(diff))}) is {verdict} at "
        f"n = {diff.n} ({stats.interval_label()})."
    )


def search_failures(exp: Experiment) -> str:
    """ "" when the search produced a usable configuration, else why none survived (counts)."""
    search = exp.phase(results.PHASE_SEARCH)
    if not search or any(r.get(results.STATUS) == results.STATUS_OK for r in search):
        return ""
    why = Counter(str(r.get(results.STATUS)) for r in search)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(why.items()))
    return (
        f"No usable GAN configuration: all {len(search)} search trials ended without a "
        f"result ({counts}); the rows below are the baseline and the classical methods."
    )


def headline(exp: Experiment, board: pd.DataFrame) -> Headline:
    """The data line, the finding, the headroom and (if any) why the search found nothing."""
    return Headline(
        data=data_line(exp),
        finding=finding(exp, board),
        headroom=headroom(exp),
        search=search_failures(exp),
        captured=captured(exp, board),
    )


__all__ = [
    "ABLATIONS",
    "DATA_INFO_KEYS",
    "NA",
    "ORACLE_ROW",
    "PIPELINE_BOUND_ROW",
    "ROW_LABELS",
    "SEARCHED_ROW",
    "Headline",
    "captured",
    "data_line",
    "data_name",
    "finding",
    "headline",
    "headroom",
    "is_gan_row",
    "oracle_counts",
    "row_label",
    "search_failures",
    "searched_failures",
]
