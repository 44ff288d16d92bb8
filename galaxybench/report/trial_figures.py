"""PNGs of one trial: real vs synthetic images per augmented class, and an SR comparison strip.

Arrays in, files out: the trial saves the images it picked (``galaxybench.samples``), this module
only draws them, so the report layer stays free of torch. Files: ``real_vs_synthetic_<class>.png``,
``sr_strip.png``.

Usage::

    write_trial_figures(out_dir, TrialSamples.load(folder / SAMPLES_FILE))
    render_samples(folder)      # the PNGs of folder/samples.npz, next to it
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from galaxybench.report.style import save_figure, setup_matplotlib
from galaxybench.samples import SAMPLES_FILE, TrialSamples


def _hwc(image: np.ndarray) -> np.ndarray:
    return np.transpose(image, (1, 2, 0))  # (3, H, W) -> (H, W, 3)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def real_vs_synthetic(
    path: Path, real: np.ndarray, synthetic: np.ndarray, title: str, n: int = 8
) -> None:
    """Two rows of up to ``n`` images: real (top) and synthetic (bottom), uint8 (m, 3, H, W)."""
    plt = setup_matplotlib()
    cols = max(1, min(n, max(len(real), len(synthetic))))
    fig, axes = plt.subplots(2, cols, figsize=(1.4 * cols, 3.2), squeeze=False)
    for row, (label, images) in enumerate((("real, upscaled", real), ("synthetic", synthetic))):
        for col in range(cols):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(images):
                ax.imshow(_hwc(images[col]))
        axes[row][0].set_title(label, fontsize=8, loc="left")
    fig.suptitle(title, fontsize=9, parse_math=False)
    save_figure(fig, path, tight=True)


def sr_strip(path: Path, columns: dict[str, np.ndarray], n: int = 4) -> None:
    """One row per test galaxy, one column per method (LR, bicubic, SRGAN, true HR)."""
    plt = setup_matplotlib()
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
    save_figure(fig, path, tight=True)


def _pair_title(name: str, samples: TrialSamples) -> str:
    """What the two rows are: both went through the trial's upscaler, as the classifier saw them
    (the oracle has no true HR for added images: those are bicubic)."""
    added = f"added by {samples.rebalancer}"
    how = {
        "": "",
        "oracle": ", real at true HR, added ones upscaled bicubically",
        "bicubic": ", both upscaled bicubically",
    }.get(samples.upscaler, f", both upscaled by {samples.upscaler}")
    return f"{name}: real training images (top) vs {added} (bottom){how}"


def write_trial_figures(out_dir: Path, samples: TrialSamples) -> list[Path]:
    """Write the figures of one trial into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, (real, synthetic) in samples.per_class.items():
        path = out_dir / f"real_vs_synthetic_{_slug(name)}.png"
        real_vs_synthetic(path, real, synthetic, _pair_title(name, samples))
        written.append(path)
    path = out_dir / "sr_strip.png"
    sr_strip(path, samples.sr_columns)
    written.append(path)
    return written


def render_samples(folder: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw ``folder/samples.npz`` (written by a trial) as PNGs in ``out_dir`` (default: folder)."""
    path = Path(folder) / SAMPLES_FILE
    if not path.is_file():
        return []
    return write_trial_figures(Path(out_dir or folder), TrialSamples.load(path))
