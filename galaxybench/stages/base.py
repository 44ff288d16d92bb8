"""The base classes every stage subclasses, and when the trial calls each method.

Stages are pure: they read no globals, environment or argv; they get arrays and a seed and return
arrays or weights. Images are uint8, channels first, (n, 3, h, w); float conversion happens on
``device``. Weights are ``dict[str, torch.Tensor]`` (CPU tensors) so the stage cache can store them
with ``torch.save`` and read them back with ``torch.load(weights_only=True)``. The order of the
calls within a trial is described in docs/protocol.md; how to add a stage in docs/architecture.md.

Usage::

    @UPSCALERS.register("nearest")
    class Nearest(NothingToLearn, Upscaler):
        needs_hr = False
        def apply(self, cfg, weights, lr, *, device, hr_true=None): ...

    up = UPSCALERS.get(cfg.upscale.method)()
    state = up.fit(cfg, data.subset("train"), seed=cfg.seed, device=device)   # cached by the trial
    hr = up.apply(cfg, state, lr_images, device=device, hr_true=hr_images_or_None)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from galaxybench.config import Config
from galaxybench.data.arrays import SplitArrays

Weights = dict[str, torch.Tensor]
#: A classifier loss: (logits (B, K), targets (B,) int64) -> scalar tensor.
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Registered in CLASSIFIER_LOSSES: called once per classifier training, before the first epoch,
#: with the config, the (K,) training class counts (after rebalancing) and the device.
LossFactory = Callable[[Config, np.ndarray, torch.device], LossFn]
#: Registered in CLASSIFIER_AUGMENTS: called on every training batch (B, C, H, W) float on the
#: device, with the trial's torch.Generator; returns a batch of the same shape. Never on
#: validation or test images.
AugmentFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class Upscaler(ABC):
    """LR -> HR (factor 2). Register a subclass in ``galaxybench.registry.UPSCALERS``.

    The trial creates one instance per trial (no arguments), calls ``fit`` once, then ``apply``
    once per split and once on the rebalancer's synthetic images.
    """

    #: True when ``fit`` trains something: the trial then caches the weights it returns, keyed by
    #: the data, the stage's config section and the seed, and skips ``fit`` on a cache hit.
    trainable: ClassVar[bool] = True
    #: True when ``apply`` needs the true HR images (only the oracle). Synthetic images have no
    #: true HR, so the trial upscales those bicubically for such an upscaler.
    needs_hr: ClassVar[bool] = False

    @abstractmethod
    def fit(
        self, cfg: Config, train: SplitArrays, *, seed: int, device: torch.device
    ) -> Weights | None:
        """Called once per trial, before any ``apply``, on the training split only (LR/HR pairs).

        Not called again when the trial's cache holds weights for the same data, config section
        and seed. Returns weights to cache, or None when there is nothing to learn. Raises
        ``TrialDiverged`` when training goes non-finite.
        """

    @abstractmethod
    def apply(
        self,
        cfg: Config,
        weights: Weights | None,
        lr: np.ndarray,
        *,
        device: torch.device,
        hr_true: np.ndarray | None = None,
    ) -> np.ndarray:
        """Called after ``fit`` on each split (train, val, test) and on the synthetic images.

        ``weights`` is what ``fit`` returned (or its cached copy). Upscales (n, 3, h, h) uint8 to
        (n, 3, 2h, 2h) uint8; deterministic; batches internally. ``hr_true`` is given only when
        ``needs_hr``.
        """


class Rebalancer(ABC):
    """Adds training images for under-represented classes. Register in ``REBALANCERS``.

    The trial computes the plan (which classes get how many images, see docs/protocol.md), then
    calls ``fit`` once and ``generate`` once. With an empty plan neither is called.
    """

    #: True when ``fit`` trains something; the trial then caches its weights (as for upscalers).
    trainable: ClassVar[bool] = True
    #: False for a rebalancer that by design adds nothing (the baseline ``none``).
    adds_images: ClassVar[bool] = True

    @abstractmethod
    def fit(
        self,
        cfg: Config,
        train: SplitArrays,
        classes: list[int],
        *,
        seed: int,
        device: torch.device,
    ) -> Weights | None:
        """Called once per trial, before ``generate``, with the training split only.

        ``classes`` are the class ids to learn (the augmented classes, or all when
        ``cgan.train_on == "all"``). Skipped on a cache hit. Raises ``TrialDiverged`` on NaN
        losses or mode collapse.
        """

    @abstractmethod
    def generate(
        self,
        cfg: Config,
        weights: Weights | None,
        train: SplitArrays,
        counts: dict[int, int],
        *,
        seed: int,
        device: torch.device,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Called once after ``fit``: ``counts[c]`` new LR images of class ``c``.

        Returns (lr (m, 3, h, h) uint8, labels (m,) int64), classes in increasing order, with
        m = sum(counts.values()) (0 when ``adds_images`` is False), deterministic for a seed.
        The trial then upscales them with the trial's upscaler and adds them to the training set.
        """


class NothingToLearn:
    """Mixin for a stage without training: ``trainable`` is False and ``fit`` returns None.

    Put it first among the bases (``class Bicubic(NothingToLearn, Upscaler)``) so its ``fit``
    takes the place of the abstract one. The trial skips ``fit`` and the cache for such a stage.
    """

    trainable: ClassVar[bool] = False

    def fit(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to learn: returns None."""
        return None
