"""The sections of the config tree: one frozen dataclass per stage or concern, with defaults.

``galaxybench.config`` re-exports them; ``config_tree.Config`` holds one of each.

Usage::

    from galaxybench.config_sections import CganConfig
    CganConfig().lr, CganConfig(lr=1.0e-4).betas
"""

from __future__ import annotations

from dataclasses import dataclass

# The paper's cut: a class is a minority when it has fewer than 1750 of the largest class's 2645
# images (1750 / 2645 = 0.66). The default of ``eval.minority_fraction`` and ``rebalance.*``.
MINORITY_FRACTION = 0.66


@dataclass(frozen=True)
class DataConfig:
    """How the data is prepared (docs/protocol.md, "Data, splits and seeds")."""

    hr_size: int = 32  # HR side in pixels; LR is hr_size // 2
    split_seed: int = 0  # fixed for a whole sweep, independent of the trial seed
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    # "" (labels must be 0..K-1, every class present) | "auto" (sorted present labels -> 0..K-1)
    # | "2,5,8" (2 -> 0, 5 -> 1, 8 -> 2; other labels refused). Part of the prepared cache key.
    remap_labels: str = ""


@dataclass(frozen=True)
class UpscaleConfig:
    method: str = "bicubic"  # bicubic | srgan | oracle


@dataclass(frozen=True)
class SrganConfig:
    """SRGAN (Ledig et al. 2017): residual generator + strided-conv discriminator."""

    depth: int = 8  # residual blocks in the generator
    channels: int = 64
    pretrain_epochs: int = 5  # pixel-loss (MSE) pre-training, as SRResNet
    epochs: int = 20  # adversarial epochs
    lr: float = 1.0e-4
    batch_size: int = 16
    adversarial_weight: float = 1.0e-3  # Ledig et al. 2017, eq. 3
    # Not in Ledig et al.: predict a residual over bicubic x2 (global residual learning, Kim et al.
    # 2016, VDSR), so short CPU trainings start from bicubic quality instead of below it.
    bicubic_skip: bool = False


@dataclass(frozen=True)
class CganConfig:
    """Class-conditional DCGAN (label embedding in G and D)."""

    lr: float = 2.0e-4
    batch_size: int = 16
    betas: tuple[float, float] = (0.5, 0.999)  # Radford et al. 2016
    epochs: int = 20
    latent_dim: int = 100
    width: int = 64  # base number of filters
    train_on: str = "augmented"  # augmented (as the paper) | all
    d_lr_scale: float = 1.0  # discriminator lr = lr x d_lr_scale (TTUR; 1 = the paper's one lr)


@dataclass(frozen=True)
class RebalanceConfig:
    method: str = "none"  # none | cgan | oversample
    # Classes below threshold x the largest train class count are filled up to
    # max(threshold, target) x that count, so the threshold acts over its whole range and target is
    # the least fill level (threshold = target = 0.66: the paper's 1750 of 2645).
    threshold: float = MINORITY_FRACTION
    target: float = MINORITY_FRACTION


@dataclass(frozen=True)
class ClassifierConfig:
    """The paper's CNN and its training (docs/protocol.md, "What a trial is")."""

    loss: str = "ce"  # ce | weighted_ce | focal
    augment: str = "none"  # none | dihedral
    epochs: int = 10  # the most epochs a classifier trains (early stopping may end it sooner)
    # Early stopping: end training after this many epochs without a strictly better validation
    # minority F1 than the best so far (the best epoch's weights are tested either way).
    # 0: no early stopping, every run trains all ``epochs``.
    patience: int = 0
    batch_size: int = 64
    lr: float = 1.0e-3
    dense_units: int = 512
    focal_gamma: float = 2.0  # Lin et al. 2017
    # Standardise inputs per channel by the train split's mean/std (true HR train images, after
    # the stretch). false: plain [-1, 1] pixels, which stall at the class prior on sparse images.
    standardize: bool = True
    # none | asinh: Lupton et al. 2004 (PASP 116, 133) asinh stretch of the pixel intensity
    # u in [0, 1], asinh(u / b) / asinh(1 / b), for sparse, high-dynamic-range images. Applied to
    # what the classifier sees only (upscalers and GANs are fitted on the linear pixels).
    stretch: str = "none"
    asinh_softening: float = 0.05  # b: intensity (fraction of full scale) where asinh turns log


@dataclass(frozen=True)
class EvalConfig:
    minority_fraction: float = (
        MINORITY_FRACTION  # scoring set: classes below this x largest count (1750/2645)
    )


@dataclass(frozen=True)
class MetricsConfig:
    """Secondary quality metrics (docs/protocol.md, "Secondary metrics")."""

    enabled: bool = True
    inception_weights: str | None = None  # path to Inception weights; else $TORCH_HOME cache
    max_samples: int = 2048  # cap on images per set for FID/KID
    kid_subsets: int = 100  # KID subsets (torch-fidelity's default); most of the metrics' cost
