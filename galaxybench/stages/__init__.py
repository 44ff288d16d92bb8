"""Every stage implementation, imported here so that this file lists them all.

Each module registers itself into a registry of ``galaxybench.registry`` on import.
"""

from __future__ import annotations

import importlib

_STAGE_MODULES = (
    "upscale_bicubic",
    "upscale_srgan",
    "upscale_oracle",
    "rebalance_none",
    "rebalance_oversample",
    "rebalance_cgan",
    "classify_losses",
    "classify_augment",
    "classify_cnn",
)

for _name in _STAGE_MODULES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:  # TEMPORARY while stages land in parallel
        if _exc.name != f"{__name__}.{_name}":
            raise
