"""Every stage implementation, imported here so that this file lists them all.

Each module registers itself into a registry of ``galaxybench.registry`` on import.
"""

from __future__ import annotations

from galaxybench.stages import (  # noqa: F401
    classify_augment,
    classify_cnn,
    classify_losses,
    rebalance_cgan,
    rebalance_none,
    rebalance_oversample,
    upscale_bicubic,
    upscale_oracle,
    upscale_srgan,
)
