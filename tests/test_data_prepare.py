"""prepare(): dedupe counts by hand, area resize against hand-computed means, stratified disjoint
splits (against scikit-learn, independent of row order), fingerprints and the prepared cache."""

from __future__ import annotations

import hashlib
import json
import os

import h5py
import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

from galaxybench import paths
from galaxybench.config import DataConfig
from galaxybench.data import dedupe, file_sha256, prepare, resize_block, stratified_split
from galaxybench.data import preparation as prep_mod

CFG = DataConfig(hr_size=16, split_seed=3)


def _block_mean(x, f):
    """(n, H, W, 3) -> (n, 3, H/f, W/f) float64 block means: the hand computation of area."""
    n, h, w, c = x.shape
    return x.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4)).transpose(0, 3, 1, 2)


def test_dedupe_counts_by_hand(tiny_h5):
    # tiny_h5: 3 agreeing copies (drop the copy) + 2 conflicting pairs (drop both): 5 groups.
    with h5py.File(tiny_h5) as f:
        ra, dec, labels = f["ra"][()], f["dec"][()], f["ans"][()].astype(np.int64)
    out = dedupe(ra, dec, labels)
    assert (out.groups, out.conflicting, out.dropped) == (5, 2, 7)
    n = len(labels)
    assert out.keep[n - 3 :].sum() == 0  # copies at ra + 1e-5 deg go, the westernmost stays
    assert out.keep[n - 5 : n - 3].sum() == 0  # both copies of a conflicting object go


def test_dedupe_tolerance_is_half_an_arcsec():
    arcsec = 1 / 3600
    ra = np.array([10.0, 10.0 + 0.4 * arcsec, 50.0, 50.0 + 0.6 * arcsec, 80.0, np.nan, np.nan])
    dec = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    out = dedupe(ra, dec, np.array([1, 1, 2, 2, 3, 4, 4]))
    assert out.keep.tolist() == [True, False, True, True, True, True, True]
    assert (out.groups, out.dropped) == (1, 1)
    assert dedupe(None, None, np.zeros(4, int)).keep.all()


def test_area_resize_matches_hand_means():
    rng = np.random.default_rng(1)
    native = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    hr, lr = resize_block(native, 16)
    assert str(hr.dtype) == str(lr.dtype) == "torch.uint8"
    assert np.array_equal(hr.numpy(), np.floor(0.5 + _block_mean(native.astype(np.float64), 2)))
    assert np.array_equal(lr.numpy(), np.floor(0.5 + _block_mean(native.astype(np.float64), 4)))
    tiny = np.zeros((1, 4, 4, 3), np.uint8)
    tiny[0, :2, :2, 0] = [[10, 20], [30, 41]]  # mean 25.25 -> 25
    assert resize_block(tiny, 2)[0][0, 0, 0, 0].item() == 25
    tiny[0, 1, 1, 0] = 42  # mean 25.5 rounds half up to 26
    assert resize_block(tiny, 2)[0][0, 0, 0, 0].item() == 26
    hr, lr = resize_block(native[..., 0], 16)  # greyscale is replicated to 3 channels
    assert hr.shape == (5, 3, 16, 16) and (hr[:, 0] == hr[:, 2]).all()


def test_area_resize_non_integer_factor_matches_float_area():
    rng = np.random.default_rng(2)
    native = rng.integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    hr, _ = resize_block(native, 8)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(native).permute(0, 3, 1, 2).double(), size=(8, 8), mode="area"
    )
    assert np.abs(hr.numpy() - np.floor(ref.numpy() + 0.5)).max() <= 1  # float32 vs float64
    # Each HR pixel of a 20 -> 8 area resize averages a 2.5 x 2.5 footprint: check a corner
    # by hand with adaptive pooling's windows (rows 0..2, cols 0..2).
    corner = native[0, 0:3, 0:3, 1].astype(np.float64).mean()
    assert abs(int(hr[0, 1, 0, 0]) - corner) <= 0.5 + 1e-9


