"""Inception-v3 FID and Inception Score with torch-fidelity, offline only (never a download).

Computed only when the weights are on disk (``metrics.inception_weights``, else torch-fidelity's
cache file in $TORCH_HOME); otherwise every value is None and ``inception_reason`` says why.

Usage::

    inc = inception_quality(x_train, x_syn, weights_path=cfg.metrics.inception_weights,
                            device=device)
    inc["fid_inception"], inc["inception_reason"]
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
import torch_fidelity
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from galaxybench import results
from galaxybench.metrics.generative_fidelity import (
    _check_images,
    _device_scope,
    _fidelity,
    _subsample,
    _too_few,
)
from galaxybench.results import (
    FID_INCEPTION,
    INCEPTION_N_REAL,
    INCEPTION_N_SYNTHETIC,
    INCEPTION_REASON,
    INCEPTION_WEIGHTS,
    ISC_INCEPTION_MEAN,
    ISC_INCEPTION_STD,
)

# The logger of galaxybench.metrics.generative, where these functions were written first.
log = logging.getLogger("galaxybench.metrics.generative")

INCEPTION_EXTRACTOR = "inception-v3-compat"
INCEPTION_NOTE = "Inception Score is of little meaning for galaxies: ImageNet classes"


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
