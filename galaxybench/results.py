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
# {class name: images} the rebalancing plan asked for, the images added, and the reserve's size
# (the images withheld from training, trial.reserve): the oracle rebalancer adds min(plan, reserve).
PLANNED_PER_CLASS = "planned_per_class"
ADDED_PER_CLASS = "added_per_class"
RESERVE_PER_CLASS = "reserve_per_class"
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
QUALITY_N_PER_CLASS = "quality_n_per_class"  # per class: {"real": N, "synthetic": N}
QUALITY_REASONS = "quality_reasons"  # metric -> why it is None
QUALITY_PROTOCOL = "quality_protocol"  # the sizes and features of the quality metrics, in words
FEATURE_EXTRACTOR = "feature_extractor"  # "<extractor>:<layer>" of the domain metrics
KID_DOMAIN_STD = "kid_domain_std"
KID_SUBSET_SIZE = "kid_subset_size"
KID_SUBSETS = "kid_subsets"
FID_DOMAIN_PER_CLASS = "fid_domain_per_class"
KID_DOMAIN_PER_CLASS = "kid_domain_per_class"
PRECISION_DOMAIN = "precision_domain"
RECALL_DOMAIN = "recall_domain"
# Inception-v3 metrics (offline only: None with the reason when the weights are not on disk).
FID_INCEPTION = "fid_inception"
ISC_INCEPTION_MEAN = "isc_inception_mean"
ISC_INCEPTION_STD = "isc_inception_std"
INCEPTION_REASON = "inception_reason"
INCEPTION_NOTE = "inception_note"
INCEPTION_WEIGHTS = "inception_weights"
INCEPTION_N_REAL = "inception_n_real"
INCEPTION_N_SYNTHETIC = "inception_n_synthetic"
# Classifier Accuracy Score (train on synthetic, test on real; galaxybench.trial.cas).
CAS_ACCURACY = "cas_accuracy"
CAS_PER_CLASS_RECALL = "cas_per_class_recall"
CAS_N_TRAIN = "cas_n_train"
CAS_N_VAL = "cas_n_val"
CAS_N_TEST = "cas_n_test"
CAS_CHANCE = "cas_chance"  # accuracy of always predicting the largest test class
CAS_BEST_EPOCH = "cas_best_epoch"
CAS_REASON = "cas_reason"  # why CAS is None, or None

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
PHASE_BASELINE = "baseline"
PHASE_SEARCH = "search"
PHASE_CONFIRM = "confirm"
PHASES = (PHASE_BASELINE, PHASE_SEARCH, PHASE_CONFIRM)
STUDY_NAME = "search"  # the Optuna study of the search phase
OPTUNA_JOURNAL = "optuna.journal"  # <experiment>/search/optuna.journal
RESULT_JSON = "trial_result_json"  # the whole TrialResult, reported once at the end of a trial
# A fused group's one Tune trial reports its members' TrialResults as a JSON list under this key
# (one results line each), and the seeds it ran under FUSE_SEEDS (its Ray config).
RESULT_JSONS = "trial_result_jsons"
FUSE_SEEDS = "fuse_seeds"
# In a fused member's metrics: {"members", "seeds", "stages": {cache stage: members trained}}.
FUSED = "fused"
# Keys the sweep adds to each TrialResult line of results/<phase>.jsonl (read by the report).
PHASE = "phase"
STATUS = "status"  # one of STATUSES
REASON = "reason"  # why a trial is not ok, in words (None when it is)
ROW = "row"  # the leaderboard row (protocol.ROW_*, protocol.top_row); a search trial's is "search"
TRIAL_ID = "trial_id"
CONFIG_ID = "config_id"  # the same id for configs that train the same classifier
TIME_TOTAL_S = "time_total_s"  # Ray Tune's wall seconds of the trial


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
