"""Classifier-side augmentations, registered by name: none, dihedral.

Galaxies have no preferred orientation, so the 8 symmetries of the square (flips and 90-degree
rotations) are label-preserving.

Usage: ``x = CLASSIFIER_AUGMENTS.get("dihedral")(x, generator)``   # x: (B, C, H, W) on device
"""

from __future__ import annotations

import torch

from galaxybench.registry import CLASSIFIER_AUGMENTS


@CLASSIFIER_AUGMENTS.register("none")
def no_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Identity."""
    return x


@CLASSIFIER_AUGMENTS.register("dihedral")
def dihedral(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image gets one of the 8 dihedral transforms, drawn uniformly with ``generator``."""
    choice = torch.randint(0, 8, (x.shape[0],), generator=generator).to(x.device)
    out = torch.empty_like(x)
    for k in range(8):
        mask = choice == k
        if not mask.any():
            continue
        part = x[mask]
        if k >= 4:
            part = part.flip(-1)
        out[mask] = torch.rot90(part, k % 4, dims=(-2, -1))
    return out
