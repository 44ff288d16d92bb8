"""The budget ladder of a multi-fidelity search: rung fractions and the epochs each stage runs.

A trial climbs rungs; at rung r every trained stage runs at ``fraction[r]`` of its profile's
epochs, and the last rung is always the full budget (fraction 1). Epoch counts are rounded UP:
``epochs_at(full, f) = ceil(f * full)`` (a 1e-9 tolerance absorbs float noise such as 1/3 * 9),
at least 1 when ``full >= 1`` and 0 when ``full == 0``; so a rung never trains less than its
fraction and consecutive rungs never go down.

The SRGAN trains in one fixed sequence, ``pretrain_epochs`` of pixel-MSE then ``epochs`` of
adversarial training; at a fraction it runs the first ``epochs_at(pretrain + epochs, f)`` epochs of
that sequence (pre-training first). Rungs are therefore prefixes of one another and a promotion
continues where the last rung stopped; scaling the two phases separately would interleave them
differently at every rung and no checkpoint could be continued. A low rung may thus train the
SRGAN without its adversarial phase (an SRResNet), exactly as the full run looks at that point.

``compute_summary`` totals the compute of stored rows (rung by rung) and estimates what an
exhaustive full-budget run would have cost; the sweep's summary and the report both use it.

Torch-free (the search space and the report read it). Usage::

    ladder = make_ladder(reduction_factor=3, rungs=3)        # (1/9, 1/3, 1.0)
    epochs_at(30, ladder[0])                                 # 4
    srgan_epochs(cfg, 1 / 3)                                 # position in pretrain+adversarial
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from galaxybench import results
from galaxybench.errors import ConfigError

FULL = 1.0
_TOL = 1e-9


def epochs_at(full: int, fraction: float) -> int:
    """Epochs a stage with ``full`` epochs runs at ``fraction`` of its budget (rounded up, >= 1)."""
    if full <= 0:
        return 0
    return min(full, max(1, math.ceil(fraction * full - _TOL)))


def make_ladder(reduction_factor: int, rungs: int) -> tuple[float, ...]:
    """Geometric fractions ``rf^-(rungs-1), ..., rf^-1, 1`` (Hyperband's budgets)."""
    if reduction_factor < 2 or rungs < 1:
        raise ConfigError("a ladder needs reduction_factor >= 2 and rungs >= 1")
    return tuple(float(reduction_factor) ** (r - rungs + 1) for r in range(rungs))


def check_ladder(ladder: Sequence[Any], where: str = "search.ladder") -> tuple[float, ...]:
    """A validated ladder: increasing fractions in (0, 1], ending at 1."""
    if not isinstance(ladder, (list, tuple)) or not ladder:
        raise ConfigError(f"{where} must be a non-empty list of fractions ending at 1.0")
    out = []
    for v in ladder:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise ConfigError(f"{where}: {v!r} is not a fraction in (0, 1]")
        out.append(float(v))
    if any(b <= a for a, b in pairwise(out)):
        raise ConfigError(f"{where} must increase strictly, got {out}")
    if abs(out[-1] - FULL) > _TOL:
        raise ConfigError(f"{where} must end at 1.0 (the full budget), got {out[-1]}")
    out[-1] = FULL
    return tuple(out)


def budget_units(ladder: Sequence[float], rung: int) -> float:
    """The scheduler's time of rung ``rung``: its fraction in units of the first rung's."""
    return round(ladder[rung] / ladder[0], 6)


def srgan_epochs(cfg: Any, fraction: float) -> int:
    """Position in the SRGAN's pretrain-then-adversarial sequence reached at ``fraction``."""
    return epochs_at(cfg.srgan.pretrain_epochs + cfg.srgan.epochs, fraction)


def stage_epochs(cfg: Any, fraction: float) -> dict[str, int]:
    """Epochs of each trained stage at ``fraction``: srgan (sequence position), cgan, classifier."""
    return {
        "srgan": srgan_epochs(cfg, fraction),
        "cgan": epochs_at(cfg.cgan.epochs, fraction),
        "classifier": epochs_at(cfg.classifier.epochs, fraction),
    }


# --- compute accounting over stored rows (sweep summary, report) ---------------------------------


def rung_totals(rungs: list[dict[str, Any]]) -> dict[str, Any]:
    """Compute seconds by stage and GAN epochs trained, summed over a trial's rungs."""
    compute: dict[str, float] = {}
    for rec in rungs:
        for stage, sec in (rec.get(results.COMPUTE_SECONDS) or {}).items():
            compute[stage] = round(compute.get(stage, 0.0) + float(sec), 3)
    return {
        results.COMPUTE_SECONDS: compute,
        results.COMPUTE_SECONDS_TOTAL: round(sum(compute.values()), 3),
        results.GAN_EPOCHS_TRAINED: sum(
            int(rec.get(results.GAN_EPOCHS_TRAINED, 0)) for rec in rungs
        ),
    }


def _rungs_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A row's rung records; a trial without a ladder is one full-budget rung."""
    if row.get(results.RUNGS):
        return list(row[results.RUNGS])
    if results.COMPUTE_SECONDS not in row:
        return []  # failed before reporting anything
    return [
        {
            results.COMPUTE_SECONDS: row[results.COMPUTE_SECONDS],
            results.GAN_EPOCHS: row.get(results.GAN_EPOCHS, {}),
            results.GAN_EPOCHS_TRAINED: row.get(results.GAN_EPOCHS_TRAINED, 0),
            results.BUDGET_FRACTION: row.get(results.BUDGET_FRACTION, 1.0),
        }
    ]


# The additive fields of ``compute_summary``: summed over phases for a sweep's totals.
SUMMARY_TOTALS = (
    results.COMPUTE_SECONDS_TOTAL,
    "exhaustive_full_budget_seconds",
    results.GAN_EPOCHS_TRAINED,
    "gan_epochs_full_budget",
    "gan_epochs_saved",
)


def summary_totals(summaries: list[dict[str, Any]]) -> dict[str, float]:
    """``SUMMARY_TOTALS`` summed over several ``compute_summary`` results (missing count 0)."""
    return {k: round(sum(float(s.get(k, 0) or 0) for s in summaries), 2) for k in SUMMARY_TOTALS}


def compute_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Compute spent by a phase's trials and what an exhaustive full-budget run would cost.

    ``compute_seconds`` sums every rung of every trial by stage (cache hits cost 0).
    ``gan_epochs_trained`` counts the GAN epochs really trained; ``gan_epochs_full_budget`` the
    epochs the same configurations cost at full budget without a ladder (each distinct GAN stage
    config trained once to its full count, as the stage cache shares it), and
    ``gan_epochs_saved`` the difference. ``exhaustive_full_budget_seconds`` is an estimate: every
    distinct GAN at its full epochs x its measured seconds per epoch, plus one measured
    full-budget classifier-and-rest pass (the median over the phase) per trial.
    """
    compute: dict[str, float] = {}
    trained = 0
    full_epochs: dict[tuple[str, str], int] = {}
    spent: dict[str, list[float]] = {}  # GAN stage -> [seconds, epochs trained]
    full_pass: list[float] = []
    for row in rows:
        for rec in _rungs_of(row):
            seconds = rec.get(results.COMPUTE_SECONDS) or {}
            for stage, sec in seconds.items():
                compute[stage] = round(compute.get(stage, 0.0) + float(sec), 3)
            trained += int(rec.get(results.GAN_EPOCHS_TRAINED, 0))
            for stage, g in (rec.get(results.GAN_EPOCHS) or {}).items():
                full_epochs[(stage, g["key"])] = int(g["full"])
                if g["reached"] > g["start"]:
                    acc = spent.setdefault(stage, [0.0, 0])
                    acc[0] += float(seconds.get(stage, 0.0))
                    acc[1] += g["reached"] - g["start"]
            if float(rec.get(results.BUDGET_FRACTION, 1.0)) >= 1.0:
                full_pass.append(
                    float(seconds.get("classifier", 0.0)) + float(seconds.get("other", 0.0))
                )
    per_epoch = {stage: sec / n for stage, (sec, n) in spent.items() if n}
    full_pass.sort()
    median_pass = full_pass[len(full_pass) // 2] if full_pass else 0.0
    gan_full = sum(full_epochs.values())
    estimate = sum(
        n * per_epoch.get(stage, 0.0) for (stage, _), n in full_epochs.items()
    ) + median_pass * len(rows)
    return {
        results.COMPUTE_SECONDS: compute,
        results.COMPUTE_SECONDS_TOTAL: round(sum(compute.values()), 2),
        "gan_seconds_per_epoch": {k: round(v, 4) for k, v in per_epoch.items()},
        results.GAN_EPOCHS_TRAINED: trained,
        "gan_epochs_full_budget": gan_full,
        "gan_epochs_saved": gan_full - trained,
        "exhaustive_full_budget_seconds": round(estimate, 2),
    }
