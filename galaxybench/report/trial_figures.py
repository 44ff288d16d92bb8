"""PNGs of one trial: real vs synthetic images per augmented class, and an SR comparison strip.

Usage: ``write_trial_figures(out_dir, ctx, pipeline_output)`` (called by evaluate_trial when given
``artifacts_dir``). Files: ``real_vs_synthetic_<class>.png`` and ``sr_strip.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from galaxybench.registry import UPSCALERS


def _hwc(image: np.ndarray) -> np.ndarray:
    return np.transpose(image, (1, 2, 0))  # (3, H, W) -> (H, W, 3)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _save(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    tmp.replace(path)


def real_vs_synthetic(
    path: Path, real: np.ndarray, synthetic: np.ndarray, title: str, n: int = 8
) -> None:
    """Two rows of up to ``n`` images: real (top) and synthetic (bottom), uint8 (m, 3, H, W)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(1, min(n, max(len(real), len(synthetic))))
    fig, axes = plt.subplots(2, cols, figsize=(1.4 * cols, 3.2), squeeze=False)
    for row, (label, images) in enumerate((("real", real), ("synthetic", synthetic))):
        for col in range(cols):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(images):
                ax.imshow(_hwc(images[col]))
        axes[row][0].set_title(label, fontsize=8, loc="left")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    plt.close(fig)


def sr_strip(path: Path, columns: dict[str, np.ndarray], n: int = 4) -> None:
    """One row per test galaxy, one column per method (LR, bicubic, SRGAN, true HR)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(columns)
    rows = min(n, len(next(iter(columns.values()))))
    fig, axes = plt.subplots(
        rows, len(names), figsize=(1.6 * len(names), 1.6 * rows), squeeze=False
    )
    for r in range(rows):
        for c, name in enumerate(names):
            ax = axes[r][c]
            ax.imshow(_hwc(columns[name][r]), interpolation="nearest")
            ax.axis("off")
            if r == 0:
                ax.set_title(name, fontsize=8)
    _save(fig, path)
    plt.close(fig)


def write_trial_figures(out_dir: Path, ctx: Any, out: dict[str, Any], n: int = 8) -> list[Path]:
    """Write the figures of one trial into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data, up = ctx.data, out["upscaled"]
    written: list[Path] = []
    _, synth_y = out["synthetic"]
    train_labels = data.subset("train").labels
    for cls in sorted(out["plan"]):
        name = data.class_names[cls]
        path = out_dir / f"real_vs_synthetic_{_slug(name)}.png"
        real_vs_synthetic(
            path,
            up.train[train_labels == cls][:n],
            up.synthetic[synth_y == cls][:n],
            f"{name}: real (top) vs added by {ctx.cfg.rebalance.method} (bottom)",
        )
        written.append(path)
    test = data.subset("test")
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(test), size=min(4, len(test)), replace=False))
    lr = test.lr[pick]
    lr_big = np.repeat(np.repeat(lr, 2, axis=-1), 2, axis=-2)  # nearest-neighbour, to show pixels
    columns = {
        "LR": lr_big,
        "bicubic": UPSCALERS.get("bicubic")().apply(ctx.cfg, None, lr, device=ctx.device),
    }
    if ctx.cfg.upscale.method == "srgan":
        columns["SRGAN"] = up.test[pick]
    columns["true HR"] = test.hr[pick]
    path = out_dir / "sr_strip.png"
    sr_strip(path, columns)
    written.append(path)
    return written
