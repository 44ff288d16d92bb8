"""A rehearsal file with the real Galaxy10 DECaLS layout, generated in parallel and streamed.

Usage::

    write_like("rehearsal.h5", "galaxy10-decals")            # 17,736 x 256 x 256 x 3, gzip
    write_like("small.h5", "galaxy10-decals", n=2000, workers=2)

or ``galaxybench data synth --like galaxy10-decals [--n 2000] --out rehearsal.h5``.

The real ``Galaxy10_DECals.h5`` stores its images chunked and gzip-compressed (3.49 GB of pixels
in a 2.54 GB download, ratio about 0.73). This file has the same shape, class counts, row order
(sorted by class), keys (``images``, ``ans``, ``ra``, ``dec``, ``redshift`` with NaNs,
``pxscale`` 0.262 or 0.524), about 59 duplicated (ra, dec) pairs with conflicting labels, and
one image per gzip chunk. The sky keeps a small residual pedestal and the gzip level is 4, which
together give a compression ratio of about 0.73 (measured by ``bench/synth_like.py``).

Speed and memory: worker processes render *and* deflate fixed blocks of rows; the parent writes
the already-compressed chunks with ``write_direct_chunk`` (HDF5's deflate filter stores a zlib
stream, exactly what ``zlib.compress`` makes), so the parent never compresses and never holds
more than a window of ``2 x workers`` blocks. Every image is drawn from its own random stream
(seed, class, index), so the bytes do not depend on the number of workers.

Measured (``python bench/synth_like.py``, 2 cores, output reports/bench/synth_like.json): the
full file in 1,947 s on a machine shared with other jobs (load average 2 -> 25), peak RSS 100 MB
(parent) and 95 MB (largest worker), stored / raw 0.732.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import h5py
import numpy as np

from galaxybench.data._progress import progress_bar
from galaxybench.data.classes import DECALS_CLASS_NAMES, DECALS_COUNTS
from galaxybench.data.morphology import render_galaxy
from galaxybench.data.synthetic import GENERATOR_VERSION, MIN_PER_CLASS, _plan_counts
from galaxybench.errors import InputError
from galaxybench.io import temp_path_beside
from galaxybench.signals import die_with_parent, terminate_workers

log = logging.getLogger(__name__)

LIKE = ("galaxy10-decals",)
SIZE = 256
GZIP_LEVEL = 4  # h5py's default gzip level; with PEDESTAL gives the real file's ratio (~0.73)
PEDESTAL = 0.12  # residual sky (flux per 128-px pixel): fewer clipped-to-0 sky pixels
BLOCK_ROWS = 32  # rows per worker task: ~6 MB raw, ~4.5 MB compressed per block


def like_counts(n: int | None = None) -> np.ndarray:
    """Class counts of Galaxy10 DECaLS, or scaled to sum to exactly `n` (largest remainder).

    Every class keeps at least MIN_PER_CLASS rows (taken from the largest classes) so that it
    survives dedupe and a stratified 3-way split.
    """
    real = np.asarray(DECALS_COUNTS, dtype=np.int64)
    if n is None or n == real.sum():
        return real
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 10 * MIN_PER_CLASS * 2:
        raise InputError(f"--n must be an integer >= {20 * MIN_PER_CLASS}, got {n!r}")
    exact = real * (n / real.sum())
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    while counts.min() < MIN_PER_CLASS:
        counts[np.argmin(counts)] += 1
        counts[np.argmax(counts)] -= 1
    return counts


def _render_block(
    key_class: np.ndarray, key_index: np.ndarray, seed: int, level: int
) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """Worker task: render and deflate a block of rows -> (chunks, redshift, pxscale)."""
    chunks, z, px = [], np.empty(len(key_class)), np.empty(len(key_class))
    for i, (k, j) in enumerate(zip(key_class.tolist(), key_index.tolist(), strict=True)):
        rng = np.random.default_rng([seed, k, j])  # one stream per object, as synthetic.py
        img, z[i], px[i] = render_galaxy(rng, k, SIZE, pedestal=PEDESTAL)
        chunks.append(zlib.compress(img.tobytes(), level))
    return chunks, z, px


class _InProcess:
    """The executor interface run inline (workers=1: no process start-up, same bytes)."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, **_) -> None:
        pass


