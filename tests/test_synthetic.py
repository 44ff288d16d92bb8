"""Tests of the embedded synthetic Galaxy10 generator (galaxybench/data/synthetic.py).

Usage: ``pytest tests/test_synthetic.py``. Tiny scales (12 images per class) at 16-32 px.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy.special import gammainc

from galaxybench.data import morphology, render, synthetic
from galaxybench.data.classes import DECALS_CLASS_NAMES, DECALS_COUNTS
from galaxybench.errors import DataError, InputError

TINY = 0.001  # every class at its minimum of 12 images: 120 rows


@pytest.fixture(scope="module")
def tiny() -> dict[str, np.ndarray]:
    return synthetic.generate(scale=TINY, size=16, seed=3)


def test_keys_dtypes_shapes_ranges(tiny):
    assert set(tiny) == {"images", "ans", "ra", "dec", "redshift", "pxscale"}
    n = 10 * synthetic.MIN_PER_CLASS
    assert tiny["images"].shape == (n, 16, 16, 3) and tiny["images"].dtype == np.uint8
    assert tiny["ans"].dtype == np.int64 and set(np.unique(tiny["ans"])) == set(range(10))
    for key in ("ra", "dec", "redshift", "pxscale"):
        assert tiny[key].shape == (n,) and tiny[key].dtype == np.float64
    assert np.all((tiny["ra"] >= 0) & (tiny["ra"] < 360))
    assert np.all((tiny["dec"] >= -20) & (tiny["dec"] <= 35))
    assert set(np.unique(tiny["pxscale"])) <= {0.262, 0.524}
    z = tiny["redshift"]
    assert np.isnan(z).any() and np.all((z[~np.isnan(z)] > 0) & (z[~np.isnan(z)] < 0.5))
    # Images are not blank: a dark sky with a brighter galaxy in the middle.
    centre = tiny["images"][:, 6:10, 6:10].mean(axis=(1, 2, 3))
    corner = tiny["images"][:, :3, :3].mean(axis=(1, 2, 3))
    assert np.mean(centre > corner + 10) > 0.9


def test_rows_sorted_by_class(tiny):
    assert np.all(np.diff(tiny["ans"]) >= 0)


def test_counts_proportional_to_decals():
    assert synthetic.class_counts(1.0).tolist() == list(DECALS_COUNTS)
    assert synthetic.class_counts(1.0).sum() == 17_736
    for scale in (0.15, 0.05, 0.5):
        counts = synthetic.class_counts(scale)
        expected = np.maximum(np.asarray(DECALS_COUNTS) * scale, synthetic.MIN_PER_CLASS)
        assert np.all(np.abs(counts - expected) <= 0.5)
    assert synthetic.class_counts(TINY).tolist() == [12] * 10
    labels = synthetic.generate(scale=0.007, size=16, seed=0)["ans"]
    assert np.bincount(labels).tolist() == synthetic.class_counts(0.007).tolist()


def test_duplicates_share_position_with_same_and_conflicting_labels(tiny):
    pos = np.stack([tiny["ra"], tiny["dec"]], axis=1)
    _, inverse, counts = np.unique(pos, axis=0, return_inverse=True, return_counts=True)
    groups = [np.flatnonzero(inverse.ravel() == g) for g in np.flatnonzero(counts > 1)]
    assert all(len(g) == 2 for g in groups)
    same = [g for g in groups if tiny["ans"][g[0]] == tiny["ans"][g[1]]]
    conflict = [g for g in groups if tiny["ans"][g[0]] != tiny["ans"][g[1]]]
    assert len(conflict) == 3 and len(same) == 2  # the minimum handful at a tiny scale
    for a, b in groups:  # the same object: identical pixels and redshift
        assert np.array_equal(tiny["images"][a], tiny["images"][b])
        assert np.array_equal(tiny["redshift"][a], tiny["redshift"][b], equal_nan=True)


def test_file_is_byte_identical_for_same_arguments(tmp_path):
    a = synthetic.write_synthetic(tmp_path / "a.h5", scale=TINY, size=16, seed=7)
    b = synthetic.write_synthetic(tmp_path / "b.h5", scale=TINY, size=16, seed=7)
    c = synthetic.write_synthetic(tmp_path / "c.h5", scale=TINY, size=16, seed=8)
    assert a.read_bytes() == b.read_bytes()
    with h5py.File(a) as fa, h5py.File(c) as fc:
        assert not np.array_equal(fa["images"][:], fc["images"][:])
        assert fa["ans"].dtype == np.int64 and fa["images"].shape == (120, 16, 16, 3)
        assert [str(x) for x in fa.attrs["class_names"]] == list(DECALS_CLASS_NAMES)
        assert bool(fa.attrs["synthetic"]) and int(fa.attrs["seed"]) == 7
        assert float(fa.attrs["scale"]) == TINY
        assert int(fa.attrs["generator_version"]) == synthetic.GENERATOR_VERSION
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "c.h5"]


def test_file_matches_in_memory_generate(tmp_path):
    path = synthetic.write_synthetic(tmp_path / "s.h5", scale=TINY, size=16, seed=3)
    mem = synthetic.generate(scale=TINY, size=16, seed=3)
    with h5py.File(path) as f:
        for key, value in mem.items():
            assert np.array_equal(f[key][:], value, equal_nan=key == "redshift"), key


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(rng, label, size, **kwargs):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(synthetic, "render_galaxy", boom)
    with pytest.raises(RuntimeError):
        synthetic.write_synthetic(tmp_path / "x.h5", scale=TINY, size=16)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": 0},
        {"scale": float("nan")},
        {"scale": "1"},
        {"size": 8},
        {"size": 32.5},
        {"seed": -1},
    ],
)
def test_bad_arguments_are_refused(kwargs, tmp_path):
    with pytest.raises(InputError):
        synthetic.write_synthetic(tmp_path / "x.h5", **kwargs)
    assert not (tmp_path / "x.h5").exists()


def test_preview_of_a_non_hdf5_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(DataError, match=r"bad\.h5"):
        synthetic.write_preview(bad, tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()


def test_preview_png(tmp_path):
    from PIL import Image

    h5 = synthetic.write_synthetic(tmp_path / "s.h5", scale=TINY, size=16, seed=1)
    png = synthetic.write_preview(h5, tmp_path / "prev" / "p.png", per_class=3)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as im:
        width, height = im.size
    assert height > 300 and width > 200  # ten labelled rows of three thumbnails


def test_ensure_embedded_generates_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GALAXYBENCH_HOME", str(tmp_path))
    monkeypatch.setattr(synthetic, "EMBEDDED_SCALE", TINY)
    monkeypatch.setattr(synthetic, "EMBEDDED_SIZE", 16)
    first = synthetic.ensure_embedded()
    assert first.parent == tmp_path / "embedded" and first.exists()
    assert "scale0.001" in first.name and "size16" in first.name and "seed0" in first.name
    stamp = first.stat().st_mtime_ns

    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated the embedded set")

    monkeypatch.setattr(synthetic, "write_synthetic", must_not_run)
    assert synthetic.ensure_embedded() == first
    assert first.stat().st_mtime_ns == stamp


def test_embedded_defaults_are_meaningful():
    counts = synthetic.class_counts(synthetic.EMBEDDED_SCALE)
    assert 2000 <= counts.sum() <= 4000 and counts.min() >= 40
    assert synthetic.EMBEDDED_SIZE >= 64  # leaves room for HR 32 / LR 16 by area averaging


# Rendering primitives: reference values from analytic integrals.


def test_sersic_is_unit_flux_with_half_light_at_re():
    canvas = render.Canvas(128)
    for n in (1.0, 2.5):
        b = render._sersic_b(n)
        # Flux inside the square field lies between the analytic fractions inside r=1 and r=sqrt 2
        # (less up to 3% at n=2.5: point-sampling the cusp at pixel centres misses a little).
        total = render.sersic(canvas, re=0.12, n=n, q=1.0, pa=0.0).sum()
        slack = 0.01 if n == 1.0 else 0.03
        assert gammainc(2 * n, b * (1 / 0.12) ** (1 / n)) - slack < total
        assert total < gammainc(2 * n, b * (2**0.5 / 0.12) ** (1 / n)) + 0.01
        # Fraction of light inside re (q=1): the regularised gamma P(2n, b_n) must equal 1/2.
        assert gammainc(2 * n, b) == pytest.approx(0.5, abs=1e-4)
        round_profile = render.sersic(canvas, re=0.12, n=n, q=1.0, pa=0.0)
        inside = np.hypot(canvas.x, canvas.y) < 0.12
        assert round_profile[inside].sum() == pytest.approx(0.5, abs=0.03)
    # Flattening keeps the flux; sampling the cusp at pixel centres loses ~2% for an exponential
    # with re of 4 pixels (and ~7% at n=2.5: concentrated bulges are slightly under-bright).
    flat = render.sersic(canvas, re=0.06, n=1.0, q=0.5, pa=0.4).sum()
    assert flat == pytest.approx(0.98, abs=0.01)


def test_exponential_disk_is_unit_flux():
    canvas = render.Canvas(128)
    assert render.exp_disk(canvas, h=0.08, q=0.5, pa=1.0).sum() == pytest.approx(1.0, abs=0.01)


def test_resample_matrix_area_and_linear():
    down = render._resample_matrix(6, 3)
    img = np.arange(36, dtype=np.float32).reshape(6, 6)
    expected = img.reshape(3, 2, 3, 2).mean(axis=(1, 3))  # block means, by hand
    assert np.allclose(down @ img @ down.T, expected)
    up = render._resample_matrix(4, 10)
    assert np.allclose(up.sum(axis=1), 1) and np.allclose(up @ np.full(4, 5.0), 5.0)
    ramp = np.arange(4, dtype=np.float32)
    assert np.all(np.diff(up @ ramp) >= 0)  # interpolation keeps a ramp monotonic


def _axis_ratio(image: np.ndarray) -> float:
    """Minor/major axis ratio from second moments of the central light above the sky."""
    light = image.astype(np.float64).sum(axis=2)
    light = np.clip(light - np.median(light) - 40, 0, None)
    y, x = np.mgrid[: light.shape[0], : light.shape[1]]
    w = light / light.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    cov = np.cov(np.stack([x.ravel() - mx, y.ravel() - my]), aweights=w.ravel() + 1e-12)
    lo, hi = np.linalg.eigvalsh(cov)
    return float(np.sqrt(lo / hi))


def test_smooth_classes_order_by_axis_ratio():
    # Round > In-between > Cigar in median measured axis ratio, although their ranges overlap.
    medians = []
    for label in (2, 3, 4):
        ratios = [
            _axis_ratio(
                morphology.render_galaxy(np.random.default_rng([5, label, j]), label, 32)[0]
            )
            for j in range(12)
        ]
        medians.append(np.median(ratios))
    assert medians[0] > medians[1] > medians[2]
    assert medians[0] > 0.7 and medians[2] < 0.5


@pytest.mark.parametrize("label", [0, 8])  # Disturbed (shells), Edge-on without Bulge (knot chain)
def test_fine_structure_is_resolved_at_hr_and_averaged_away_at_lr(label, monkeypatch):
    # The same galaxies (same streams) with and without their fine structure, noiseless: at HR 32
    # (2x2 means of the 64-px render) the structure changes the pixels several times more than at
    # LR 16 (4x4 means), where the area average has smoothed it away.
    def render(j):
        img = morphology.render_galaxy(np.random.default_rng([3, label, j]), label, 64, noise=0)[0]
        return img.astype(np.float64)

    def block(img, k):
        n = img.shape[0] // k
        return img.reshape(n, k, n, k, 3).mean(axis=(1, 3))

    with_fine = [render(j) for j in range(12)]
    monkeypatch.setattr(morphology, "_modulate", lambda *args: None)
    without = [render(j) for j in range(12)]
    pairs = list(zip(with_fine, without, strict=True))
    change = {
        k: np.mean([np.abs(block(a, k) - block(b, k)).sum() for a, b in pairs])
        / np.mean([block(b, k).sum() for _, b in pairs])
        for k in (2, 4)
    }
    assert change[4] < 0.55 * change[2], change  # measured: 0.42 and 0.45 x


# Learnable, yet confused where astronomers are confused.

_GROUPS = ({0, 1}, {2, 3, 4}, {5, 6, 7}, {8, 9})  # disturbed/merging, smooth, spirals, edge-on


def _features(image: np.ndarray) -> list[float]:
    """Hand-made rotation-invariant features: shape, size, concentration, asymmetry, colour."""
    bands = image.astype(np.float64)
    light = bands.sum(axis=2)
    light = np.clip(light - np.median(light), 0, None) + 1e-9
    n = light.shape[0]
    y, x = np.mgrid[:n, :n]
    w = light / light.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    lo, hi = np.linalg.eigvalsh(
        np.cov(np.stack([x.ravel() - mx, y.ravel() - my]), aweights=w.ravel())
    )
    r = np.hypot(x - (n - 1) / 2, y - (n - 1) / 2)
    inner, outer = r < 4, (r > 4) & (r < 10)

    def colour(mask):  # log z/g: red bulges vs blue arms and clumps
        return np.log((bands[..., 2][mask].sum() + 1) / (bands[..., 0][mask].sum() + 1))

    return [
        np.sqrt(lo / hi),
        np.log(hi),
        light[r < 3].sum() / light[r < 10].sum(),
        np.abs(light - light[::-1, ::-1]).sum() / light.sum(),
        colour(inner),
        colour(outer),
        np.log(light.sum()),
    ]


def test_classes_are_learnable_but_confused_within_groups():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = synthetic.generate(scale=0.01, size=32, seed=11)  # 186 images, 12-26 per class
    features = np.array([_features(img) for img in data["images"]])
    labels = data["ans"]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    predicted = cross_val_predict(clf, features, labels, cv=5)
    accuracy = np.mean(predicted == labels)
    assert 0.3 < accuracy < 0.85  # chance is 0.1: learnable, far from trivially separable
    wrong = predicted != labels
    same_group = [any({a, b} <= g for g in _GROUPS) for a, b in zip(labels, predicted, strict=True)]
    # Most mistakes stay inside a group astronomers also confuse.
    assert np.mean(np.asarray(same_group)[wrong]) > 0.6


# The rehearsal file with the real Galaxy10 DECaLS layout (galaxybench.data.rehearsal).

REAL_RATIO = 2.54 / 3.49  # the real download over its raw pixels


@pytest.fixture(scope="module")
def like_file(tmp_path_factory):
    from galaxybench.data.rehearsal import write_like

    path = tmp_path_factory.mktemp("like") / "like.h5"
    return write_like(path, n=240, seed=5, workers=2)


def test_like_counts_full_and_proportional():
    from galaxybench.data.rehearsal import like_counts

    assert like_counts().tolist() == [1081, 1853, 2645, 2027, 334, 2043, 1829, 2628, 1423, 1873]
    for n in (240, 2000, 4434, 8868):
        counts = like_counts(n)
        assert counts.sum() == n and counts.min() >= synthetic.MIN_PER_CLASS
        # Largest remainder: every count within one of its exact share (none clamped here).
        if n >= 2000:
            exact = np.asarray(DECALS_COUNTS) * n / 17736
            assert np.all(np.abs(counts - exact) < 1)
    with pytest.raises(InputError):
        like_counts(100)


def test_like_file_has_the_real_layout(like_file):
    from galaxybench.data.rehearsal import like_counts

    with h5py.File(like_file) as f:
        images = f["images"]
        assert images.shape == (240, 256, 256, 3) and images.dtype == np.uint8
        assert images.chunks == (1, 256, 256, 3) and images.compression == "gzip"
        ratio = images.id.get_storage_size() / images.size
        assert abs(ratio - REAL_RATIO) < 0.03, ratio
        labels = f["ans"][()]
        assert np.bincount(labels).tolist() == like_counts(240).tolist()
        assert np.all(np.diff(labels) >= 0)
        z, px = f["redshift"][()], f["pxscale"][()]
        assert np.isnan(z).any() and set(np.round(px, 3)) <= {0.262, 0.524}
        pos = np.stack([f["ra"][()], f["dec"][()]], 1)
        _, inverse, counts = np.unique(pos, axis=0, return_inverse=True, return_counts=True)
        groups = [np.flatnonzero(inverse.ravel() == g) for g in np.flatnonzero(counts > 1)]
        conflicting = [g for g in groups if labels[g[0]] != labels[g[1]]]
        assert len(conflicting) == 3  # max(3, round(59 * 240 / 17736))
        a, b = conflicting[0]
        assert np.array_equal(images[a], images[b])  # the same object drawn twice
        # Direct-chunk writes decode to the pixels the renderer makes for that object.
        from galaxybench.data.morphology import render_galaxy
        from galaxybench.data.rehearsal import PEDESTAL

        k, j = 0, 0  # row 0: class 0, object 0 (never a duplicate copy: copies are later rows)
        expect = render_galaxy(np.random.default_rng([5, k, j]), k, 256, pedestal=PEDESTAL)[0]
        if 0 not in np.concatenate(groups):
            assert np.array_equal(images[0], expect)


@pytest.mark.slow
def test_like_file_does_not_depend_on_worker_count(like_file, tmp_path):
    from galaxybench.data.rehearsal import write_like

    one = write_like(tmp_path / "one.h5", n=240, seed=5, workers=1)
    assert one.read_bytes() == like_file.read_bytes()


@pytest.mark.slow
def test_like_cli_writes_a_small_file(like_file, tmp_path):
    """The CLI writes a real 240-row rehearsal file: read back, it has the asked rows, the real
    file's proportions and layout, and the bytes the library gives for the same seed."""
    from galaxybench.cli import main
    from galaxybench.data.rehearsal import like_counts

    out = tmp_path / "r.h5"
    argv = ["data", "synth", "--like", "galaxy10-decals", "--n", "240", "--seed", "5"]
    assert main([*argv, "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        assert f["images"].shape == (240, 256, 256, 3) and f["images"].dtype == np.uint8
        labels = f["ans"][()]
        assert np.array_equal(np.bincount(labels, minlength=10), like_counts(240))
        assert f["images"][0].any()  # rendered pixels, not an empty dataset
    assert out.read_bytes() == like_file.read_bytes()  # the same as write_like(n=240, seed=5)
