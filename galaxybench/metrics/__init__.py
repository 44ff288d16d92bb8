"""Metrics of a trial: classification (``classification``: minority F1, confusion matrix),
super-resolution (``image_quality``: PSNR, SSIM) and generative quality (``generative``: FID, KID,
precision/recall in the galaxy domain; Inception scores), with the galaxy-domain feature extractor
(``feature_extractors``).

Usage::

    from galaxybench.metrics import classification_metrics, sr_quality
    scores = classification_metrics(y_true, y_pred, class_names, minority=[2, 5])

Names are imported lazily, so ``galaxybench.metrics.classification`` (NumPy only) does not import
torch or torch-fidelity.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "classification_metrics": "galaxybench.metrics.classification",
    "confusion_matrix": "galaxybench.metrics.classification",
    "minority_f1": "galaxybench.metrics.classification",
    "per_class_scores": "galaxybench.metrics.classification",
    "quick_scores": "galaxybench.metrics.classification",
    "psnr": "galaxybench.metrics.image_quality",
    "ssim": "galaxybench.metrics.image_quality",
    "sr_quality": "galaxybench.metrics.image_quality",
    "domain_fid_reference": "galaxybench.metrics.generative",
    "domain_quality": "galaxybench.metrics.generative",
    "inception_quality": "galaxybench.metrics.generative",
    "real_halves": "galaxybench.metrics.generative",
    "FeatureExtractorGalaxyDomain": "galaxybench.metrics.feature_extractors",
    "ensure_registered": "galaxybench.metrics.feature_extractors",
}

if TYPE_CHECKING:  # pragma: no cover
    from galaxybench.metrics.classification import (
        classification_metrics,
        confusion_matrix,
        minority_f1,
        per_class_scores,
        quick_scores,
    )
    from galaxybench.metrics.feature_extractors import (
        FeatureExtractorGalaxyDomain,
        ensure_registered,
    )
    from galaxybench.metrics.generative import (
        domain_fid_reference,
        domain_quality,
        inception_quality,
        real_halves,
    )
    from galaxybench.metrics.image_quality import psnr, sr_quality, ssim


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'galaxybench.metrics' has no attribute {name!r}")


__all__ = [  # noqa: RUF022 (grouped as in _LAZY)
    "classification_metrics",
    "confusion_matrix",
    "minority_f1",
    "per_class_scores",
    "quick_scores",
    "psnr",
    "ssim",
    "sr_quality",
    "domain_fid_reference",
    "domain_quality",
    "inception_quality",
    "real_halves",
    "FeatureExtractorGalaxyDomain",
    "ensure_registered",
]
