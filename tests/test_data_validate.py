"""Every bad input is refused through the CLI: exit 2, one line naming file and problem, input
untouched, nothing written. Plus what valid-but-unusual files are accepted as."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from galaxybench import paths
from galaxybench.cli import main
from galaxybench.data.classes import DECALS_CLASS_NAMES, SDSS_CLASS_NAMES
from galaxybench.data.read import iter_chunks, read_meta
from galaxybench.errors import DataError

N = 110  # rows of the default make_h5 file


def _not_hdf5(make_h5, tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("this is not HDF5\n" * 100)
    return path


def _truncated(make_h5, tmp_path):
    path = make_h5("cut.h5")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _float_images(value):
    def make(make_h5, tmp_path):
        images = np.full((N, 24, 24, 3), 100.0, np.float32)
        images[7, 3, 3, 1] = value
        return make_h5("float.h5", extra={"images": images})

    return make


def _unit_float_images(binary: bool):
    """Float pixels in 0..1, as many image libraries write them (or only 0 and 1)."""

    def make(make_h5, tmp_path):
        rng = np.random.default_rng(3)
        images = rng.random((N, 24, 24, 3), dtype=np.float32)
        return make_h5("unit.h5", extra={"images": np.round(images) if binary else images})

    return make


BAD_INPUTS = {
    "not hdf5": (_not_hdf5, "not an HDF5 file"),
    "truncated": (_truncated, "truncated"),
    "missing images": (lambda m, t: m(drop=["images"]), "missing dataset 'images'"),
    "missing ans": (lambda m, t: m(drop=["ans"]), "missing dataset 'ans'"),
    "length mismatch": (
        lambda m, t: m(extra={"ans": np.zeros(N - 1, np.uint8)}),
        "length mismatch",
    ),
    "labels out of range": (
        lambda m, t: m(class_names=[f"c{i}" for i in range(9)]),
        "labels out of range 0..8",
    ),
    "negative labels": (
        lambda m, t: m(extra={"ans": np.r_[np.arange(N - 1) % 10, -1]}),
        "negative labels",
    ),
    "non-integer labels": (
        lambda m, t: m(extra={"ans": np.r_[np.arange(N - 1) % 10, 2.5]}),
        "non-integer labels",
    ),
    "wrong dimensions": (
        lambda m, t: m(extra={"images": np.zeros((N, 24 * 24 * 3), np.uint8)}),
        "dimensions",
    ),
    "wrong channels": (
        lambda m, t: m(extra={"images": np.zeros((N, 24, 24, 4), np.uint8)}),
        "4 channels",
    ),
    "non-finite pixels": (_float_images(np.nan), "non-finite pixels in 'images' (row 7)"),
    "pixels out of range": (_float_images(300.0), "outside 0..255"),
    "float pixels in 0..1": (_unit_float_images(False), "float32 pixels scaled to 0..1 (row 0)"),
    "float pixels 0 and 1 only": (_unit_float_images(True), "pixels scaled to 0..1 (rows 0..15"),
    "fractional pixels": (_float_images(100.5), "fractional values (row 7)"),
    "fewer than two classes": (
        lambda m, t: m(counts=[20], duplicates=0, conflicting=0),
        "fewer than two classes",
    ),
    "no images": (
        lambda m, t: m(
            extra={"images": np.zeros((0, 24, 24, 3), np.uint8), "ans": np.zeros(0, np.uint8)},
            coordinates=False,
        ),
        "no images",
    ),
    "images too small": (lambda m, t: m(size=8), "too small"),
    "not square": (lambda m, t: m(extra={"images": np.zeros((N, 24, 20, 3), np.uint8)}), "square"),
    "directory": (lambda m, t: t, "is a directory"),
    "no such file": (lambda m, t: t / "absent.h5", "no such file"),
}


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _listing(*folders):
    return sorted(str(p) for f in folders if f.exists() for p in f.rglob("*"))


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_refused_in_one_line(case, make_h5, tmp_path, capsys):
    build, problem = BAD_INPUTS[case]
    path = build(make_h5, tmp_path)
    before, files_before = _digest(path), _listing(tmp_path)
    for argv in (["data", "info", str(path)], ["data", "prepare", str(path), "--profile", "smoke"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert problem in err and path.name in err, err
    assert _digest(path) == before  # the input is untouched
    assert _listing(tmp_path) == files_before  # nothing written next to it
    assert not list(paths.prepared_dir().glob("*.npz"))  # nothing half-written in the cache


def test_class_too_small_for_every_split_is_refused(make_h5, capsys):
    # Class 1 has 3 images: a 15% validation share of 3 is empty.
    path = make_h5(counts=[30, 3, 30], duplicates=0, conflicting=0)
    assert main(["data", "prepare", str(path), "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "class 'class_1' has 3 images" in err and path.name in err
    assert not list(paths.prepared_dir().glob("*.npz"))


def test_debug_shows_the_traceback(make_h5):
    path = make_h5(size=8)
    with pytest.raises(Exception, match="too small"):
        main(["--debug", "data", "info", str(path)])


def test_greyscale_is_replicated(make_h5):
    from galaxybench.config import DataConfig
    from galaxybench.data import prepare

    path = make_h5(greyscale=True, size=16)
    data = prepare(path, DataConfig(hr_size=16), use_cache=False)
    assert read_meta(path).channels == 1
    assert data.hr.shape[1:] == (3, 16, 16)
    assert (data.hr[:, 0] == data.hr[:, 2]).all() and (data.lr[:, 1] == data.lr[:, 2]).all()
    with h5py.File(path) as f:
        keep = data.info["n_read"] - data.info["n_duplicates_dropped"]
        assert keep == len(data.labels)
        assert np.array_equal(data.hr[0, 0], f["images"][0])  # native 16 = HR 16: no resampling


@pytest.mark.parametrize(
    ("size", "names"),
    [
        (256, DECALS_CLASS_NAMES),
        (69, SDSS_CLASS_NAMES),
        (20, tuple(f"class_{i}" for i in range(10))),
    ],
)
def test_class_names_follow_the_file(make_h5, size, names):
    path = make_h5(counts=[1] * 10, size=size, coordinates=False)
    assert read_meta(path).class_names == names


def test_class_names_attribute_wins_and_any_k(make_h5):
    path = make_h5(counts=[5, 6, 7], size=256, class_names=["E", "S", "Irr"], coordinates=False)
    meta = read_meta(path)
    assert meta.class_names == ("E", "S", "Irr") and meta.counts().tolist() == [5, 6, 7]


def test_fractional_pixels_past_the_first_rows_are_refused_when_read(make_h5):
    images = np.full((N, 24, 24, 3), 100.0, np.float32)
    images[N - 1, 0, 0, 0] = 0.25
    path = make_h5(extra={"images": images})
    read_meta(path)  # the door reads only the first rows
    with pytest.raises(DataError, match=rf"fractional values \(row {N - 1}\)"):
        list(iter_chunks(read_meta(path), rows=8))


def test_whole_number_float_pixels_convert_exactly(make_h5):
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (N, 24, 24, 3))
    path = make_h5(extra={"images": pixels.astype(np.float32)})
    got = np.concatenate([b for _, b in iter_chunks(read_meta(path), rows=16)])
    assert got.dtype == np.uint8 and np.array_equal(got, pixels)


def test_float_labels_and_integer_pixels_are_accepted(make_h5):
    labels = (np.arange(N) % 10).astype(np.float64)
    path = make_h5(extra={"ans": labels, "images": np.full((N, 24, 24, 3), 7, np.int32)})
    meta = read_meta(path)
    assert meta.labels.dtype == np.int64 and meta.labels.tolist() == (np.arange(N) % 10).tolist()
