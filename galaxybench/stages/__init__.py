"""Every stage implementation, imported here so that this file lists them all, and the stages'
public surface.

Each module registers itself into a registry of ``galaxybench.registry`` on import. The contract
a new stage implements is in ``stages.base`` (``Upscaler``, ``Rebalancer``, ``LossFactory``,
``AugmentFn``); the classifier's training is ``classify_cnn``.

Usage::

    from galaxybench.stages import Upscaler, train_classifier, predict
"""

from __future__ import annotations

from galaxybench.stages import (  # noqa: F401
    classify_augment,
    classify_cnn,
    classify_losses,
    rebalance_cgan,
    rebalance_none,
    rebalance_oracle,
    rebalance_oversample,
    upscale_bicubic,
    upscale_oracle,
    upscale_srgan,
)
from galaxybench.stages._common import seed_everything, seeded_generator, set_threads
from galaxybench.stages.base import (
    AugmentFn,
    LossFactory,
    LossFn,
    NothingToLearn,
    Rebalancer,
    Upscaler,
)
from galaxybench.stages.classify_cnn import (
    ClassifierRun,
    InputStats,
    PaperCNN,
    predict,
    train_classifier,
)
from galaxybench.stages.rebalance_plan import plan_counts

__all__ = [
    "AugmentFn",
    "ClassifierRun",
    "InputStats",
    "LossFactory",
    "LossFn",
    "NothingToLearn",
    "PaperCNN",
    "Rebalancer",
    "Upscaler",
    "plan_counts",
    "predict",
    "seed_everything",
    "seeded_generator",
    "set_threads",
    "train_classifier",
]
