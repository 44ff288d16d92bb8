"""Generative quality of synthetic images, offline-first, with torch-fidelity (docs/protocol.md).

Two families: the galaxy-domain metrics (FID, KID, precision/recall in the penultimate feature
space of a classifier trained on real train images; always available) and the Inception metrics
(FID and IS with torch-fidelity's Inception-v3; only when its weights are on disk: never a
download). Every result records its protocol and N; values that cannot be computed are None with a
reason in ``quality_reasons``.

Usage::

    q = domain_quality(classifier, x_train, y_train, x_syn, y_syn, [0, 4], class_names,
                       device=torch.device("cpu"))
    q["fid_domain"], q["fid_domain_per_class"]["Cigar Shaped Smooth"], q["quality_n_real"]
    inc = inception_quality(x_train, x_syn, weights_path=cfg.metrics.inception_weights,
                            device=device)
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
import torch_fidelity
from torch import nn
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from galaxybench import results
from galaxybench.config import MetricsConfig
from galaxybench.errors import InputError
from galaxybench.images import check_images, check_labels
from galaxybench.metrics.feature_extractors import (
    DOMAIN_EXTRACTOR,
    DOMAIN_NETWORK_KWARG,
    PENULTIMATE,
    ensure_registered,
)
from galaxybench.results import (
    FEATURE_EXTRACTOR,
    FID_DOMAIN_PER_CLASS,
    FID_INCEPTION,
    INCEPTION_N_REAL,
    INCEPTION_N_SYNTHETIC,
    INCEPTION_REASON,
    INCEPTION_WEIGHTS,
    ISC_INCEPTION_MEAN,
    ISC_INCEPTION_STD,
    KID_DOMAIN_PER_CLASS,
    KID_DOMAIN_STD,
    KID_SUBSET_SIZE,
    PRECISION_DOMAIN,
    QUALITY_N_PER_CLASS,
    QUALITY_N_REAL,
    QUALITY_N_SYNTHETIC,
    QUALITY_PROTOCOL,
    QUALITY_REASONS,
    RECALL_DOMAIN,
)

log = logging.getLogger(__name__)

FID_LOW_N = 2048  # FID is biased upward below ~2,048 samples (Heusel et al. 2017; torch-fidelity)
KID_MAX_SUBSET = 1000  # torch-fidelity's default KID subset size (Binkowski et al. 2018)
KID_SUBSETS = MetricsConfig.kid_subsets  # torch-fidelity's default number of KID subsets
PRC_NEIGHBORHOOD = 3  # k of the k-NN manifolds of precision/recall (Kynkaanniemi et al. 2019)
MIN_SAMPLES = {"fid": 2, "kid": 2, "prc": PRC_NEIGHBORHOOD + 1}  # per set, below: None + reason
INCEPTION_EXTRACTOR = "inception-v3-compat"
INCEPTION_NOTE = "Inception Score is of little meaning for galaxies: ImageNet classes"


class UInt8Images(Dataset):
    """A torch Dataset over (n, 3, H, W) uint8 images, yielding (3, H, W) uint8 tensors."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def _check_images(what: str, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    check_images(images, what, error=InputError)
    if labels is not None:
        check_labels(labels, images.shape[0], what, error=InputError)


def _subsample(indices: np.ndarray, max_samples: int, seed: int) -> np.ndarray:
    """At most ``max_samples`` of ``indices``, drawn without replacement by ``seed``, in order."""
    if len(indices) <= max_samples:
        return indices
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(indices, size=max_samples, replace=False))


def _device_scope(device: torch.device) -> tuple[bool, contextlib.AbstractContextManager]:
    """(cuda flag for torch-fidelity, a scope making ``device`` the current CUDA device)."""
    cuda = torch.cuda.is_available() and device.type == "cuda"
    return cuda, (torch.cuda.device(device) if cuda else contextlib.nullcontext())


