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
    """Each image gets one of the 8 dihedral transforms, drawn uniformly with ``generator``.

    On CUDA all 8 transforms of the batch are made and each image's is picked by index: the
    masked loop below would read the GPU (``mask.any()``, boolean indexing) in every step. The
    draw is the same, so both paths give the same images.
    """
    choice = torch.randint(0, 8, (x.shape[0],), generator=generator)
    if x.device.type == "cuda":
        return dihedral_by_index(x, choice.pin_memory().to(x.device, non_blocking=True))
    choice = choice.to(x.device)
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


def dihedral_by_index(x: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Image ``i`` transformed by symmetry ``choice[i]``, without reading ``choice`` on the host:
    all 8 transforms of the batch, then one gather (8x the batch's memory, no sync)."""
    variants = torch.stack([_dihedral(x, k) for k in range(8)])  # (8, B, C, H, W)
    return variants[choice, torch.arange(x.shape[0], device=x.device)]


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th of the 8 symmetries (k >= 4: mirrored first), as the masked loop applies it."""
    return torch.rot90(x.flip(-1) if k >= 4 else x, k % 4, dims=(-2, -1))
