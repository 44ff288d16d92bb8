"""Prepare a Galaxy10-format file: dedupe by (ra, dec), resize to HR and LR, stratified split.

Chunked reads, uint8 all the way, prepared arrays cached by fingerprint (docs/protocol.md, "Data,
splits and seeds"; docs/architecture.md, "Data flow"). Deduplication and the split are in
``preparation_split``, the area resize in ``preparation_resize`` (both re-exported here).

Usage::

    data = prepare("Galaxy10_DECals.h5", cfg.data)   # PreparedData; cached on disk
    data.subset("train").lr.shape                    # (n, 3, hr_size // 2, hr_size // 2)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import torch

from galaxybench.config import DataConfig, stable_hash
from galaxybench.data import store
from galaxybench.data._progress import progress_bar
from galaxybench.data.arrays import PreparedData
from galaxybench.data.preparation_resize import resize_block
from galaxybench.data.preparation_split import (
    DEDUPE_TOLERANCE_ARCSEC,
    Dedupe,
    _split_or_refuse,
    dedupe,
    stratified_split,
)
from galaxybench.data.read import (
    Galaxy10Meta,
    iter_chunks,
    open_h5,
    read_meta,
    rows_per_chunk,
)
from galaxybench.errors import DataError

__all__ = [
    "DEDUPE_TOLERANCE_ARCSEC",
    "PREPARE_THREADS",
    "PREPARE_VERSION",
    "Dedupe",
    "dedupe",
    "prepare",
    "resize_block",
    "settings",
    "stratified_split",
]

log = logging.getLogger(__name__)

PREPARE_VERSION = 1  # bump when the preparation changes: old cache entries stop matching
# Block threads for gzip files (inflate + resize): one per core, at most 8.
PREPARE_THREADS = min(8, os.cpu_count() or 1)


def settings(data_cfg: DataConfig) -> dict[str, object]:
    """The preparation settings that, with the file's SHA256, determine the prepared arrays."""
    return {
        "hr_size": data_cfg.hr_size,
        "split_seed": data_cfg.split_seed,
        "val_fraction": data_cfg.val_fraction,
        "test_fraction": data_cfg.test_fraction,
        "dedupe_arcsec": DEDUPE_TOLERANCE_ARCSEC,
        "resize": "area",
        "version": PREPARE_VERSION,
        # Only when set, so that cache keys of files without a remap are unchanged.
        **({"remap_labels": data_cfg.remap_labels} if data_cfg.remap_labels else {}),
    }


def _gzip_row_chunks(images: h5py.Dataset) -> int | None:
    """Rows per chunk when ``images`` is uint8, chunked by whole images and only gzip-filtered
    (the Galaxy10 DECaLS layout): those chunks can be read raw and inflated in parallel threads.
    None for any other layout (the generic chunked read path is used)."""
    if images.dtype != np.uint8 or images.chunks is None or images.chunks[1:] != images.shape[1:]:
        return None
    plist = images.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    return images.chunks[0] if filters == [h5py.h5z.FILTER_DEFLATE] else None


def _chunk_reader(meta: Galaxy10Meta, images: h5py.Dataset, lock: threading.Lock):
    """``read(start, stop)`` -> rows start..stop-1 (m, H, W[, 3]) uint8; start a multiple of the
    chunk rows. Meant to run in worker threads.

    Only the raw chunk fetch holds h5py's lock (it is short); zlib inflates with the GIL released,
    so several blocks decompress at once. h5py's own gzip reads hold its global lock throughout
    (one decompression at a time, measured by bench/data_prep.py).
    """
    c = images.chunks[0]
    shape = images.shape[1:]

    def read(start: int, stop: int) -> np.ndarray:
        try:
            with lock:
                raw = [images.id.read_direct_chunk((r, 0, 0, 0)) for r in range(start, stop, c)]
        except (OSError, KeyError, RuntimeError) as exc:  # e.g. a chunk that was never written
            raise DataError(
                f"{meta.path}: cannot read 'images' rows {start}..{stop - 1} "
                f"(corrupt or truncated file: {exc})"
            ) from None
        out = np.empty((stop - start, *shape), np.uint8)
        for i, (mask, data) in enumerate(raw):
            try:  # filter mask bit 0 set: the deflate filter was skipped for this chunk
                flat = data if mask & 1 else zlib.decompress(data)
                block = np.frombuffer(flat, np.uint8).reshape(c, *shape)
            except (zlib.error, ValueError) as exc:
                raise DataError(
                    f"{meta.path}: cannot read 'images' rows {start + i * c}.. "
                    f"(corrupt compressed chunk: {exc})"
                ) from None
            at = i * c
            out[at : at + c] = block[: min(c, stop - start - at)]
        return out

    return read