def test_prepare_arrays_are_the_resized_kept_rows(tiny_h5):
    data = prepare(tiny_h5, DataConfig(hr_size=8), use_cache=False)
    with h5py.File(tiny_h5) as f:
        images, labels = f["images"][()], f["ans"][()]
    keep = dedupe(*(h5py.File(tiny_h5)[k][()] for k in ("ra", "dec")), labels.astype(int)).keep
    expect = np.floor(0.5 + _block_mean(images[keep].astype(np.float64), 3))  # 24 px -> 8 px
    assert data.hr.shape == (103, 3, 8, 8) and data.lr.shape == (103, 3, 4, 4)
    assert np.array_equal(data.hr, expect) and np.array_equal(data.labels, labels[keep])
    assert data.info["n_read"] == 110 and data.info["n_duplicates_dropped"] == 7
    assert data.info["native_size"] == 24 and sum(data.info["counts"]) == 103


def test_split_is_disjoint_stratified_and_matches_sklearn(tiny_h5):
    data = prepare(tiny_h5, CFG, use_cache=False)
    parts = [data.splits[s] for s in ("train", "val", "test")]
    together = np.concatenate(parts)
    assert len(np.unique(together)) == len(together) == len(data.labels)
    counts = np.bincount(data.labels)
    for split, frac in (("test", 0.2), ("val", 0.15)):
        per_class = np.bincount(data.labels[data.splits[split]], minlength=len(counts))
        assert (per_class >= 1).all()
        assert np.abs(per_class - frac * counts).max() <= 1.5  # stratified within rounding
    # Reference: scikit-learn's stratified split on the same canonical (sky) order.
    with h5py.File(tiny_h5) as f:
        ra, dec = f["ra"][()], f["dec"][()]
    keep = dedupe(ra, dec, f_labels := h5py.File(tiny_h5)["ans"][()].astype(int)).keep
    order = np.lexsort((dec[keep], ra[keep]))
    _, test = train_test_split(order, test_size=0.2, stratify=f_labels[keep][order], random_state=3)
    assert np.array_equal(np.sort(test), data.splits["test"])


def test_split_does_not_depend_on_row_order(make_h5, tmp_path):
    a = prepare(make_h5("a.h5", seed=4), CFG, use_cache=False)
    perm = np.random.default_rng(0).permutation(110)
    with h5py.File(tmp_path / "a.h5") as f, h5py.File(tmp_path / "b.h5", "w") as g:
        for key in f:
            g[key] = f[key][()][perm]
    b = prepare(tmp_path / "b.h5", CFG, use_cache=False)
    with h5py.File(tmp_path / "a.h5") as f, h5py.File(tmp_path / "b.h5") as g:
        ra_a, ra_b = f["ra"][()], g["ra"][()]
    kept_a = ra_a[
        dedupe(
            ra_a,
            f_dec := h5py.File(tmp_path / "a.h5")["dec"][()],
            a_lab := h5py.File(tmp_path / "a.h5")["ans"][()].astype(int),
        ).keep
    ]
    kept_b = ra_b[dedupe(ra_b, f_dec[perm], a_lab[perm]).keep]
    for split in ("train", "val", "test"):
        assert set(kept_a[a.splits[split]]) == set(kept_b[b.splits[split]])


def test_split_seed_changes_the_split():
    labels = np.repeat(np.arange(4), 25)
    s0 = stratified_split(labels, DataConfig(split_seed=0))
    s1 = stratified_split(labels, DataConfig(split_seed=1))
    assert not np.array_equal(s0["test"], s1["test"])
    assert np.array_equal(s0["test"], stratified_split(labels, DataConfig(split_seed=0))["test"])


