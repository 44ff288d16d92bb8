"""Range and choice checks of a config: ``validate`` and the tables it reads.

``config_tree.from_tree`` calls it on every config it builds; ``galaxybench.config`` re-exports it.

Usage::

    validate(cfg)  # ConfigError naming the key on the first problem
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from galaxybench import registry
from galaxybench.errors import ConfigError

if TYPE_CHECKING:
    from galaxybench.config_tree import Config

# Choices checked by validate(); method names are checked against the registries.
_CHOICES = {
    "cgan.train_on": ("augmented", "all"),
    "classifier.stretch": ("none", "asinh"),
}

# Numeric ranges checked by validate(): ``">= 2"``, ``"> 0"`` or an interval such as ``"(0, 1]"``
# (round bracket: bound excluded). A tuple value (cgan.betas) is checked element by element.
_RANGES: dict[str, str] = {
    "data.hr_size": ">= 8",
    "data.val_fraction": "(0, 0.5)",
    "data.test_fraction": "(0, 0.5)",
    "srgan.depth": "[1, 64]",
    "srgan.lr": "> 0",
    "srgan.batch_size": ">= 2",
    "srgan.epochs": ">= 0",
    "srgan.pretrain_epochs": ">= 0",
    "cgan.lr": "> 0",
    "cgan.batch_size": ">= 2",
    "cgan.epochs": ">= 0",
    "cgan.d_lr_scale": "> 0",
    "cgan.betas": "[0, 1)",
    "rebalance.threshold": "(0, 1]",
    "rebalance.target": "(0, 1]",
    "classifier.epochs": ">= 1",
    "classifier.patience": ">= 0",
    "classifier.batch_size": ">= 2",
    "classifier.lr": "> 0",
    "classifier.asinh_softening": "(0, 10]",
    "eval.minority_fraction": "(0, 1]",
    "metrics.max_samples": ">= 2",
    "metrics.kid_subsets": ">= 1",
}
# The config keys whose value names a registered implementation (galaxybench.registry).
_REGISTERED = {
    "upscale.method": "UPSCALERS",
    "rebalance.method": "REBALANCERS",
    "classifier.loss": "CLASSIFIER_LOSSES",
    "classifier.augment": "CLASSIFIER_AUGMENTS",
}


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _in_range(value: float, spec: str) -> bool:
    """Whether ``value`` satisfies a range of ``_RANGES``."""
    if spec.startswith(">="):
        return value >= float(spec[2:])
    if spec.startswith(">"):
        return value > float(spec[1:])
    low, high = (float(x) for x in spec[1:-1].split(","))
    above = value >= low if spec[0] == "[" else value > low
    below = value <= high if spec[-1] == "]" else value < high
    return above and below


def _get(cfg: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def _check_ranges(cfg: Config) -> None:
    for key, spec in _RANGES.items():
        value = _get(cfg, key)
        values = value if isinstance(value, tuple) else (value,)
        word = "" if spec[0] in "<>" else "in "
        _check(all(_in_range(v, spec) for v in values), f"{key} must be {word}{spec}, got {value}")


def _check_names(cfg: Config) -> None:
    for key, registry_name in _REGISTERED.items():
        known = getattr(registry, registry_name)
        value = _get(cfg, key)
        _check(value in known, f"{key} must be one of {', '.join(known.names())}, got {value!r}")
    for key, choices in _CHOICES.items():
        value = _get(cfg, key)
        _check(value in choices, f"{key} must be one of {', '.join(choices)}, got {value!r}")


def validate(cfg: Config) -> None:
    """Range and choice checks; ConfigError naming the key on the first problem.

    Method names are looked up in the registries, which load the stages (and stage plugins) on
    first use; importing this module loads none of them.
    """
    _check_ranges(cfg)
    _check(
        cfg.data.hr_size % 8 == 0,
        f"data.hr_size must be a multiple of 8 (three 2x poolings), got {cfg.data.hr_size}",
    )
    remap = [p.strip() for p in cfg.data.remap_labels.split(",")]
    _check(
        cfg.data.remap_labels in ("", "auto")
        or (len(remap) >= 2 and all(p.isdigit() for p in remap) and len(set(remap)) == len(remap)),
        "data.remap_labels must be empty, 'auto' or at least two distinct labels like '2,5,8', "
        f"got {cfg.data.remap_labels!r}",
    )
    _check_names(cfg)
