"""The embedded synthetic Galaxy10 DECaLS dataset: generate, write as HDF5, preview, cache once.

Usage: ``path = ensure_embedded()`` or ``write_synthetic("synth.h5", scale=0.1, size=64, seed=1)``.

Same keys, class names and (proportional) class counts as Galaxy10_DECals.h5 (``data/classes.py``),
rows sorted by class, and a handful of objects listed twice at the same (ra, dec), some with a
conflicting label, as in the real file. Every image is rendered from its own random stream
(seed, class, index), so a file is reproducible byte for byte.
"""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock

from galaxybench import paths
from galaxybench.data._progress import progress_bar
from galaxybench.data.classes import DECALS_CLASS_NAMES, DECALS_COUNTS
from galaxybench.data.morphology import render_galaxy
from galaxybench.errors import DataError, InputError
from galaxybench.io import temp_path_beside

log = logging.getLogger(__name__)

# Bump whenever the rendered pixels change: it names the cached file. (8 follows 1: versions 2-7
# were unmerged experiments, whose cached files must never be read as this one.)
GENERATOR_VERSION = 8
EMBEDDED_SCALE = 0.15  # ~2,660 images: enough for an HR 32 CPU trial, generated in seconds
EMBEDDED_SIZE = 64
EMBEDDED_SEED = 0
# Noise sigma relative to render.Canvas's photon noise: the bright, well-exposed galaxies of
# Galaxy10 show their pixel-scale structure (shells, knots, arms) above the noise.
NOISE = 0.4
MIN_PER_CLASS = 12  # every class must survive dedupe and a stratified 3-way split
_BLOCK = 256  # rows rendered per HDF5 write (bounded memory at 256 px and scale 1)
# Confusable class pairs used for duplicates with conflicting labels (source label, copy label).
_CONFLICT_PAIRS = ((0, 1), (2, 3), (5, 6), (6, 7), (8, 9), (3, 4), (7, 5))


def class_counts(scale: float) -> np.ndarray:
    """Images per class: DECaLS counts x scale, rounded, at least MIN_PER_CLASS (1.0: 17,736)."""
    counts = np.rint(np.asarray(DECALS_COUNTS, dtype=np.float64) * scale).astype(np.int64)
    return np.maximum(counts, MIN_PER_CLASS)


def minimum_scale() -> float:
    """The smallest scale (in steps of 0.001) whose class counts keep Galaxy10's minority set.

    Below it the floor of MIN_PER_CLASS images per class evens the counts out: at 0.004 every
    class has 12 images, a balanced file with no scoring-minority class.
    """
    from galaxybench.protocol import minority_classes

    full = minority_classes(class_counts(1.0))
    step = 1000
    ok = [minority_classes(class_counts(i / step)) == full for i in range(1, step + 1)]
    last_bad = max((i for i, good in enumerate(ok, 1) if not good), default=0)
    return (last_bad + 1) / step


def check_keeps_minority(scale: float) -> None:
    """Refuse (InputError, one line) a scale whose counts lose Galaxy10's scoring-minority set."""
    from galaxybench.protocol import minority_classes

    _check_args(scale, 16, 0)
    lowest = minimum_scale()
    if scale >= lowest:
        return
    names = [
        ", ".join(DECALS_CLASS_NAMES[k] for k in minority_classes(class_counts(x)))
        for x in (scale, 1.0)
    ]
    detail = (
        f"the scoring-minority classes would be {names[0]} instead of {names[1]}"
        if names[0]
        else "no class would be a scoring minority (a balanced file)"
    )
    raise InputError(
        f"--scale {scale:g} is too small: with at least {MIN_PER_CLASS} images per class, "
        f"{detail}; use --scale {lowest:g} or more"
    )


