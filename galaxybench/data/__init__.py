"""The Galaxy10 data layer: read, validate, dedupe, resize, split, fingerprint; downloads.

Usage::

    from galaxybench.data import load_data, prepare, resolve_data, inspect
    data = load_data()            # downloaded Galaxy10 if present, else the embedded synthetic set

Names are imported lazily so that ``import galaxybench.data.arrays`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "prepare": "galaxybench.data.preparation",
    "stratified_split": "galaxybench.data.preparation",
    "dedupe": "galaxybench.data.preparation",
    "resize_block": "galaxybench.data.preparation",
    "resolve_data": "galaxybench.data.galaxy10",
    "load_data": "galaxybench.data.galaxy10",
    "inspect": "galaxybench.data.galaxy10",
    "minority_classes": "galaxybench.data.galaxy10",
    "read_meta": "galaxybench.data.read",
    "Galaxy10Meta": "galaxybench.data.read",
    "file_sha256": "galaxybench.data.store",
    "PreparedData": "galaxybench.data.arrays",
    "SplitArrays": "galaxybench.data.arrays",
}

if TYPE_CHECKING:  # pragma: no cover
    from galaxybench.data.arrays import PreparedData, SplitArrays
    from galaxybench.data.galaxy10 import inspect, load_data, minority_classes, resolve_data
    from galaxybench.data.preparation import dedupe, prepare, resize_block, stratified_split
    from galaxybench.data.read import Galaxy10Meta, read_meta
    from galaxybench.data.store import file_sha256


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'galaxybench.data' has no attribute {name!r}")


__all__ = [  # noqa: RUF022 (grouped as in _LAZY)
    "prepare",
    "stratified_split",
    "dedupe",
    "resize_block",
    "resolve_data",
    "load_data",
    "inspect",
    "minority_classes",
    "read_meta",
    "Galaxy10Meta",
    "file_sha256",
    "PreparedData",
    "SplitArrays",
]
