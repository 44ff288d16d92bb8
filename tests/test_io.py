"""Atomic writes on shared storage: never half a file, never through a planted symlink.

Usage: ``pytest tests/test_io.py``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import stat

import h5py
import numpy as np
import pytest

from galaxybench.io import (
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    current_umask,
    sha256_file,
    strict_json_dumps,
    temp_path_beside,
)


def test_atomic_write_ignores_symlinks_at_old_fixed_temp_names(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "results.json"
    for name in (".results.json.tmp", f".{target.name}.123.tmp"):  # the names a fixed scheme used
        (tmp_path / name).symlink_to(victim)
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and not target.is_symlink()
    assert victim.read_text() == "keep me"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")

    def full_disk(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, full_disk)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_temp_path_beside_is_new_each_time(tmp_path):
    a, b = temp_path_beside(tmp_path / "x.h5"), temp_path_beside(tmp_path / "x.h5")
    assert a != b and a.parent == b.parent == tmp_path and a.exists() and b.exists()


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    data = bytes(range(256)) * 50_000  # crosses the 4 MiB block boundary
    path.write_bytes(data)
    seen = []
    assert sha256_file(path, progress=seen.append) == hashlib.sha256(data).hexdigest()
    assert sum(seen) == len(data)


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it after."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_keep_the_users_umask(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_json(tmp_path / "b.json", {"x": 1})
    tmp = temp_path_beside(tmp_path / "c.h5")
    with h5py.File(tmp, "w") as f:  # h5py truncates the file by name: the mode stays
        f["x"] = np.arange(3)
    os.replace(tmp, tmp_path / "c.h5")
    for name in ("a.txt", "b.json", "c.h5"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


def test_synthetic_file_and_preview_keep_the_users_umask(tmp_path, umask):
    from galaxybench.data.synthetic import write_preview, write_synthetic

    umask(0o022)
    h5 = write_synthetic(tmp_path / "s.h5", scale=0.004, size=16)
    png = write_preview(h5, tmp_path / "p.png", per_class=1)
    for path in (h5, png):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def _no_constants(name):
    raise ValueError(f"not strict JSON: {name}")


def test_json_is_strict_nan_and_inf_become_null(tmp_path):
    obj = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float32("nan"), "d": (1, 2)}
    text = strict_json_dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else list(o))
    assert json.loads(text, parse_constant=_no_constants) == {
        "a": None,
        "b": [None, None, 1.5],
        "c": None,
        "d": [1, 2],
    }
    atomic_write_json(tmp_path / "m.json", {"f1": float("nan")})
    assert json.loads((tmp_path / "m.json").read_text(), parse_constant=_no_constants) == {
        "f1": None
    }


def test_a_folder_at_the_target_is_named_not_the_temp_file(tmp_path):
    from galaxybench.data.synthetic import write_synthetic

    for write in (
        lambda: atomic_write_text(tmp_path, "x"),
        lambda: write_synthetic(tmp_path, scale=0.007, size=16),
    ):
        with pytest.raises(IsADirectoryError) as info:
            write()
        assert info.value.filename == str(tmp_path)
    assert list(tmp_path.iterdir()) == []
