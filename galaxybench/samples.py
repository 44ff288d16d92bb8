"""The sample images one trial keeps for its report: real vs synthetic per class, and an SR strip.

Arrays only (numpy, no torch, no matplotlib): the trial picks and saves them, the report (or the
CLI) draws them, so neither layer reaches into the other. Saved as a plain ``.npz`` (no pickles).

Usage::

    samples = TrialSamples.pick(class_names=..., train_hr=..., ..., bicubic=upscale_fn)
    samples.save(folder / SAMPLES_FILE); TrialSamples.load(folder / SAMPLES_FILE)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galaxybench.io import atomic_write

SAMPLES_FILE = "samples.npz"


@dataclass
class TrialSamples:
    """The images one trial's figures show; every array uint8 (m, 3, H, W)."""

    rebalancer: str
    per_class: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # real, synth
    sr_columns: dict[str, np.ndarray] = field(default_factory=dict)  # method -> test images
    # The upscaler both rows of per_class went through (the classifier sees them so): the "real"
    # row is real training images as upscaled, not the true HR ("" when a file predates it).
    upscaler: str = ""

    @classmethod
    def pick(
        cls,
        *,
        class_names: Sequence[str],
        train_hr: np.ndarray,
        train_labels: np.ndarray,
        synthetic_hr: np.ndarray,
        synthetic_labels: np.ndarray,
        plan: Sequence[int],
        test_lr: np.ndarray,
        test_hr: np.ndarray,
        test_upscaled: np.ndarray,
        method: str,
        rebalancer: str,
        bicubic: Callable[[np.ndarray], np.ndarray],
        n: int = 8,
    ) -> TrialSamples:
        """Up to ``n`` real and synthetic images per augmented class, and 4 test galaxies
        (a fixed draw, so every trial shows the same ones) at LR, bicubic, the method and true HR.
        """
        per_class = {
            class_names[c]: (
                train_hr[train_labels == c][:n],
                synthetic_hr[synthetic_labels == c][:n],
            )
            for c in plan
        }
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(test_lr), size=min(4, len(test_lr)), replace=False))
        lr = test_lr[pick]
        columns = {
            "LR": np.repeat(np.repeat(lr, 2, axis=-1), 2, axis=-2),  # nearest: show pixels
            "bicubic": bicubic(lr),
        }
        if method == "srgan":
            columns["SRGAN"] = test_upscaled[pick]
        columns["true HR"] = test_hr[pick]
        return cls(rebalancer, per_class, columns, method)

    def save(self, path: str | Path) -> Path:
        """Write the arrays and their names to one ``.npz`` atomically."""
        arrays: dict[str, np.ndarray] = {}
        classes = list(self.per_class)
        for i, name in enumerate(classes):
            arrays[f"real_{i}"], arrays[f"synthetic_{i}"] = self.per_class[name]
        methods = list(self.sr_columns)
        for i, method in enumerate(methods):
            arrays[f"sr_{i}"] = self.sr_columns[method]
        meta = {
            "rebalancer": self.rebalancer,
            "upscaler": self.upscaler,
            "classes": classes,
            "methods": methods,
        }
        arrays["meta"] = np.array(json.dumps(meta))
        return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))

    @classmethod
    def load(cls, path: str | Path) -> TrialSamples:
        """Read what ``save`` wrote (no pickles)."""
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            per_class = {
                name: (npz[f"real_{i}"], npz[f"synthetic_{i}"])
                for i, name in enumerate(meta["classes"])
            }
            columns = {m: npz[f"sr_{i}"] for i, m in enumerate(meta["methods"])}
        return cls(meta["rebalancer"], per_class, columns, str(meta.get("upscaler", "")))
