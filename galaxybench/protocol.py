"""The benchmark protocol as data: the baseline, the named rows, the scoring minority set.

Torch-free, so the sweep planner and the report can group and name configurations without
importing any stage. What the rows mean is written down in ``docs/protocol.md``.

Usage::

    from galaxybench.protocol import BASELINE, baseline_config, effective_flat, minority_classes
    minority_classes(np.bincount(labels), MINORITY_FRACTION)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from galaxybench.config import MINORITY_FRACTION, to_flat

if TYPE_CHECKING:
    from galaxybench.config import Config

# The baseline is a configuration, not a code path: bicubic + no rebalancing + plain CE.
BASELINE: dict[str, Any] = {
    "upscale.method": "bicubic",
    "rebalance.method": "none",
    "classifier.loss": "ce",
    "classifier.augment": "none",
}

# Row names of the leaderboard (one place; the sweep writes them, the report reads them).
ROW_BASELINE = "baseline"
ROW_SEARCH = "search"
ROW_SRGAN_OFF = "srgan off"
ROW_CGAN_OFF = "cgan off"
ROW_ORACLE = "oracle"  # true HR with no rebalancing: the bound on what an upscaler can add
ROW_ORACLE_BEST = "oracle + best rebalancer"  # true HR + the best rebalancer: the pipeline's bound
# Withheld real minority images added back in place of generated ones: the bound on rebalancing.
ROW_ORACLE_REBALANCER = "oracle rebalancer"
ORACLE_REBALANCER: dict[str, Any] = {"rebalance.method": "oracle"}

# The controls of ``galaxybench validate`` (docs/protocol.md, "Controls"): the baseline again on
# the same seed and split (its difference must be exactly 0), and the baseline with another
# training seed (seed + CONTROL_SEED_OFFSET) on the same split (the noise floor).
ROW_BASELINE_AGAIN = "baseline again"
ROW_BASELINE_OTHER_SEED = "baseline, another seed"
CONTROL_SEED_OFFSET = 1000
MODE_VALIDATE = "validate"  # the run_experiment mode of the controls: baseline + controls phase

# The reserve (docs/protocol.md): this fraction (floor) of every scoring-minority class's training
# images is withheld from every row's training before anything trains, in a split of this name;
# only the oracle rebalancer reads it.
RESERVE_FRACTION = 0.25
RESERVE_SPLIT = "reserve"


def top_row(rank: int) -> str:
    """The row name of the ``rank``-th best search configuration (1-based): ``top-1``..."""
    return f"top-{rank}"


# The classical rows: one classical change to the baseline each.
ROW_OVERSAMPLE = "oversample"
ROW_WEIGHTED_CE = "weighted_ce"
ROW_DIHEDRAL = "dihedral"
CLASSICAL: dict[str, dict[str, Any]] = {
    ROW_OVERSAMPLE: {"rebalance.method": "oversample"},
    ROW_WEIGHTED_CE: {"classifier.loss": "weighted_ce"},
    ROW_DIHEDRAL: {"classifier.augment": "dihedral"},
}


def confirm_rows(top_k: int) -> tuple[str, ...]:
    """Every row name the confirm phase can write when it confirms ``top_k`` search configs.

    In plan order (``galaxybench.sweep.plan.confirm_points``): the top-k, the two ablations of the
    best, the classical rows, the two oracles. A row that would train what an earlier row trains is
    left out of a sweep, so a sweep writes a subset of these.
    """
    return (
        *(top_row(rank) for rank in range(1, top_k + 1)),
        ROW_SRGAN_OFF,
        ROW_CGAN_OFF,
        *CLASSICAL,
        ROW_ORACLE,
        ROW_ORACLE_BEST,
    )


# Rows that train on true HR images: bounds the report shows apart from the methods.
BOUND_ROWS = (ROW_ORACLE, ROW_ORACLE_BEST)


def row_names(top_k: int) -> tuple[str, ...]:
    """Every leaderboard row a sweep confirming ``top_k`` configs can have: baseline first."""
    return (ROW_BASELINE, *confirm_rows(top_k))


def baseline_config(cfg: Config) -> Config:
    """``cfg`` with no learned enhancement: bicubic + none + ce + none."""
    return cfg.replace(**BASELINE)


# Which stage reads which config key: a key (or a whole section, ending in ".") listed here is
# read only under every one of its conditions; every other key is always read. The one map behind
# effective_flat, the report's blank cells, the warnings on inert settings and the refusal of a
# search over an inert key. A section named after a method (``srgan``, ``cgan``) is read only by
# that method (``trial.steps`` hands a stage ``ctx.section(method)``).
@dataclass(frozen=True)
class ReadWhen:
    """A condition for a key to be read: ``control`` has one of ``values`` (``negate``: none)."""

    control: str
    values: tuple[Any, ...]
    negate: bool = False

    def holds(self, value: Any) -> bool:
        """Whether a config whose ``control`` is ``value`` satisfies the condition."""
        return (value in self.values) != self.negate

    def describe(self) -> str:
        """``rebalance.method is cgan``, ``rebalance.method is not none``..."""
        words = " or ".join(show_value(v) for v in self.values)
        return f"{self.control} is {'not ' if self.negate else ''}{words}"


_GAN_QUALITY = (ReadWhen("metrics.enabled", (True,)), ReadWhen("rebalance.method", ("cgan",)))
READ_WHEN: dict[str, tuple[ReadWhen, ...]] = {
    "srgan.": (ReadWhen("upscale.method", ("srgan",)),),
    "cgan.": (ReadWhen("rebalance.method", ("cgan",)),),
    # trial.steps.rebalance plans no image for the baseline rebalancer.
    "rebalance.threshold": (ReadWhen("rebalance.method", ("none",), negate=True),),
    "rebalance.target": (ReadWhen("rebalance.method", ("none",), negate=True),),
    "classifier.focal_gamma": (ReadWhen("classifier.loss", ("focal",)),),
    "classifier.asinh_softening": (ReadWhen("classifier.stretch", ("asinh",)),),
    # trial.quality: sizes and weights of the generative metrics, computed for the cGAN's images.
    "metrics.max_samples": _GAN_QUALITY,
    "metrics.kid_subsets": _GAN_QUALITY,
    "metrics.inception_weights": _GAN_QUALITY,
}


def show_value(value: Any) -> str:
    """A config value as written in YAML and ``--set``: true, none, 0.66."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def read_conditions(key: str) -> tuple[ReadWhen, ...]:
    """The conditions under which ``key`` is read; () when it is always read."""
    for name, conditions in READ_WHEN.items():
        if key == name or (name.endswith(".") and key.startswith(name)):
            return conditions
    return ()


