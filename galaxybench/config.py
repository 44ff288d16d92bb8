"""One frozen-dataclass config tree, loaded from YAML, overridden by dotted keys, strict.

Dotted keys (``cgan.lr``) are the single namespace of YAML files, ``--set``, search spaces, Ray's
flat config and result columns.

Usage::

    cfg = load_profile("smoke", overrides=["cgan.lr=1.0e-4", "rebalance.method=cgan"])
    cfg.cgan.lr, cfg.key(), to_flat(cfg)["srgan.depth"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from galaxybench import registry
from galaxybench.errors import ConfigError, close_matches, did_you_mean

# The paper's cut: a class is a minority when it has fewer than 1750 of the largest class's 2645
# images (1750 / 2645 = 0.66). The default of ``eval.minority_fraction`` and ``rebalance.*``.
MINORITY_FRACTION = 0.66


@dataclass(frozen=True)
class DataConfig:
    """How the data is prepared (docs/protocol.md, "Data, splits and seeds")."""

    hr_size: int = 32  # HR side in pixels; LR is hr_size // 2
    split_seed: int = 0  # fixed for a whole sweep, independent of the trial seed
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    # "" (labels must be 0..K-1, every class present) | "auto" (sorted present labels -> 0..K-1)
    # | "2,5,8" (2 -> 0, 5 -> 1, 8 -> 2; other labels refused). Part of the prepared cache key.
    remap_labels: str = ""


@dataclass(frozen=True)
class UpscaleConfig:
    method: str = "bicubic"  # bicubic | srgan | oracle


@dataclass(frozen=True)
class SrganConfig:
    """SRGAN (Ledig et al. 2017): residual generator + strided-conv discriminator."""

    depth: int = 8  # residual blocks in the generator
    channels: int = 64
    pretrain_epochs: int = 5  # pixel-loss (MSE) pre-training, as SRResNet
    epochs: int = 20  # adversarial epochs
    lr: float = 1.0e-4
    batch_size: int = 16
    adversarial_weight: float = 1.0e-3  # Ledig et al. 2017, eq. 3
    # Not in Ledig et al.: predict a residual over bicubic x2 (global residual learning, Kim et al.
    # 2016, VDSR), so short CPU trainings start from bicubic quality instead of below it.
    bicubic_skip: bool = False


@dataclass(frozen=True)
class CganConfig:
    """Class-conditional DCGAN (label embedding in G and D)."""

    lr: float = 2.0e-4
    batch_size: int = 16
    betas: tuple[float, float] = (0.5, 0.999)  # Radford et al. 2016
    epochs: int = 20
    latent_dim: int = 100
    width: int = 64  # base number of filters
    train_on: str = "augmented"  # augmented (as the paper) | all
    d_lr_scale: float = 1.0  # discriminator lr = lr x d_lr_scale (TTUR; 1 = the paper's one lr)


@dataclass(frozen=True)
class RebalanceConfig:
    method: str = "none"  # none | cgan | oversample
    # Classes below threshold x the largest train class count are filled up to
    # max(threshold, target) x that count, so the threshold acts over its whole range and target is
    # the least fill level (threshold = target = 0.66: the paper's 1750 of 2645).
    threshold: float = MINORITY_FRACTION
    target: float = MINORITY_FRACTION


@dataclass(frozen=True)
class ClassifierConfig:
    """The paper's CNN and its training (docs/protocol.md, "What a trial is")."""

    loss: str = "ce"  # ce | weighted_ce | focal
    augment: str = "none"  # none | dihedral
    epochs: int = 10  # the most epochs a classifier trains (early stopping may end it sooner)
    # Early stopping: end training after this many epochs without a strictly better validation
    # minority F1 than the best so far (the best epoch's weights are tested either way).
    # 0: no early stopping, every run trains all ``epochs``.
    patience: int = 0
    batch_size: int = 64
    lr: float = 1.0e-3
    dense_units: int = 512
    focal_gamma: float = 2.0  # Lin et al. 2017
    # Standardise inputs per channel by the train split's mean/std (true HR train images, after
    # the stretch). false: plain [-1, 1] pixels, which stall at the class prior on sparse images.
    standardize: bool = True
    # none | asinh: Lupton et al. 2004 (PASP 116, 133) asinh stretch of the pixel intensity
    # u in [0, 1], asinh(u / b) / asinh(1 / b), for sparse, high-dynamic-range images. Applied to
    # what the classifier sees only (upscalers and GANs are fitted on the linear pixels).
    stretch: str = "none"
    asinh_softening: float = 0.05  # b: intensity (fraction of full scale) where asinh turns log


@dataclass(frozen=True)
class EvalConfig:
    minority_fraction: float = (
        MINORITY_FRACTION  # scoring set: classes below this x largest count (1750/2645)
    )