def _fidelity(
    synthetic: np.ndarray,
    real: np.ndarray,
    *,
    cuda: bool,
    seed: int,
    batch_size: int,
    **metric_kwargs: Any,
) -> dict[str, float]:
    """torch-fidelity on two uint8 image sets; input1 is synthetic, input2 real (its convention)."""
    return torch_fidelity.calculate_metrics(
        input1=UInt8Images(synthetic),
        input2=UInt8Images(real),
        cuda=cuda,
        batch_size=batch_size,
        rng_seed=seed,
        verbose=False,
        cache=False,
        save_cpu_ram=True,  # DataLoader without worker processes: arrays are in memory
        **metric_kwargs,
    )


def _too_few(metric: str, n_real: int, n_synthetic: int) -> str | None:
    need = MIN_SAMPLES[metric]
    if min(n_real, n_synthetic) >= need:
        return None
    return f"{n_real} real and {n_synthetic} synthetic images; {metric} needs >= {need} of each"


def _domain_pair(
    network: nn.Module,
    synthetic: np.ndarray,
    real: np.ndarray,
    *,
    with_prc: bool,
    cuda: bool,
    seed: int,
    batch_size: int,
    kid_subsets: int,
) -> tuple[dict[str, Any], dict[str, str]]:
    """FID, KID (and precision/recall) of one synthetic/real pair: (values, reasons for None)."""
    n_real, n_syn = len(real), len(synthetic)
    values: dict[str, Any] = {
        "fid": None,
        "kid": None,
        "kid_std": None,
        "precision": None,
        "recall": None,
        "kid_subset_size": None,
        "kid_subsets": None,
    }
    reasons = {
        m: r
        for m in (("fid", "kid", "prc") if with_prc else ("fid", "kid"))
        if (r := _too_few(m, n_real, n_syn))
    }
    wanted = {m: m not in reasons for m in ("fid", "kid", "prc") if with_prc or m != "prc"}
    if not any(wanted.values()):
        return values, reasons
    subset = min(KID_MAX_SUBSET, n_real, n_syn)
    # Subsets that contain every sample of both sets are all the same: compute one, not 100.
    subsets = 1 if subset == n_real == n_syn else kid_subsets
    out = _fidelity(
        synthetic,
        real,
        cuda=cuda,
        seed=seed,
        batch_size=batch_size,
        feature_extractor=DOMAIN_EXTRACTOR,
        kid_subset_size=subset,
        kid_subsets=subsets,
        prc_neighborhood=PRC_NEIGHBORHOOD,
        **wanted,
        **{DOMAIN_NETWORK_KWARG: network},
    )
    values["fid"] = out.get(torch_fidelity.KEY_METRIC_FID)
    if wanted["kid"]:
        values.update(
            kid=out[torch_fidelity.KEY_METRIC_KID_MEAN],
            kid_std=out[torch_fidelity.KEY_METRIC_KID_STD],
            kid_subset_size=subset,
            kid_subsets=subsets,
        )
    values["precision"] = out.get(torch_fidelity.KEY_METRIC_PRECISION)
    values["recall"] = out.get(torch_fidelity.KEY_METRIC_RECALL)
    return values, reasons


def _per_class(
    feature_net: nn.Module,
    real: np.ndarray,
    real_labels: np.ndarray,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray,
    classes: Sequence[int],
    class_names: Sequence[str],
    *,
    max_samples: int,
    seed: int,
    **kwargs: Any,
) -> tuple[dict, dict, dict, dict[str, str]]:
    """FID and KID of each class alone: ({name: fid}, {name: kid}, {name: Ns}, reasons)."""
    fid, kid, ns, reasons = {}, {}, {}, {}
    for c in classes:
        name = class_names[c]
        pick_real = _subsample(np.flatnonzero(real_labels == c), max_samples, seed)
        pick_syn = _subsample(np.flatnonzero(synthetic_labels == c), max_samples, seed)
        values, why = _domain_pair(
            feature_net, synthetic[pick_syn], real[pick_real], with_prc=False, seed=seed, **kwargs
        )
        fid[name], kid[name] = values["fid"], values["kid"]
        ns[name] = {"real": len(pick_real), "synthetic": len(pick_syn)}
        reasons.update(
            {
                f"{key}[{name}]": why[m]
                for m, key in (("fid", FID_DOMAIN_PER_CLASS), ("kid", KID_DOMAIN_PER_CLASS))
                if m in why
            }
        )
    return fid, kid, ns, reasons


