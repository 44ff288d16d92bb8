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


# One image per figure: a mosaic drawn by one ``imshow`` renders about ten times faster than a
# grid of subplots (a sweep's report draws about fifty of these figures).
GAP = 2  # pixels of white between two images of a mosaic


def _mosaic(rows: list[list[np.ndarray]], cols: int, row_gap: int = GAP) -> np.ndarray:
    """(H', W', 3) uint8: ``rows`` of (3, h, w) images side by side in cells of the largest h and
    w, white gaps (``row_gap`` pixels between rows: room for a label); an empty slot is white, a
    smaller image sits in its cell's top left corner."""
    h = max(image.shape[1] for row in rows for image in row)
    w = max(image.shape[2] for row in rows for image in row)
    out = np.full(
        (len(rows) * (h + row_gap) - row_gap, cols * (w + GAP) - GAP, 3), 255, dtype=np.uint8
    )
    for r, row in enumerate(rows):
        for c, image in enumerate(row[:cols]):
            y, x = r * (h + row_gap), c * (w + GAP)
            out[y : y + image.shape[1], x : x + image.shape[2]] = _hwc(image)
    return out


def real_vs_synthetic(
    path: Path, real: np.ndarray, synthetic: np.ndarray, title: str, n: int = 8
) -> None:
    """Two rows of up to ``n`` images: real (top) and synthetic (bottom), uint8 (m, 3, H, W)."""
    plt = setup_matplotlib()
    cols = max(1, min(n, max(len(real), len(synthetic))))
    fig, ax = plt.subplots(figsize=(1.4 * cols, 3.2))
    ax.axis("off")
    if len(real) or len(synthetic):
        side = max(image.shape[1] for image in [*real[:1], *synthetic[:1]])
        gap = max(GAP, side // 4)
        ax.imshow(_mosaic([list(real[:cols]), list(synthetic[:cols])], cols, gap))
        for y, label in ((0, "real, upscaled"), (side + gap, "synthetic")):
            ax.text(0, y - 1, label, fontsize=8, va="bottom", ha="left")
    fig.suptitle(title, fontsize=9, parse_math=False)
    save_figure(fig, path, tight=True)


def sr_strip(path: Path, columns: dict[str, np.ndarray], n: int = 4) -> None:
    """One row per test galaxy, one column per method (LR, bicubic, SRGAN, true HR).

    Each method's images are shown at the HR size (the LR column enlarged by nearest-neighbour
    repetition, so its pixels stay visible)."""
    plt = setup_matplotlib()
    names = list(columns)
    rows = min(n, len(next(iter(columns.values()))))
    size = max(columns[name].shape[-1] for name in names) if rows else 0

    def shown(image: np.ndarray) -> np.ndarray:
        k = size // image.shape[-1]
        return image.repeat(k, axis=1).repeat(k, axis=2) if k > 1 else image

    fig, ax = plt.subplots(figsize=(1.6 * len(names), 1.6 * rows))
    ax.axis("off")
    if rows:
        grid = [[shown(columns[name][r]) for name in names] for r in range(rows)]
        ax.imshow(_mosaic(grid, len(names)), interpolation="nearest")
        for c, name in enumerate(names):
            ax.text(c * (size + GAP) + size / 2, -1, name, fontsize=8, ha="center", va="bottom")
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