@dataclass(frozen=True)
class MetricsConfig:
    """Secondary quality metrics (docs/protocol.md, "Secondary metrics")."""

    enabled: bool = True
    inception_weights: str | None = None  # path to Inception weights; else $TORCH_HOME cache
    max_samples: int = 2048  # cap on images per set for FID/KID
    kid_subsets: int = 100  # KID subsets (torch-fidelity's default); most of the metrics' cost


@dataclass(frozen=True)
class Config:
    """The whole configuration of one trial."""

    data: DataConfig = field(default_factory=DataConfig)
    upscale: UpscaleConfig = field(default_factory=UpscaleConfig)
    srgan: SrganConfig = field(default_factory=SrganConfig)
    cgan: CganConfig = field(default_factory=CganConfig)
    rebalance: RebalanceConfig = field(default_factory=RebalanceConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    seed: int = 0

    def key(self) -> str:
        """A stable hash of the whole config (hex, 16 chars)."""
        return stable_hash(to_flat(self))

    def replace(self, **dotted: Any) -> Config:
        """A copy with dotted keys replaced: ``cfg.replace(**{"cgan.lr": 1e-4})``."""
        return from_flat({**to_flat(self), **dotted})


# Choices checked by validate(); method names are checked against the registries.
_CHOICES = {
    "cgan.train_on": ("augmented", "all"),
    "classifier.stretch": ("none", "asinh"),
}


def stable_hash(obj: Any) -> str:
    """SHA256 of canonical JSON (sorted keys), first 16 hex chars."""
    blob = json.dumps(obj, sort_keys=True, default=list, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Value converted to type ``tp`` or ConfigError naming the key."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(key, value, non_none[0])
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(
                f"config key {key!r} must be a list of {len(args)} values, got {value!r}"
            )
        return tuple(_coerce(key, v, a) for v, a in zip(value, args, strict=True))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"config key {key!r} must be an integer, got {value!r}")
        return value
    if tp is float:
        number = as_number(value)
        if number is None:
            raise ConfigError(f"config key {key!r} must be a number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} must be a string, got {value!r}")
        return value
    raise ConfigError(f"config key {key!r} has unsupported type {tp}")


def as_number(value: Any) -> float | None:
    """A finite number as float, or None; a string such as "1e-4" counts (PyYAML reads 1e-4,
    without a dot, as a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return float(value) if isinstance(value, (int, float)) else None


# Where every config key is listed; an unknown key's message points there instead of listing them.
KEYS_HELP = "galaxybench run --help lists keys"
# Names other tools use for a setting -> its name here (cgan.learning_rate -> cgan.lr).
_SYNONYMS = {
    "learning_rate": "lr",
    "learningrate": "lr",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "epoch": "epochs",
    "batch": "batch_size",
    "batchsize": "batch_size",
    "bs": "batch_size",
    "beta": "betas",
    "z_dim": "latent_dim",
    "nz": "latent_dim",
}


def suggest_keys(key: str, known: Sequence[str] | None = None) -> list[str]:
    """The known dotted keys a mistyped ``key`` most likely meant, best first ([] if none)."""
    known = sorted(flat_keys() if known is None else known)
    section, dot, leaf = key.strip().lower().replace("-", "_").rpartition(".")
    leaf = _SYNONYMS.get(leaf, leaf)
    normal = f"{section}{dot}{leaf}"
    if normal in known and normal != key:
        return [normal]
    if not dot:  # a bare "lr": every key of that name
        same = [k for k in known if k.rpartition(".")[2] == leaf]
        if same:
            return same
    return close_matches(normal, known)


def unknown_key_message(
    key: str,
    where: str = "",
    known: Sequence[str] | None = None,
    show: Callable[[str], str] = str,
) -> str:
    """One line for an unknown config key: where it came from, the likely key, where keys are.

    ``show`` spells a key as the user wrote it (``cgan__lr`` for keyword arguments).
    """
    known = flat_keys() if known is None else list(known)
    head = f"unknown config key {show(key)!r}" + (f" in {where}" if where else "")
    section = [show(k) for k in known if k.startswith(f"{key}.")]
    if section:
        return f"{head}: {key!r} is a section; name one of its keys ({', '.join(section)})"
    return f"{head}{did_you_mean(suggest_keys(key, known), show)} ({KEYS_HELP})"


def _unknown_in_tree(prefix: str, name: Any, value: Any, names: set[str]) -> str:
    """The message for an unknown name in a nested config (a YAML profile or ``from_tree``)."""
    key = f"{prefix}{name}"
    if "." in str(name) and key in flat_keys():
        section, _, leaf = key.partition(".")
        return f"config key {key!r} must be nested in YAML: {section}: {{{leaf}: ...}}"
    if isinstance(value, dict):  # a mistyped section name
        hint = did_you_mean(close_matches(str(name), sorted(names)))
        return f"unknown config section {key!r}{hint} ({KEYS_HELP})"
    return unknown_key_message(key)


def _build(cls: type, tree: Any, prefix: str) -> Any:
    if not isinstance(tree, dict):
        raise ConfigError(f"config section {prefix.rstrip('.') or 'top'!r} must be a mapping")
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(tree) - names, key=str)
    if unknown:
        raise ConfigError(_unknown_in_tree(prefix, unknown[0], tree[unknown[0]], names))
    kwargs = {}
    for name, value in tree.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(prefix + name, value, tp)
    return cls(**kwargs)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def to_tree(cfg: Config) -> dict[str, Any]:
    """Nested plain dict (tuples as lists), as written to YAML."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def to_flat(cfg: Config) -> dict[str, Any]:
    """Flat dict of dotted keys -> values (tuples as lists)."""
    flat: dict[str, Any] = {}

    def walk(tree: dict, prefix: str) -> None:
        for k, v in tree.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                flat[prefix + k] = v

    walk(to_tree(cfg), "")
    return flat


def flat_keys() -> list[str]:
    """Every dotted config key."""
    return sorted(to_flat(Config()))


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"cgan.lr": 1}`` -> ``{"cgan": {"lr": 1}}``; unknown keys are caught by from_tree."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key {key!r} conflicts with a value above it")
        node[parts[-1]] = value
    return tree


