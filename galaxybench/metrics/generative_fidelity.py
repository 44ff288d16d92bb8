"""torch-fidelity plumbing of the generative metrics: FID, KID and precision/recall of a pair.

Holds the sample thresholds, the deterministic subsampling, the device scope and one call of
torch-fidelity over two uint8 image sets (synthetic first, its convention); ``_domain_pair`` is
FID/KID/PRC of one synthetic/real pair in the galaxy-domain feature space (``generative.py``).

Usage::

    values, reasons = _domain_pair(net, x_syn, x_real, with_prc=True, cuda=False, seed=0,
                                   batch_size=256, kid_subsets=KID_SUBSETS)
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
import torch_fidelity
from torch import nn
from torch.utils.data import Dataset

from galaxybench.config import MetricsConfig
from galaxybench.errors import InputError
from galaxybench.images import check_images, check_labels
from galaxybench.metrics.feature_extractors import DOMAIN_EXTRACTOR, DOMAIN_NETWORK_KWARG

FID_LOW_N = 2048  # FID is biased upward below ~2,048 samples (Heusel et al. 2017; torch-fidelity)
KID_MAX_SUBSET = 1000  # torch-fidelity's default KID subset size (Binkowski et al. 2018)
KID_SUBSETS = MetricsConfig.kid_subsets  # torch-fidelity's default number of KID subsets
PRC_NEIGHBORHOOD = 3  # k of the k-NN manifolds of precision/recall (Kynkaanniemi et al. 2019)
MIN_SAMPLES = {"fid": 2, "kid": 2, "prc": PRC_NEIGHBORHOOD + 1}  # per set, below: None + reason


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
