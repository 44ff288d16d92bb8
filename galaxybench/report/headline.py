"""The first lines of a report: what it ran on, what it found, and how much an upscaler could add.

Usage::

    h = headline(exp, board); h.lines()   # ["Data: ...", "Finding: ...", "Headroom: ...",
                                           #  "Captured: ..."]
    h.to_dict()                            # for provenance.json and the published index

Everything is read from the stored results (records' configs, ``sweep.yaml``, ``summary.json``);
a fact the experiment did not store is written "n/a", never guessed. A comparison is "resolved"
when the 95% t-interval of the paired difference (by seed and split) excludes 0.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import PurePath
from typing import Any

import pandas as pd

from galaxybench import results
from galaxybench.protocol import (
    ROW_BASELINE,
    ROW_CGAN_OFF,
    ROW_DIHEDRAL,
    ROW_ORACLE,
    ROW_ORACLE_BEST,
    ROW_ORACLE_REBALANCER,
    ROW_OVERSAMPLE,
    ROW_SRGAN_OFF,
    ROW_WEIGHTED_CE,
    top_row,
)
from galaxybench.report import power, stats
from galaxybench.report.experiment import Experiment
from galaxybench.report.tables import row_scores

NA = "n/a"
ORACLE_ROW = ROW_ORACLE
PIPELINE_BOUND_ROW = ROW_ORACLE_BEST  # the spelling the sweep writes (protocol)
# What a row is, in words; rows not listed keep their own name.
ROW_LABELS = {
    ORACLE_ROW: "oracle upscaler (bound on upscaling)",
    PIPELINE_BOUND_ROW: "oracle + best rebalancer (pipeline upper bound)",
    ROW_ORACLE_REBALANCER: "oracle rebalancer (bound on rebalancing)",
    ROW_OVERSAMPLE: "plain oversampling",
    ROW_WEIGHTED_CE: "weighted cross-entropy",
    ROW_DIHEDRAL: "dihedral augmentation",
    ROW_BASELINE: "baseline",
}
# The row of the configuration the search chose, and what its ablation rows are.
SEARCHED_ROW = top_row(1)
ABLATIONS = {
    ROW_SRGAN_OFF: "the searched configuration with bicubic upscaling",
    ROW_CGAN_OFF: "the searched configuration without its cGAN",
}
# Keys of the data's preparation facts (PreparedData.info), looked for in these places.
DATA_INFO_KEYS = ("data_info",)


def row_label(row: str) -> str:
    """What a leaderboard row is, in words ("oracle" -> "oracle upscaler (bound on upscaling)")."""
    return ROW_LABELS.get(row, row)


def is_gan_row(config: dict[str, Any]) -> bool:
    """A row that trains a GAN (SRGAN upscaler or cGAN rebalancer) and is not a bound."""
    return (
        config.get("upscale.method") == "srgan" or config.get("rebalance.method") == "cgan"
    ) and config.get("upscale.method") != "oracle"


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


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:+.{digits}f}"


def _ci(g: stats.PairedGain) -> str:
    if g.n < 2:
        return f"no interval at n = {g.n}"
    return f"[{_fmt(g.ci_low)}, {_fmt(g.ci_high)}]"


def _gain_text(g: stats.PairedGain) -> str:
    """ "+0.060 [+0.030, +0.090]", or "+0.060, no interval at n = 1"."""
    return f"{_fmt(g.mean)} {_ci(g)}" if g.n >= 2 else f"{_fmt(g.mean)}, {_ci(g)}"


def _at_n(g: stats.PairedGain) -> str:
    """ " (resolved at n = 5)"; "" at n < 2, where the gain text already says there is none."""
    return f" ({'resolved' if g.resolved else 'not resolved'} at n = {g.n})" if g.n >= 2 else ""


def _data_info(exp: Experiment) -> dict[str, Any]:
    for source in (exp.summary, exp.sweep):
        for key in DATA_INFO_KEYS:
            if isinstance(source.get(key), dict):
                return source[key]
    for r in exp.records:
        if isinstance(r.get("data_info"), dict):
            return r["data_info"]
    return {}


def data_name(exp: Experiment) -> str:
    """The data by name: the embedded synthetic set or the file's basename, never a path."""
    for value in (exp.summary.get("data"), exp.sweep.get("data")):
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if "embedded" in text.lower():
                return "embedded synthetic Galaxy10-format set"
            if "(" in text:  # "downloaded Galaxy10 DECaLS (/path/file.h5; name)": keep the words
                return text.split("(", 1)[0].strip() + f" ({PurePath(_path_in(text)).name})"
            return PurePath(text).name if "/" in text else text
    fingerprints = {r.get("data_fingerprint") for r in exp.records} - {None, ""}
    if fingerprints:
        return f"unnamed data (not recorded; fingerprint {sorted(fingerprints)[0][:12]})"
    return NA


def _path_in(text: str) -> str:
    inner = text.split("(", 1)[1].rstrip(")")
    return inner.split(";", 1)[0].strip()


def _values(exp: Experiment, key: str) -> list[Any]:
    base = exp.sweep.get("resolved_base_config")
    found = [r["config"].get(key) for r in exp.confirmed if key in r["config"]]
    if not found and isinstance(base, dict):
        found = [base.get(key)]
    return sorted({v for v in found if v is not None}, key=repr)


def _join(values: list[Any]) -> str:
    return "/".join(str(v) for v in values) if values else NA


def data_line(exp: Experiment) -> str:
    """ "Data: <name>; N = ... after dedupe; HR/LR px; epochs of each stage; seeds; splits."""
    info = _data_info(exp)
    counts = info.get("counts")
    n = sum(counts) if isinstance(counts, list) else None
    if n is None and isinstance(info.get("n_read"), int):
        n = info["n_read"] - int(info.get("n_duplicates_dropped") or 0)
    dropped = info.get("n_duplicates_dropped")
    n_text = (
        NA
        if n is None
        else f"{n}" + (f" ({dropped} duplicates dropped)" if dropped is not None else "")
    )
    split = info.get("split_counts")
    split_text = (
        "/".join(str(split.get(k, NA)) for k in ("train", "val", "test"))
        if isinstance(split, dict)
        else NA
    )
    hr = _values(exp, "data.hr_size")
    lr = _values(exp, "data.lr_size") or [int(v) // 2 for v in hr if isinstance(v, int)]
    epochs = (
        f"SRGAN {_join(_values(exp, 'srgan.pretrain_epochs'))} pre-train + "
        f"{_join(_values(exp, 'srgan.epochs'))}, cGAN {_join(_values(exp, 'cgan.epochs'))}, "
        f"classifier {_join(_values(exp, 'classifier.epochs'))}"
    )
    seeds = sorted({r.get("seed") for r in exp.confirmed} - {None}, key=repr)
    splits = _values(exp, "data.split_seed")
    return (
        f"Data: {data_name(exp)}; N = {n_text} after dedupe; train/val/test {split_text}; "
        f"HR {_join(hr)} px, LR {_join(lr)} px; epochs: {epochs}; "
        f"confirmation seeds {_join(seeds)} (n = {len(seeds)}); "
        f"split seed{'s' if len(splits) > 1 else ''} {_join(splits)}."
    )


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


def _abs(g: stats.PairedGain) -> stats.PairedGain:
    if g.mean >= 0:
        return g
    return stats.PairedGain(g.n, -g.mean, -g.ci_high, -g.ci_low, 1.0 - g.win_share)


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
