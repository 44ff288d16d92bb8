"""Shared fixtures: tiny Galaxy10-format HDF5 files and an isolated galaxybench home.

Usage in a test::

    def test_x(make_h5):
        path = make_h5(counts=[12, 8], size=16, duplicates=2, conflicting=1)
    def test_y(tiny_h5): ...          # 10 classes, 24 px, random pixels, a few duplicates
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

TINY_COUNTS = (12, 10, 14, 11, 9, 12, 10, 13, 9, 10)  # 110 images, every class splittable


def write_galaxy10_h5(
    path: Path,
    *,
    counts: Sequence[int] = TINY_COUNTS,
    size: int = 24,
    seed: int = 0,
    duplicates: int = 3,
    conflicting: int = 2,
    greyscale: bool = False,
    sort_by_class: bool = True,
    class_names: Sequence[str] | None = None,
    coordinates: bool = True,
    extra: dict[str, Any] | None = None,
    drop: Sequence[str] = (),
) -> Path:
    """Write a Galaxy10-format file with random uint8 pixels.

    Rows are sorted by class (as the real file). The last ``duplicates`` rows repeat the (ra, dec)
    of earlier rows with the same label (agreeing copies); the ``conflicting`` rows before them
    repeat a position with a different label. ``extra`` replaces or adds datasets; ``drop``
    removes them.
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(counts)), counts)
    if not sort_by_class:
        labels = rng.permutation(labels)
    n = len(labels)
    shape = (n, size, size) if greyscale else (n, size, size, 3)
    data: dict[str, Any] = {
        "images": rng.integers(0, 256, shape, dtype=np.uint8),
        "ans": labels.astype(np.uint8),
        "redshift": rng.uniform(0, 0.3, n),
        "pxscale": np.full(n, 0.262),
    }
    if coordinates:
        ra, dec = rng.uniform(0, 360, n), rng.uniform(-60, 60, n)
        # Copies: agreeing ones take the position of a row with the same label; conflicting ones
        # of a row with another label. Sources are taken from the start of the file.
        for j, row in enumerate(range(n - duplicates, n)):
            src = int(np.flatnonzero(labels[: n - duplicates - conflicting] == labels[row])[0 + j])
            ra[row], dec[row] = ra[src] + 1e-5, dec[src]  # 0.036 arcsec apart: same object
        for j, row in enumerate(range(n - duplicates - conflicting, n - duplicates)):
            src = int(np.flatnonzero(labels[: n - duplicates - conflicting] != labels[row])[-1 - j])
            ra[row], dec[row] = ra[src], dec[src]
        data["ra"], data["dec"] = ra, dec
    data.update(extra or {})
    with h5py.File(path, "w") as f:
        for key, value in data.items():
            if key not in drop:
                f.create_dataset(key, data=value)
        if class_names is not None:
            f.attrs["class_names"] = np.array(list(class_names), dtype=h5py.string_dtype())
    return path


# Ray reads its auth mode once, at import: set it explicitly before any test module imports Ray
# (conftest is imported before the test modules).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

# One torch thread in tests: on a 2-core machine shared with Ray workers and other processes,
# two OpenMP threads spin against each other and run the paper's CNN slower than one.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own $GALAXYBENCH_HOME: no test touches ~/.cache or another's cache."""
    monkeypatch.setenv("GALAXYBENCH_HOME", str(tmp_path_factory.mktemp("gbhome")))


@pytest.fixture
def make_h5(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_h5(name="x.h5", **write_galaxy10_h5 options)`` -> path in tmp_path."""

    def make(name: str = "galaxy10.h5", **options: Any) -> Path:
        return write_galaxy10_h5(tmp_path / name, **options)

    return make


@pytest.fixture
def tiny_h5(make_h5: Callable[..., Path]) -> Path:
    """A valid 10-class, 24 px file of 110 images with 3 agreeing and 2 conflicting duplicates."""
    return make_h5("tiny.h5")


# ---- the stage plugin fixture ------------------------------------------------------------------
# tests/fixtures/plugin_pkg is a separate installable package adding the upscaler "nearest"
# through the entry-point group galaxybench.stages. It is installed once per session, offline,
# into a temporary folder put on sys.path (this process) and PYTHONPATH (subprocesses and Ray
# workers started later), so the contract tests run over it like over any built-in stage.
PLUGIN_SOURCE = Path(__file__).parent / "fixtures" / "plugin_pkg"
PLUGIN_STAGE = "nearest"
_CONTRACT_PARAMS = {  # fixture name -> registry it is parametrized over
    "upscaler_name": "UPSCALERS",
    "rebalancer_name": "REBALANCERS",
    "loss_name": "CLASSIFIER_LOSSES",
    "augment_name": "CLASSIFIER_AUGMENTS",
}


@functools.cache
def install_stage_plugin() -> Path:
    """Install the fixture plugin (no network, no build isolation) and make it importable."""
    import galaxybench.registry as registry

    root = Path(tempfile.mkdtemp(prefix="galaxybench-plugin-"))
    atexit.register(shutil.rmtree, root, True)
    source = shutil.copytree(PLUGIN_SOURCE, root / "src")  # the build writes next to its source
    target = root / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"installing the plugin fixture failed (is setuptools installed?):\n"
            f"{result.stdout}{result.stderr}"
        )
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(target), os.environ.get("PYTHONPATH")) if p
    )
    registry.load_stages(rescan=True)
    return target


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``upscaler_name`` etc. over every registered entry, the plugin's included."""
    for fixture, registry_name in _CONTRACT_PARAMS.items():
        if fixture in metafunc.fixturenames:
            import galaxybench.registry as registry

            install_stage_plugin()
            metafunc.parametrize(fixture, getattr(registry, registry_name).names())


@pytest.fixture(scope="session")
def stage_plugin() -> Path:
    """The folder the plugin fixture is installed in (on sys.path and PYTHONPATH)."""
    return install_stage_plugin()


def lr_hr_pairs(n: int = 64, hr: int = 16, seed: int = 0):
    """Smooth blobs at HR and their 2x2 area-averaged LR (the prepared data's relation), as a
    SplitArrays of n images with label 0: training pairs for the SRGAN tests."""
    import torch.nn.functional as F

    from galaxybench.data.arrays import SplitArrays

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:hr, 0:hr] / hr
    images = []
    for _ in range(n):
        cx, cy, s = rng.uniform(0.3, 0.7, 3) * (1, 1, 0.4)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        images.append(np.stack([230 * blob * rng.uniform(0.4, 1) for _ in range(3)]))
    hr_u8 = np.clip(np.round(images), 0, 255).astype(np.uint8)
    lr_u8 = F.avg_pool2d(torch.from_numpy(hr_u8).float(), 2).round().to(torch.uint8).numpy()
    return SplitArrays(lr_u8, hr_u8, np.zeros(n, np.int64), np.arange(n, dtype=np.int64))