def _protocol(max_samples: int, seed: int, subset: int | None, subsets: int | None) -> str:
    return (
        f"synthetic vs real train images in the {DOMAIN_EXTRACTOR} feature space "
        f"({PENULTIMATE} layer of the baseline classifier trained on real train images); "
        f"overall = all synthetic vs real images of the augmented classes, per class = that "
        f"class only; at most {max_samples} images per set (subsample seed {seed}); KID "
        f"cubic polynomial kernel, unbiased MMD, subset size {subset} x {subsets} subsets; "
        f"precision/recall k={PRC_NEIGHBORHOOD}; FID biased upward below {FID_LOW_N} images"
    )


def domain_quality(
    feature_net: nn.Module,
    real: np.ndarray,
    real_labels: np.ndarray,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray,
    classes: Sequence[int],
    class_names: Sequence[str],
    *,
    device: torch.device,
    max_samples: int = 2048,
    seed: int = 0,
    batch_size: int = 256,
    kid_subsets: int = KID_SUBSETS,
) -> dict[str, Any]:
    """FID, KID and precision/recall of synthetic vs real train images, galaxy-domain features.

    Args:
        feature_net: a trained classifier with ``features(x)`` taking float (B, 3, H, W) in [-1, 1]
            (the baseline PaperCNN); it is copied, never modified.
        real, synthetic: (n, 3, H, W) uint8 HR images (same H, W); real = the train split.
        real_labels, synthetic_labels: (n,) class indices.
        classes: the augmented classes (indices into ``class_names``).
        max_samples: cap per image set, overall and per class, drawn deterministically by ``seed``.
        batch_size: images per feature-extraction batch (does not change the values).
        kid_subsets: KID subsets (torch-fidelity's default 100); the polynomial kernels of the
            subsets are most of the cost, so a budget-bound trial may lower it.

    Returns:
        ``fid_domain``, ``kid_domain``, ``kid_domain_std``, ``precision_domain``, ``recall_domain``
        (overall), ``fid_domain_per_class``/``kid_domain_per_class`` ({class name: value}), the Ns,
        ``kid_subset_size``, ``fid_low_n``, ``feature_extractor``, ``quality_protocol``, and
        ``quality_reasons`` ({key: why it is None}). Distances are >= 0 up to rounding (KID is
        unbiased and can be slightly negative); precision and recall are fractions in [0, 1].
    """
    _check_images("real images", real, real_labels)
    _check_images("synthetic images", synthetic, synthetic_labels)
    if real.shape[2:] != synthetic.shape[2:]:
        raise InputError(f"real images are {real.shape[2:]} but synthetic {synthetic.shape[2:]}")
    if kid_subsets < 1:
        raise InputError(f"kid_subsets must be >= 1, got {kid_subsets}")
    ensure_registered()  # a Ray worker may hold a fresh torch-fidelity registry
    cuda, scope = _device_scope(device)
    real_labels, synthetic_labels = np.asarray(real_labels), np.asarray(synthetic_labels)
    classes = [int(c) for c in classes]
    kwargs = dict(cuda=cuda, seed=seed, batch_size=batch_size, kid_subsets=kid_subsets)
    pick_real = _subsample(np.flatnonzero(np.isin(real_labels, classes)), max_samples, seed)
    pick_syn = _subsample(np.flatnonzero(np.isin(synthetic_labels, classes)), max_samples, seed)
    with scope:
        overall, why = _domain_pair(
            feature_net, synthetic[pick_syn], real[pick_real], with_prc=True, **kwargs
        )
        reasons = {
            key: why[m]
            for m, keys in (
                ("fid", [results.FID_DOMAIN]),
                ("kid", [results.KID_DOMAIN, KID_DOMAIN_STD]),
                ("prc", [PRECISION_DOMAIN, RECALL_DOMAIN]),
            )
            if m in why
            for key in keys
        }
        per_class = _per_class(
            feature_net,
            real,
            real_labels,
            synthetic,
            synthetic_labels,
            classes,
            class_names,
            max_samples=max_samples,
            **kwargs,
        )
    fid_per_class, kid_per_class, n_per_class, class_reasons = per_class
    reasons.update(class_reasons)
    n_real, n_syn = len(pick_real), len(pick_syn)
    return {
        results.FID_DOMAIN: overall["fid"],
        results.KID_DOMAIN: overall["kid"],
        KID_DOMAIN_STD: overall["kid_std"],
        PRECISION_DOMAIN: overall["precision"],
        RECALL_DOMAIN: overall["recall"],
        FID_DOMAIN_PER_CLASS: fid_per_class,
        KID_DOMAIN_PER_CLASS: kid_per_class,
        QUALITY_N_REAL: n_real,
        QUALITY_N_SYNTHETIC: n_syn,
        QUALITY_N_PER_CLASS: n_per_class,
        KID_SUBSET_SIZE: overall["kid_subset_size"],
        results.KID_SUBSETS: overall["kid_subsets"],
        results.FID_LOW_N: min(n_real, n_syn) < FID_LOW_N,
        FEATURE_EXTRACTOR: f"{DOMAIN_EXTRACTOR}:{PENULTIMATE}",
        QUALITY_PROTOCOL: _protocol(
            max_samples, seed, overall["kid_subset_size"], overall["kid_subsets"]
        ),
        QUALITY_REASONS: reasons,
    }