def from_tree(tree: dict[str, Any], base: Config | None = None) -> Config:
    """Config from a nested dict laid over ``base`` (defaults if None), validated."""
    if tree is not None and not isinstance(tree, dict):
        raise ConfigError(
            f"a config must be a mapping of sections (cgan: {{lr: ...}}), got {type(tree).__name__}"
        )
    merged = _merge(to_tree(base or Config()), tree or {})
    cfg = _build(Config, merged, "")
    validate(cfg)
    return cfg


def from_flat(flat: dict[str, Any], base: Config | None = None) -> Config:
    """Config from dotted keys laid over ``base``, validated."""
    return from_tree(unflatten(flat), base)


def parse_override(text: str, where: str = "--set") -> tuple[str, Any]:
    """``"cgan.lr=1.0e-4"`` -> ``("cgan.lr", 1e-4)``; the value is parsed as YAML.

    ``where`` names the source in error messages (``--set``, or the API's keyword arguments).
    """
    if "=" not in text:
        raise ConfigError(f"{where} expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if key not in flat_keys():
        raise ConfigError(unknown_key_message(key, where))
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    # Numbers written as 1e-4 on the command line are meant as numbers.
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    return key, value


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Config with ``KEY=VALUE`` strings applied."""
    flat = dict(parse_override(o) for o in overrides)
    return from_flat(flat, cfg) if flat else cfg


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    """``yaml.safe_load`` of a file, with a one-line error for a missing or malformed file.

    ``what`` names what the file should be (``search space``) in the error for a binary file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path} is not a {what}: it is binary, not UTF-8 text (expected YAML)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not a {what} (expected a YAML file)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None


def profile_names() -> list[str]:
    """Names of the built-in profiles (galaxybench/profiles/*.yaml)."""
    folder = resources.files("galaxybench") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(name: str = "default", overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """A built-in profile (or a YAML file path) with ``KEY=VALUE`` overrides applied."""
    if (
        name.endswith((".yaml", ".yml"))
        or "/" in name
        or (name not in profile_names() and Path(name).exists())
    ):
        path = Path(name)
    else:
        if name not in profile_names():
            raise ConfigError(f"unknown profile {name!r} (known: {', '.join(profile_names())})")
        path = Path(str(resources.files("galaxybench") / "profiles" / f"{name}.yaml"))
    tree = read_yaml(path, "profile") or {}
    try:
        cfg = from_tree(tree)
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None
    return apply_overrides(cfg, overrides)


def profile_keys(name: str, overrides: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The dotted keys a user set: those of ``--set`` and of a profile file (not a built-in).

    A built-in profile holds settings for every method a run may choose (``smoke`` sizes the
    SRGAN too), so its keys are not the user's choice; a profile file's keys are.
    """
    keys = [parse_override(text)[0] for text in overrides]
    if name.endswith((".yaml", ".yml")) or "/" in name:
        keys = sorted(tree_keys(read_yaml(name) or {})) + keys
    return list(dict.fromkeys(keys))


def tree_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of a nested mapping: ``{"cgan": {"lr": 1}}`` -> ``["cgan.lr"]``."""
    out: list[str] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += tree_keys(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


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
