"""Atomic writes on shared storage: never half a file, never through a planted symlink.

Usage: ``pytest tests/test_io.py``.
"""

from __future__ import annotations

import errno
import hashlib

import pytest

from galaxybench.io import atomic_write, atomic_write_text, sha256_file, temp_path_beside


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
