"""Classifier losses, registered by name: ce, weighted_ce, focal (classical rebalancing baselines).

Usage::

    loss_fn = CLASSIFIER_LOSSES.get(cfg.classifier.loss)(cfg, train_counts, device)
    loss = loss_fn(logits, targets)            # scalar
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from galaxybench.config import Config
from galaxybench.registry import CLASSIFIER_LOSSES
from galaxybench.stages.base import LossFn


def inverse_frequency_weights(counts: np.ndarray) -> np.ndarray:
    """n / (K x count_c): sklearn's ``compute_class_weight("balanced")``; 0 for absent classes."""
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


@CLASSIFIER_LOSSES.register("ce")
def cross_entropy(cfg: Config, counts: np.ndarray, device: torch.device) -> LossFn:
    """Plain cross-entropy (the baseline)."""
    return F.cross_entropy


@CLASSIFIER_LOSSES.register("weighted_ce")
def weighted_cross_entropy(cfg: Config, counts: np.ndarray, device: torch.device) -> LossFn:
    """Cross-entropy weighted by inverse class frequency of the training set."""
    weight = torch.tensor(inverse_frequency_weights(counts), dtype=torch.float32, device=device)
    return lambda logits, target: F.cross_entropy(logits, target, weight=weight)


@CLASSIFIER_LOSSES.register("focal")
def focal(cfg: Config, counts: np.ndarray, device: torch.device) -> LossFn:
    """Focal loss, mean of -(1 - p_t)^gamma log p_t (Lin et al. 2017, eq. 4, without alpha)."""
    gamma = cfg.classifier.focal_gamma

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)
        return (-(1.0 - log_p.exp()).pow(gamma) * log_p).mean()

    return loss
