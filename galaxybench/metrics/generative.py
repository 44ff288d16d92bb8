"""Generative quality of synthetic images, offline-first, with torch-fidelity (docs/protocol.md).

Two families: the galaxy-domain metrics (FID, KID, precision/recall in the penultimate feature
space of a classifier trained on real train images; always available) and the Inception metrics
(FID and IS with torch-fidelity's Inception-v3; only when its weights are on disk: never a
download). Every result records its protocol and N; values that cannot be computed are None with a
reason in ``quality_reasons``. The torch-fidelity calls are in ``generative_fidelity``, the
Inception metrics in ``generative_inception`` (both re-exported here).

Usage::

    q = domain_quality(classifier, x_train, y_train, x_syn, y_syn, [0, 4], class_names,
                       device=torch.device("cpu"))
    q["fid_domain"], q["fid_domain_per_class"]["Cigar Shaped Smooth"], q["quality_n_real"]
    inc = inception_quality(x_train, x_syn, weights_path=cfg.metrics.inception_weights,
                            device=device)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch_fidelity
from torch import nn

from galaxybench import results
from galaxybench.errors import InputError
from galaxybench.metrics.feature_extractors import (
    DOMAIN_EXTRACTOR,
    DOMAIN_NETWORK_KWARG,
    PENULTIMATE,
    ensure_registered,
)
from galaxybench.metrics.generative_fidelity import (
    FID_LOW_N,
    KID_MAX_SUBSET,
    KID_SUBSETS,
    MIN_SAMPLES,
    PRC_NEIGHBORHOOD,
    UInt8Images,
    _check_images,
    _device_scope,
    _domain_pair,
    _fidelity,
    _subsample,
    _too_few,
)
from galaxybench.metrics.generative_inception import (
    INCEPTION_EXTRACTOR,
    INCEPTION_NOTE,
    inception_quality,
    inception_weights_file,
)
from galaxybench.results import (
    FEATURE_EXTRACTOR,
    FID_DOMAIN_PER_CLASS,
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

__all__ = [
    "FID_LOW_N",
    "INCEPTION_EXTRACTOR",
    "INCEPTION_NOTE",
    "KID_MAX_SUBSET",
    "KID_SUBSETS",
    "MIN_SAMPLES",
    "PRC_NEIGHBORHOOD",
    "UInt8Images",
    "domain_fid_reference",
    "domain_quality",
    "inception_quality",
    "inception_weights_file",
    "real_halves",
]


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