def unread_because(key: str, flat: dict[str, Any]) -> ReadWhen | None:
    """The first condition of ``key`` that the flat config fails; None when the key is read."""
    return next((c for c in read_conditions(key) if not c.holds(flat.get(c.control))), None)


def inert_keys(flat: dict[str, Any]) -> dict[str, ReadWhen]:
    """The keys of a flat config that no stage reads, each with the condition it fails."""
    out = {key: unread_because(key, flat) for key in flat}
    return {key: cond for key, cond in out.items() if cond is not None}


def inert_message(keys: str | list[str], flat: dict[str, Any]) -> str | None:
    """``cgan.lr has no effect: it is read only when rebalance.method is cgan (here: none)``.

    ``keys`` failing the same condition share one line; None when the first key is read.
    """
    keys = [keys] if isinstance(keys, str) else keys
    cond = unread_because(keys[0], flat)
    if cond is None:
        return None
    here = show_value(flat.get(cond.control))
    subject = f"{keys[0]} has" if len(keys) == 1 else f"{', '.join(keys)} have"
    pronoun = "it is" if len(keys) == 1 else "they are"
    return f"{subject} no effect: {pronoun} read only when {cond.describe()} (here: {here})"


def inert_settings(cfg: Config, keys: Iterable[str]) -> list[str]:
    """One line (``inert_message``) per condition that keys of ``keys`` fail under ``cfg``.

    ``keys`` are those the user set (``config.profile_keys``); the CLI prints the lines as
    warnings.
    """
    flat = to_flat(cfg)
    groups: dict[ReadWhen, list[str]] = {}
    for key in dict.fromkeys(keys):
        cond = unread_because(key, flat)
        if cond is not None:
            groups.setdefault(cond, []).append(key)
    return [line for keys in groups.values() if (line := inert_message(keys, flat))]


def effective_flat(cfg: Config) -> dict[str, Any]:
    """Flat config without the keys that cannot change the classifier's outcome.

    The keys no stage reads (``READ_WHEN``: SRGAN settings without the SRGAN upscaler, ...) and
    the quality metrics, which never change it. Two configs with equal effective keys train the
    same classifier, so it is cached once.
    """
    return used_flat(to_flat(cfg))


def used_flat(flat: dict[str, Any]) -> dict[str, Any]:
    """``effective_flat`` of a stored flat dict (no Config built, so no stage is imported)."""
    inert = inert_keys(flat)
    return {k: v for k, v in flat.items() if k not in inert and not k.startswith("metrics.")}


def minority_classes(counts: np.ndarray, fraction: float = MINORITY_FRACTION) -> list[int]:
    """Classes whose count is below ``fraction`` x the largest count: the scoring minority set.

    The set depends only on the data and ``eval.minority_fraction``, never on
    ``rebalance.threshold``, so it is fixed for a whole sweep.
    """
    counts = np.asarray(counts)
    return [int(c) for c in np.flatnonzero(counts < fraction * counts.max())]