def write_like(
    path: str | os.PathLike,
    like: str = "galaxy10-decals",
    *,
    n: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = False,
) -> Path:
    """Write a rehearsal file with the real layout of `like` (see the module docstring).

    Args:
        path: output HDF5 path (written under a temporary name, then renamed).
        like: the real file to imitate; only "galaxy10-decals".
        n: rows (class counts proportional to the real ones); None: the real 17,736.
        seed: random seed; same seed and n give identical bytes whatever `workers` is.
        workers: rendering processes (default: all CPUs).

    Returns:
        The path written.
    """
    if like not in LIKE:
        raise InputError(f"--like must be one of {', '.join(LIKE)}, got {like!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"synthetic seed must be a non-negative integer, got {seed!r}")
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    counts = like_counts(n)
    total = int(counts.sum())
    plan = _plan_counts(counts, seed, total / sum(DECALS_COUNTS))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path)
    # spawn, not fork: the caller may hold torch/BLAS threads that a forked child would inherit.
    # Workers die with this process, however it ends (die_with_parent).
    pool = (
        _InProcess()
        if workers == 1
        else ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=die_with_parent
        )
    )
    try:
        with h5py.File(tmp, "w", libver=("earliest", "v110")) as f:
            opts = {"track_times": False}
            images = f.create_dataset(
                "images",
                (total, SIZE, SIZE, 3),
                np.uint8,
                chunks=(1, SIZE, SIZE, 3),
                compression="gzip",
                compression_opts=GZIP_LEVEL,
                **opts,
            )
            f.create_dataset("ans", data=plan["ans"].astype(np.int64), **opts)
            f.create_dataset("ra", data=plan["ra"], **opts)
            f.create_dataset("dec", data=plan["dec"], **opts)
            redshift = f.create_dataset("redshift", (total,), np.float64, **opts)
            pxscale = f.create_dataset("pxscale", (total,), np.float64, **opts)
            starts = range(0, total, BLOCK_ROWS)
            pending: deque[tuple[int, Future]] = deque()
            with progress_bar(total, f"rendering {like} rehearsal", enabled=progress) as advance:
                for start in [*starts, None]:
                    if start is not None:  # keep at most 2 x workers blocks in flight
                        stop = min(start + BLOCK_ROWS, total)
                        pending.append(
                            (
                                start,
                                pool.submit(
                                    _render_block,
                                    plan["key_class"][start:stop],
                                    plan["key_index"][start:stop],
                                    seed,
                                    GZIP_LEVEL,
                                ),
                            )
                        )
                    while pending and (start is None or len(pending) >= 2 * workers):
                        at, future = pending.popleft()
                        chunks, z, px = future.result()
                        for i, chunk in enumerate(chunks):
                            images.id.write_direct_chunk((at + i, 0, 0, 0), chunk)
                        z[plan["no_redshift"][at : at + len(z)]] = np.nan
                        redshift[at : at + len(z)], pxscale[at : at + len(z)] = z, px
                        advance(len(chunks))
            f.attrs["class_names"] = list(DECALS_CLASS_NAMES)
            f.attrs["synthetic"] = True
            f.attrs["generator"] = "galaxybench.data.rehearsal"
            f.attrs["generator_version"] = GENERATOR_VERSION
            f.attrs["like"], f.attrs["seed"], f.attrs["size"] = like, seed, SIZE
            f.attrs["description"] = (
                "Procedurally rendered rehearsal file with the Galaxy10 DECaLS layout (shape, "
                "class counts, row order, gzip chunks, duplicates); not real data."
            )
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or SIGTERM included: the workers stop now, not after a block
        if not isinstance(pool, _InProcess):
            terminate_workers(pool)
        raise
    finally:
        pool.shutdown(cancel_futures=True)
        tmp.unlink(missing_ok=True)
    log.info("wrote %d rehearsal images (%s layout) to %s", total, like, path)
    return path