def inception_weights_file(weights_path: str | os.PathLike | None = None) -> str:
    """The Inception weights file to use: ``weights_path`` or the file torch-fidelity would cache.

    torch-fidelity downloads ``URL_INCEPTION_V3`` with ``torch.hub.load_state_dict_from_url``,
    which keeps it as ``torch.hub.get_dir()/checkpoints/<file name of the URL>``
    ($TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth).
    """
    if weights_path is not None:
        return os.fspath(weights_path)
    name = os.path.basename(urlparse(URL_INCEPTION_V3).path)
    return os.path.join(torch.hub.get_dir(), "checkpoints", name)


def _unusable_weights(path: str) -> str | None:
    """Why the weights file cannot be used, or None when it is a safely loadable state dict."""
    if not os.path.isfile(path):
        return f"Inception weights not found at {path} (no download: set metrics.inception_weights)"
    try:
        # Loading with the restricted unpickler first: torch-fidelity itself loads the file with
        # weights_only=False, which is safe only once this has accepted the same bytes.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        return f"Inception weights at {path} are not a safely loadable state dict: {exc}"
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        return f"Inception weights at {path} are not a state dict of tensors"
    return None


def _inception_nulls(reason: str, n_real: int, n_syn: int) -> dict[str, Any]:
    return {
        FID_INCEPTION: None,
        ISC_INCEPTION_MEAN: None,
        ISC_INCEPTION_STD: None,
        INCEPTION_REASON: reason,
        results.INCEPTION_NOTE: INCEPTION_NOTE,
        INCEPTION_WEIGHTS: None,
        INCEPTION_N_REAL: n_real,
        INCEPTION_N_SYNTHETIC: n_syn,
    }