def _resize_all(
    meta: Galaxy10Meta, keep: np.ndarray, hr_size: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Read the file in blocks and fill (n_keep, 3, S, S) HR and LR uint8 arrays.

    Gzip files chunked by image (Galaxy10 DECaLS): ``PREPARE_THREADS`` threads each fetch raw
    chunks, inflate (zlib releases the GIL), resize and write a block into its own rows of the
    output, with at most 2 blocks per thread in flight (bounded memory). Other layouts: a reader
    thread fetches the next chunk while torch resizes this one.
    """
    n_keep = int(keep.sum())
    hr = np.empty((n_keep, 3, hr_size, hr_size), np.uint8)
    lr = np.empty((n_keep, 3, hr_size // 2, hr_size // 2), np.uint8)
    dest = np.cumsum(keep) - 1  # file row -> position in the prepared arrays

    def place(start: int, block: np.ndarray) -> int:
        rows = keep[start : start + len(block)]
        if rows.any():
            h, lo = resize_block(block if rows.all() else block[rows], hr_size)
            at = dest[start : start + len(block)][rows]  # consecutive positions
            hr[at[0] : at[-1] + 1], lr[at[0] : at[-1] + 1] = h.numpy(), lo.numpy()
        return len(block)

    label = f"prepare {meta.path.name}"
    with open_h5(meta.path) as f:
        images = f["images"]
        c = _gzip_row_chunks(images)
        if c is not None:
            rows = max(c, 64 // c * c)  # 64 images (12 MB at 256 px) per task
            lock, pending = threading.Lock(), deque()
            # torch's own intra-op threads would fight the block threads for the same cores.
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with (
                    ThreadPoolExecutor(PREPARE_THREADS) as pool,
                    progress_bar(meta.num_images, label, enabled=progress) as adv,
                ):
                    read = _chunk_reader(meta, images, lock)
                    for start in range(0, meta.num_images, rows):
                        stop = min(start + rows, meta.num_images)
                        pending.append(pool.submit(lambda a=start, b=stop: place(a, read(a, b))))
                        while len(pending) >= 2 * PREPARE_THREADS:
                            adv(pending.popleft().result())
                    while pending:
                        adv(pending.popleft().result())
            finally:
                torch.set_num_threads(threads)
            return hr, lr
    chunks = iter_chunks(meta, rows_per_chunk(meta))
    with (
        ThreadPoolExecutor(1) as pool,
        progress_bar(meta.num_images, label, enabled=progress) as adv,
    ):
        pending = pool.submit(next, chunks, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, chunks, None)
            adv(place(*item))
    chunks.close()
    return hr, lr


def _prepare_uncached(
    meta: Galaxy10Meta,
    data_cfg: DataConfig,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], Dedupe]:
    dup = dedupe(meta.ra, meta.dec, meta.labels)
    labels = meta.labels[dup.keep]
    if meta.ra is not None and meta.dec is not None:
        order = np.lexsort((meta.dec[dup.keep], meta.ra[dup.keep]))  # sky order, not file order
    else:
        order = np.arange(len(labels))  # no coordinates: the file order is all there is
    splits = _split_or_refuse(meta, labels, order, data_cfg)
    if data_cfg.hr_size > meta.native_size:
        log.warning(
            "%s: native size %d px is below data.hr_size %d; HR is upsampled",
            meta.path,
            meta.native_size,
            data_cfg.hr_size,
        )
    hr, lr = _resize_all(meta, dup.keep, data_cfg.hr_size, progress)
    return hr, lr, labels, splits, dup


def prepare(
    path: str | Path, data_cfg: DataConfig, *, use_cache: bool = True, progress: bool = False
) -> PreparedData:
    """Validate, dedupe, resize (HR and LR by area averaging) and split a Galaxy10-format file.

    The result is cached under ``paths.prepared_dir()`` keyed by the file's SHA256 and
    :func:`settings`; the file is only read. ``info`` records n_read, n_duplicates_dropped,
    duplicate_groups, conflicting_groups, native_size, file_fingerprint, counts (after dedupe),
    split_counts and seconds.

    Raises:
        DataError: any invalid input, with one line naming the file and the problem.
    """
    path = Path(path)
    meta = read_meta(path, data_cfg.remap_labels)
    file_sha = store.cached_sha256(path) if use_cache else None
    if file_sha is None:  # unknown file: hash it while preparing, then store
        data = _build(meta, data_cfg, None, progress)
        if use_cache:
            with store.prepared_lock(data.fingerprint):
                store.save_prepared(data.fingerprint, data)
        return data
    key = stable_hash({"file": file_sha, **settings(data_cfg)})
    with store.prepared_lock(key):  # concurrent processes prepare a file once
        cached = store.load_prepared(key)
        if cached is not None:
            return dataclasses.replace(cached, source=str(path))
        data = _build(meta, data_cfg, file_sha, progress)
        store.save_prepared(key, data)
        return data


def _build(
    meta: Galaxy10Meta, data_cfg: DataConfig, file_sha: str | None, progress: bool
) -> PreparedData:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        # Hash the file while it is being prepared (hashlib and torch release the GIL).
        sha_future = pool.submit(store.file_sha256, meta.path) if file_sha is None else None
        hr, lr, labels, splits, dup = _prepare_uncached(meta, data_cfg, progress)
        file_sha = sha_future.result() if sha_future is not None else file_sha
    key = stable_hash({"file": file_sha, **settings(data_cfg)})
    info = {
        "n_read": meta.num_images,
        "n_duplicates_dropped": dup.dropped,
        "duplicate_groups": dup.groups,
        "conflicting_groups": dup.conflicting,
        "native_size": meta.native_size,
        "file_fingerprint": file_sha,
        "counts": np.bincount(labels, minlength=meta.num_classes).tolist(),
        "split_counts": {s: len(v) for s, v in splits.items()},
        "settings": settings(data_cfg),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return PreparedData(lr, hr, labels, meta.class_names, splits, key, str(meta.path), info)
