"""Result keys (one place), the objective, TrialResult and provenance.

Usage::

    from galaxybench import results
    result.metrics[results.MINORITY_F1]; results.OBJECTIVE, results.MODE
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from galaxybench.io import atomic_write_json

# --- metric keys  -------------------------------------------------------------
MINORITY_F1 = "minority_f1"
MINORITY_F1_DELTA = "minority_f1_delta"
MACRO_F1 = "macro_f1"
ACCURACY = "accuracy"
BALANCED_ACCURACY = "balanced_accuracy"
PER_CLASS_F1 = "per_class_f1"
PER_CLASS_PRECISION = "per_class_precision"
PER_CLASS_RECALL = "per_class_recall"
PER_CLASS_SUPPORT = "per_class_support"  # test images per true class (sklearn's "support")
# Class names in label order (0..K-1): the order of the confusion matrix's rows and columns and of
# every class-indexed array. The per-class dicts above are keyed by name and carry no order (result
# files are written with sorted keys), so anything that pairs names with an array reads this list.
CLASS_NAMES = "class_names"
CONFUSION_MATRIX = "confusion_matrix"  # (K, K) counts, rows true class, columns prediction
MINORITY_CLASSES = "minority_classes"
AUGMENTED_CLASSES = "augmented_classes"
N_SYNTHETIC = "n_synthetic"
PSNR_SRGAN = "psnr_srgan"
PSNR_BICUBIC = "psnr_bicubic"
SSIM_SRGAN = "ssim_srgan"
SSIM_BICUBIC = "ssim_bicubic"
FID_DOMAIN = "fid_domain"
KID_DOMAIN = "kid_domain"
STAGE_SECONDS = "stage_seconds"
BEST_EPOCH = "best_epoch"
# The classifier's last trained epoch, and whether early stopping (classifier.patience) ended it
# before classifier.epochs (the most it may train at the trial's budget).
STOPPED_EPOCH = "stopped_epoch"
STOPPED_EARLY = "stopped_early"
BASELINE_MINORITY_F1 = "baseline_minority_f1"
# The classifier's input standardisation: {mean, std, stretch, softening, source, n_images}.
CLASSIFIER_INPUT_STATS = "classifier_input_stats"
# A classifier that never left the class prior (one predicted class on validation, or validation
# minority F1 of 0 at every epoch) is "degenerate", with the reason. This is not a trial status:
# its test metrics are real, and dropping the trial would hide the failure, so the trial stays
# "ok" and the report flags it. ``baseline_degenerate`` is True when the baseline of the same seed
# and split was degenerate: that row's delta then measures the baseline's failure.
CLASSIFIER_STATUS = "classifier_status"
CLASSIFIER_STATUS_REASON = "classifier_status_reason"
CLASSIFIER_OK = "ok"
CLASSIFIER_DEGENERATE = "degenerate"
CLASSIFIER_STATUSES = (CLASSIFIER_OK, CLASSIFIER_DEGENERATE)
BASELINE_DEGENERATE = "baseline_degenerate"
BASELINE_CLASSIFIER_STATUS_REASON = "baseline_classifier_status_reason"
# FID of two disjoint halves of the real training images of the augmented classes (same
# features and N as fid_domain): the value a perfect generator would get at this N.
FID_DOMAIN_REAL_REF = "fid_domain_real_ref"
FID_LOW_N = "fid_low_n"  # True when min(N real, N synthetic) of fid_domain is below 2,048
QUALITY_N_REAL = "quality_n_real"
QUALITY_N_SYNTHETIC = "quality_n_synthetic"

# Validation metrics reported every classifier epoch (what ASHA prunes on).
VAL_MINORITY_F1 = "val_minority_f1"
VAL_MACRO_F1 = "val_macro_f1"
VAL_ACCURACY = "val_accuracy"
EPOCH = "epoch"

# The search objective, declared once: validation minority F1, maximized (never test).
OBJECTIVE = VAL_MINORITY_F1
MODE = "max"
# The per-epoch value of the objective as reported to Ray Tune, for the scheduler (ASHA) only.
# The objective key itself is reported once, in the final report of a trial that finished ok, so
# only finished trials are scored by the searcher (a stopped trial is PRUNED, a diverged one FAIL).
VAL_OBJECTIVE_STEP = "val_minority_f1_step"

# Compute accounting and the budget ladder (galaxybench.budget).
# Training seconds by stage ({"srgan", "cgan", "classifier", "other"}; cache hits cost 0),
# cumulative over a trial's rungs; "other" is everything else the trial ran (inference, scoring).
COMPUTE_SECONDS = "compute_seconds"
COMPUTE_SECONDS_TOTAL = "compute_seconds_total"
# Unix time of a trial's last report (its row's place in the order trials finished: anytime curve).
FINISHED_AT = "finished_at"
# Per GAN stage: {"key", "start", "reached", "full"}: epochs this pass started from and reached.
GAN_EPOCHS = "gan_epochs"
GAN_EPOCHS_TRAINED = "gan_epochs_trained"  # epochs trained by this trial (all rungs, both GANs)
RUNG = "rung"  # 1-based rung index of a report
BUDGET = "budget"  # the scheduler's time: a rung's fraction in units of the first rung's
BUDGET_FRACTION = "budget_fraction"
RUNGS = "rungs"  # per rung: {rung, budget_fraction, val objective, compute_seconds, gan_epochs}

# Trial statuses.
STATUS_OK = "ok"
STATUS_DIVERGED = "diverged"
STATUS_FAILED = "failed"
STATUS_PRUNED = "pruned"  # stopped early by the scheduler: validation metrics only, never confirmed
STATUSES = (STATUS_OK, STATUS_DIVERGED, STATUS_FAILED, STATUS_PRUNED)

# The phases of a sweep, in order, and the files the sweep writes that others read.
PHASES = ("baseline", "search", "confirm")
STUDY_NAME = "search"  # the Optuna study of the search phase
OPTUNA_JOURNAL = "optuna.journal"  # <experiment>/search/optuna.journal
RESULT_JSON = "trial_result_json"  # the whole TrialResult, reported once at the end of a trial


@dataclass
class TrialResult:
    """Everything one trial produced.

    Attributes:
        status: ``ok``, ``diverged`` (a GAN's losses went non-finite or collapsed) or ``failed``.
        reason: why the trial did not finish ``ok``; None otherwise.
        metrics: test metrics keyed by the constants above (plus the best-epoch validation score
            under ``val_minority_f1``), JSON-serializable.
        config: the resolved config as flat dotted keys.
        seed: the trial seed.
        data_fingerprint: SHA256 fingerprint of the data file plus preparation settings.
        history: one dict per classifier epoch with the validation metrics.
        cache_hits: stage name -> True when its output came from the stage cache.
        predictions: test predictions, ``{"index": [...], "label": [...], "prediction": [...]}``.
        provenance: package versions, git revision, host.
    """

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    data_fingerprint: str = ""
    reason: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    cache_hits: dict[str, bool] = field(default_factory=dict)
    predictions: dict[str, list[int]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_dict(self, *, with_predictions: bool = False) -> dict[str, Any]:
        """JSON-ready dict: the metrics at top level  plus the rest."""
        d = asdict(self)
        if not with_predictions:
            d.pop("predictions")
        metrics = d.pop("metrics")
        return {**metrics, **d}


_PACKAGES = (
    "galaxybench",
    "torch",
    "torchvision",
    "numpy",
    "scikit-learn",
    "ray",
    "optuna",
    "torch-fidelity",
    "h5py",
    "scipy",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape results."""
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision(cwd: str | Path | None = None) -> str | None:
    """``git rev-parse HEAD`` of the galaxybench checkout, or None outside a git checkout."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """Versions, git revision and host facts, recorded with every result."""
    import torch

    return {
        "versions": package_versions(),
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename): never a half-written file."""
    atomic_write_json(path, obj, default=json_default)


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays, tuples and sets."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