def _check_args(scale: float, size: int, seed: int) -> None:
    """Refuse bad generator arguments with one line naming the problem (InputError)."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not 0 < scale < np.inf:
        raise InputError(f"synthetic scale must be a positive number, got {scale!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise InputError(f"synthetic image size must be an integer >= 16 pixels, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"synthetic seed must be a non-negative integer, got {seed!r}")


def _duplicates(
    rng: np.random.Generator, labels: np.ndarray, scale: float
) -> list[tuple[int, int]]:
    """(source row, copy row) pairs: copies show the source object again at the same (ra, dec).

    About 59 x scale copies carry a label from a confusable neighbouring class (the real file has
    about 59 such conflicts) and about 20 x scale agree; at least 3 and 2, each row used once.
    """
    n_conflict, n_agree = max(3, round(59 * scale)), max(2, round(20 * scale))
    starts = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=10))])
    free = np.ones(labels.size, dtype=bool)
    pairs = []

    def take(label: int) -> int:
        rows = np.flatnonzero(free[starts[label] : starts[label + 1]]) + starts[label]
        row = int(rng.choice(rows))
        free[row] = False
        return row

    for k in range(n_conflict):
        a, b = _CONFLICT_PAIRS[k % len(_CONFLICT_PAIRS)]
        pairs.append((take(a), take(b)))
    for _ in range(n_agree):
        label = int(rng.choice(10, p=np.bincount(labels) / labels.size))
        pairs.append((take(label), take(label)))
    return pairs


def _plan(scale: float, seed: int) -> dict[str, np.ndarray]:
    """Per-row labels, render keys (class, index of the object drawn), sky positions, NaN mask."""
    return _plan_counts(class_counts(scale), seed, scale)


def _plan_counts(counts: np.ndarray, seed: int, dup_scale: float) -> dict[str, np.ndarray]:
    """`_plan` for explicit class counts; duplicates scale with `dup_scale` (1.0: about 59)."""
    labels = np.repeat(np.arange(10), counts)
    within = np.concatenate([np.arange(c) for c in counts])
    rng = np.random.default_rng([seed, 1_000_003])  # metadata stream, apart from image streams
    ra = rng.uniform(0.0, 360.0, labels.size)
    # DECaLS footprint roughly -20 < dec < +35 deg; uniform on the sphere within it.
    dec = np.degrees(
        np.arcsin(rng.uniform(np.sin(np.radians(-20)), np.sin(np.radians(35)), labels.size))
    )
    no_redshift = rng.random(labels.size) < 0.06
    key_class, key_index = labels.copy(), within.copy()
    for src, dst in _duplicates(rng, labels, dup_scale):
        key_class[dst], key_index[dst] = key_class[src], key_index[src]
        ra[dst], dec[dst], no_redshift[dst] = ra[src], dec[src], no_redshift[src]
    return {
        "ans": labels,
        "key_class": key_class,
        "key_index": key_index,
        "ra": ra,
        "dec": dec,
        "no_redshift": no_redshift,
    }


def _render_blocks(
    plan: dict[str, np.ndarray], size: int, seed: int, progress: bool
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (start row, images (B, size, size, 3) uint8, redshift, pxscale) blocks in row order."""
    n = plan["ans"].size
    with progress_bar(n, "rendering synthetic galaxies", enabled=progress) as advance:
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            images = np.empty((stop - start, size, size, 3), dtype=np.uint8)
            redshift, pxscale = np.empty(stop - start), np.empty(stop - start)
            for i in range(start, stop):
                k, j = int(plan["key_class"][i]), int(plan["key_index"][i])
                rng = np.random.default_rng([seed, k, j])  # one stream per object
                images[i - start], redshift[i - start], pxscale[i - start] = render_galaxy(
                    rng, k, size, noise=NOISE
                )
            redshift[plan["no_redshift"][start:stop]] = np.nan
            advance(stop - start)
            yield start, images, redshift, pxscale


def generate(
    *, scale: float = 1.0, size: int = 256, seed: int = 0, progress: bool = False
) -> dict[str, np.ndarray]:
    """Render the synthetic Galaxy10 set in memory.

    Args:
        scale: fraction of the DECaLS class counts (1.0 = 17,736 images; each class >= 12).
        size: image side in pixels (>= 16).
        seed: random seed; the same seed gives identical arrays.
        progress: show a progress bar on stderr.

    Returns:
        images (N, size, size, 3) uint8 in bands (g, r, z) (display RGB = z, r, g); ans int64 0..9
        sorted ascending; ra, dec float64 degrees; redshift float64 (some NaN); pxscale float64
        arcsec/px (0.262 or 0.524).
    """
    _check_args(scale, size, seed)
    plan = _plan(scale, seed)
    n = plan["ans"].size
    out = {
        "images": np.empty((n, size, size, 3), dtype=np.uint8),
        "ans": plan["ans"].astype(np.int64),
        "ra": plan["ra"],
        "dec": plan["dec"],
        "redshift": np.empty(n),
        "pxscale": np.empty(n),
    }
    for start, images, redshift, pxscale in _render_blocks(plan, size, seed, progress):
        stop = start + len(images)
        out["images"][start:stop] = images
        out["redshift"][start:stop], out["pxscale"][start:stop] = redshift, pxscale
    return out