def inception_quality(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    weights_path: str | os.PathLike | None = None,
    device: torch.device,
    max_samples: int = 2048,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Inception-v3 FID (synthetic vs real) and Inception Score (synthetic), offline only.

    Computed only when the weights are on disk (``weights_path``, else torch-fidelity's cache file
    in $TORCH_HOME); otherwise every value is None and ``inception_reason`` says why. Never
    downloads, never raises on missing or unusable weights. ``real`` and ``synthetic`` are
    (n, 3, H, W) uint8 (any size: Inception resizes to 299 px), capped at ``max_samples`` each.
    """
    _check_images("real images", real)
    _check_images("synthetic images", synthetic)
    real = real[_subsample(np.arange(len(real)), max_samples, seed)]
    synthetic = synthetic[_subsample(np.arange(len(synthetic)), max_samples, seed)]
    n_real, n_syn = len(real), len(synthetic)
    path = inception_weights_file(weights_path)
    reason = _unusable_weights(path) or _too_few("fid", n_real, n_syn)
    if reason is not None:
        log.info("Inception metrics skipped: %s", reason)
        return _inception_nulls(reason, n_real, n_syn)
    cuda, scope = _device_scope(device)
    try:
        with scope:
            # The weights path is always given: torch-fidelity never reaches its downloader.
            out = _fidelity(
                synthetic,
                real,
                cuda=cuda,
                seed=seed,
                batch_size=batch_size,
                fid=True,
                isc=True,
                isc_splits=min(10, n_syn),
                feature_extractor=INCEPTION_EXTRACTOR,
                feature_extractor_weights_path=path,
            )
    except (RuntimeError, ValueError, KeyError) as exc:  # e.g. a state dict of another network
        log.warning("Inception metrics failed: %s", exc)
        return _inception_nulls(
            f"Inception metrics failed with weights {path}: {exc}", n_real, n_syn
        )
    return {
        FID_INCEPTION: out[torch_fidelity.KEY_METRIC_FID],
        ISC_INCEPTION_MEAN: out[torch_fidelity.KEY_METRIC_ISC_MEAN],
        ISC_INCEPTION_STD: out[torch_fidelity.KEY_METRIC_ISC_STD],
        INCEPTION_REASON: None,
        results.INCEPTION_NOTE: INCEPTION_NOTE,
        INCEPTION_WEIGHTS: path,
        INCEPTION_N_REAL: n_real,
        INCEPTION_N_SYNTHETIC: n_syn,
    }


def real_halves(
    labels: np.ndarray, classes: Sequence[int], *, max_samples: int = 2048, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint, equally sized, class-stratified halves of the positions of ``classes``.

    Each class is shuffled by ``seed`` and cut in two equal parts (an odd image left out); each
    half is then capped at ``max_samples``. Returns sorted int64 position arrays.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    halves: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for c in sorted({int(c) for c in classes}):
        members = rng.permutation(np.flatnonzero(labels == c))
        cut = len(members) // 2
        halves[0].append(members[:cut])
        halves[1].append(members[cut : 2 * cut])
    a, b = (
        np.sort(np.concatenate(h)).astype(np.int64) if h else np.empty(0, np.int64) for h in halves
    )
    n = min(len(a), max_samples)
    return _subsample(a, n, seed), _subsample(b, n, seed + 1)


def domain_fid_reference(
    feature_net: nn.Module,
    real: np.ndarray,
    real_labels: np.ndarray,
    classes: Sequence[int],
    *,
    device: torch.device,
    max_samples: int = 2048,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Real-vs-real FID: two disjoint halves of the real images of ``classes``, same features.

    The floor a perfect generator would reach at this N (FID is biased upward at small N): read
    ``fid_domain`` against it. Each class is split in half (stratified, shuffled by ``seed``), so
    both halves have the same class mix; each half holds at most ``max_samples`` images.

    Returns:
        ``fid_domain_real_ref`` (None with ``fid_domain_real_ref_reason`` when a half has fewer
        than 2 images) and ``fid_domain_real_ref_n`` (images per half).
    """
    _check_images("real images", real, real_labels)
    ensure_registered()
    a, b = real_halves(real_labels, classes, max_samples=max_samples, seed=seed)
    n = len(a)
    out: dict[str, Any] = {
        results.FID_DOMAIN_REAL_REF: None,
        "fid_domain_real_ref_n": int(n),
        "fid_domain_real_ref_reason": _too_few("fid", n, n),
    }
    if out["fid_domain_real_ref_reason"] is None:
        cuda, scope = _device_scope(device)
        with scope:
            values = _fidelity(
                real[a],
                real[b],
                cuda=cuda,
                seed=seed,
                batch_size=batch_size,
                fid=True,
                feature_extractor=DOMAIN_EXTRACTOR,
                **{DOMAIN_NETWORK_KWARG: feature_net},
            )
        out[results.FID_DOMAIN_REAL_REF] = values[torch_fidelity.KEY_METRIC_FID]
    return out