def test_fingerprint_is_the_file_sha256_and_cached(tiny_h5):
    expect = hashlib.sha256(tiny_h5.read_bytes()).hexdigest()
    assert file_sha256(tiny_h5) == expect
    index = json.loads((paths.home() / "fingerprints.json").read_text())
    assert index[str(tiny_h5.resolve())]["sha256"] == expect
    # A stale cache entry is ignored once the mtime changes.
    entry = index[str(tiny_h5.resolve())]
    entry["sha256"] = "0" * 64
    (paths.home() / "fingerprints.json").write_text(json.dumps(index))
    assert file_sha256(tiny_h5) == "0" * 64  # same path, size, mtime: cached value is used
    os.utime(tiny_h5, ns=(entry["mtime_ns"] + 10**9, entry["mtime_ns"] + 10**9))
    assert file_sha256(tiny_h5) == expect


def test_prepared_cache_is_keyed_by_file_and_settings(tiny_h5, monkeypatch):
    first = prepare(tiny_h5, CFG)
    assert first.info["file_fingerprint"] == hashlib.sha256(tiny_h5.read_bytes()).hexdigest()
    assert len(list(paths.prepared_dir().glob("*.npz"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("re-read the file despite a cache hit")

    monkeypatch.setattr(prep_mod, "_resize_all", boom)
    again = prepare(tiny_h5, CFG)
    assert again.fingerprint == first.fingerprint
    assert np.array_equal(again.hr, first.hr) and np.array_equal(again.lr, first.lr)
    assert all(np.array_equal(again.splits[s], first.splits[s]) for s in first.splits)
    assert again.info == first.info and again.class_names == first.class_names
    monkeypatch.undo()
    other = prepare(tiny_h5, DataConfig(hr_size=8, split_seed=3))
    assert other.fingerprint != first.fingerprint and other.hr.shape[-1] == 8
    assert prepare(tiny_h5, DataConfig(hr_size=16, split_seed=4)).fingerprint != first.fingerprint


def test_upsampling_is_allowed_with_a_warning(make_h5, caplog):
    path = make_h5(size=16)
    data = prepare(path, DataConfig(hr_size=32), use_cache=False)
    assert data.hr.shape[-1] == 32 and "upsampled" in caplog.text


@pytest.mark.parametrize("size", [69, 20])
def test_non_integer_factors(make_h5, size):
    data = prepare(make_h5(size=size), DataConfig(hr_size=16), use_cache=False)
    assert data.hr.shape[1:] == (3, 16, 16) and data.lr.shape[1:] == (3, 8, 8)
    assert abs(float(data.hr.mean()) - 127.5) < 3  # area averaging keeps the mean brightness


@pytest.mark.parametrize("chunk_rows", [1, 3])
@pytest.mark.parametrize("threads", [1, 2])
def test_gzip_chunk_path_matches_hand_means(tiny_h5, tmp_path, monkeypatch, chunk_rows, threads):
    """The parallel raw-chunk inflate path (gzip chunked by image, as Galaxy10 DECaLS) gives the
    hand-computed area means, also with several rows per chunk and a partial last chunk."""
    gz = tmp_path / "gz.h5"
    with h5py.File(tiny_h5) as src, h5py.File(gz, "w") as dst:
        for key in src:
            if key != "images":
                dst[key] = src[key][()]
        images = src["images"][()]
        dst.create_dataset(
            "images",
            data=images,
            chunks=(chunk_rows, 24, 24, 3),
            compression="gzip",
            compression_opts=4,
        )
        labels = src["ans"][()].astype(int)
        keep = dedupe(src["ra"][()], src["dec"][()], labels).keep
    with h5py.File(gz) as f:
        assert prep_mod._gzip_row_chunks(f["images"]) == chunk_rows
    monkeypatch.setattr(prep_mod, "PREPARE_THREADS", threads)
    monkeypatch.setattr(prep_mod, "_chunk_reader", _counting(prep_mod._chunk_reader))
    data = prepare(gz, DataConfig(hr_size=8), use_cache=False)
    assert _counting.calls >= 1  # the gzip path ran, not the generic read
    expect = np.floor(0.5 + _block_mean(images[keep].astype(np.float64), 3))
    assert np.array_equal(data.hr, expect)
    lr = np.floor(0.5 + _block_mean(images[keep].astype(np.float64), 6))
    assert np.array_equal(data.lr, lr)


def _counting(fn):
    _counting.calls = 0

    def wrapped(*args, **kwargs):
        _counting.calls += 1
        return fn(*args, **kwargs)

    return wrapped


def test_other_layouts_use_the_generic_read(tiny_h5, tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        plain = f.create_dataset("a", (4, 8, 8, 3), np.uint8)
        shuffled = f.create_dataset(
            "b", (4, 8, 8, 3), np.uint8, chunks=(1, 8, 8, 3), compression="gzip", shuffle=True
        )
        tiles = f.create_dataset(
            "c", (4, 8, 8, 3), np.uint8, chunks=(1, 4, 4, 3), compression="gzip"
        )
        floats = f.create_dataset(
            "d", (4, 8, 8, 3), np.float32, chunks=(1, 8, 8, 3), compression="gzip"
        )
        for ds in (plain, shuffled, tiles, floats):
            assert prep_mod._gzip_row_chunks(ds) is None


@pytest.mark.parametrize(
    "layout",
    [
        {},  # contiguous, uncompressed
        {"chunks": (1, 24, 24, 3), "compression": "gzip", "shuffle": True},
        {"chunks": (1, 12, 12, 3), "compression": "gzip"},  # tiles, not whole images
        {"chunks": (1, 24, 24, 3), "compression": "gzip", "dtype": np.float32},
    ],
    ids=["contiguous", "shuffled", "tiles", "float32"],
)
def test_other_layouts_are_read_by_the_generic_path(tiny_h5, tmp_path, monkeypatch, layout):
    """A file in each non-Galaxy10-DECaLS layout is really prepared through the generic chunked
    read, and gives the hand-computed area means of its pixels."""
    path = tmp_path / "other.h5"
    with h5py.File(tiny_h5) as src, h5py.File(path, "w") as dst:
        for key in src:
            if key != "images":
                dst[key] = src[key][()]
        images = src["images"][()]
        dtype = layout.get("dtype", np.uint8)
        dst.create_dataset(
            "images", data=images.astype(dtype), **{k: v for k, v in layout.items() if k != "dtype"}
        )
        labels = src["ans"][()].astype(int)
        keep = dedupe(src["ra"][()], src["dec"][()], labels).keep
    monkeypatch.setattr(prep_mod, "_chunk_reader", _counting(prep_mod._chunk_reader))
    data = prepare(path, DataConfig(hr_size=8), use_cache=False)
    assert _counting.calls == 0  # the generic read ran, not the gzip-by-image path
    expect = np.floor(0.5 + _block_mean(images[keep].astype(np.float64), 3))
    assert np.array_equal(data.hr, expect)
    lr = np.floor(0.5 + _block_mean(images[keep].astype(np.float64), 6))
    assert np.array_equal(data.lr, lr)


def test_corrupt_gzip_chunk_is_one_data_error(tiny_h5, tmp_path):
    from galaxybench.errors import DataError

    gz = tmp_path / "bad.h5"
    with h5py.File(tiny_h5) as src, h5py.File(gz, "w") as dst:
        for key in src:
            if key != "images":
                dst[key] = src[key][()]
        images = dst.create_dataset(
            "images", data=src["images"][()], chunks=(1, 24, 24, 3), compression="gzip"
        )
        images.id.write_direct_chunk((5, 0, 0, 0), b"not a zlib stream")
    with pytest.raises(DataError, match=r"bad\.h5: cannot read 'images' rows 5\.\."):
        prepare(gz, DataConfig(hr_size=8), use_cache=False)