def write_synthetic(
    path: str | os.PathLike,
    *,
    scale: float = 1.0,
    size: int = 256,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Write the synthetic set as a Galaxy10-format HDF5 file, streaming blocks of rows.

    The file is written beside `path` under a temporary name and renamed into place, so a reader
    never sees half a file. No timestamps are stored: the same arguments give identical bytes.
    Returns the path written.
    """
    _check_args(scale, size, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path)
    plan = _plan(scale, seed)
    n = plan["ans"].size
    try:
        with h5py.File(tmp, "w", libver=("earliest", "v110")) as f:
            opts = {"track_times": False}
            images = f.create_dataset("images", (n, size, size, 3), dtype=np.uint8, **opts)
            f.create_dataset("ans", data=plan["ans"].astype(np.int64), **opts)
            f.create_dataset("ra", data=plan["ra"], **opts)
            f.create_dataset("dec", data=plan["dec"], **opts)
            redshift = f.create_dataset("redshift", (n,), dtype=np.float64, **opts)
            pxscale = f.create_dataset("pxscale", (n,), dtype=np.float64, **opts)
            for start, block, z, px in _render_blocks(plan, size, seed, progress):
                images[start : start + len(block)] = block
                redshift[start : start + len(block)] = z
                pxscale[start : start + len(block)] = px
            f.attrs["class_names"] = list(DECALS_CLASS_NAMES)
            f.attrs["synthetic"] = True
            f.attrs["generator"] = "galaxybench.data.synthetic"
            f.attrs["generator_version"] = GENERATOR_VERSION
            f.attrs["seed"], f.attrs["scale"], f.attrs["size"] = seed, float(scale), size
            f.attrs["description"] = (
                "Procedurally rendered Galaxy10 DECaLS look-alike (Sersic bulges, exponential "
                "disks, log spiral arms, bars, clumps, tidal tails, PSF, sky noise, asinh "
                "stretch); bands g, r, z; not real data."
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %d synthetic images of %d px to %s", n, size, path)
    return path


def _text(value: object) -> str:
    """An HDF5 string attribute element as str (h5py gives bytes or str by storage type)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def write_preview(
    h5_path: str | os.PathLike, png_path: str | os.PathLike, per_class: int = 6
) -> Path:
    """Save a PNG grid of the first `per_class` images of every class, one labelled row each.

    Works on any Galaxy10-format file; images are shown as RGB = z, r, g.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if per_class < 1:
        raise InputError(f"preview needs at least one image per class, got per_class={per_class}")
    try:
        with h5py.File(h5_path, "r") as f:
            labels = f["ans"][:]
            n_classes = int(labels.max()) + 1
            default = [f"class_{k}" for k in range(n_classes)]
            names = [_text(x) for x in f.attrs.get("class_names", default)]
            rows = [np.sort(np.flatnonzero(labels == k)[:per_class]) for k in range(n_classes)]
            images = [f["images"][r] for r in rows]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"cannot preview {h5_path}: not a Galaxy10-format HDF5 file ({exc})"
        ) from exc
    fig = Figure(figsize=(1.2 * per_class + 1.8, 1.25 * n_classes))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_classes, per_class, squeeze=False)
    for k in range(n_classes):
        for j in range(per_class):
            ax = axes[k, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(images[k]):
                ax.imshow(images[k][j][:, :, ::-1])  # (g, r, z) -> RGB (z, r, g)
        axes[k, 0].set_ylabel(
            f"{k} {names[k] if k < len(names) else ''}",
            rotation=0,
            ha="right",
            va="center",
            fontsize=8,
        )
    fig.subplots_adjust(left=0.2, right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.08)
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(png_path)
    try:
        fig.savefig(tmp, format="png", dpi=80)
        os.replace(tmp, png_path)
    finally:
        tmp.unlink(missing_ok=True)
    return png_path


def embedded_path() -> Path:
    """Where `ensure_embedded` keeps the embedded default (named by its settings and version)."""
    name = (
        f"galaxy10_synthetic_scale{EMBEDDED_SCALE:g}_size{EMBEDDED_SIZE}"
        f"_seed{EMBEDDED_SEED}_v{GENERATOR_VERSION}.h5"
    )
    return paths.embedded_dir() / name


def ensure_embedded() -> Path:
    """Generate the embedded default dataset once (under a file lock) and return its path.

    Concurrent processes wait on the lock; whoever comes second finds the file and reuses it.
    """
    path = embedded_path()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            log.info("generating the embedded synthetic Galaxy10 set at %s", path)
            write_synthetic(path, scale=EMBEDDED_SCALE, size=EMBEDDED_SIZE, seed=EMBEDDED_SEED)
    return path
