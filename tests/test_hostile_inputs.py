"""Crafted hostile files through the CLI: one line on stderr, exit 2, the input's bytes unchanged
and nothing written (no cache entry, no output folder). Each file is generated here, in tmp_path.

Also: damaged prepared-array cache entries heal themselves, label gaps and ``--remap-labels``,
class names, an unwritable ``$GALAXYBENCH_HOME`` and the reader's size limits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import zipfile

import h5py
import numpy as np
import pytest

from galaxybench import paths
from galaxybench.cli import main
from galaxybench.config import DataConfig
from galaxybench.data import store
from galaxybench.data.read import read_meta
from galaxybench.errors import DataError

N = 110  # rows of the default make_h5 file


def _with_labels(labels, dtype):
    def make(make_h5, tmp_path):
        return make_h5("labels.h5", extra={"ans": np.asarray(labels, dtype=dtype)})

    return make


def _label_at_end(value, dtype):
    return _with_labels([*(i % 10 for i in range(N - 1)), value], dtype)


def _fifo(make_h5, tmp_path):
    path = tmp_path / "pipe.h5"
    os.mkfifo(path)
    return path


def _external_link(make_h5, tmp_path):
    target = make_h5("target.h5")
    path = make_h5("main.h5", drop=["images"])
    with h5py.File(path, "a") as f:
        f["images"] = h5py.ExternalLink(str(target), "/images")
    return path


def _soft_link_into_external(make_h5, tmp_path):
    target = make_h5("target.h5")
    path = make_h5("main.h5", drop=["images"])
    with h5py.File(path, "a") as f:
        f["elsewhere"] = h5py.ExternalLink(str(target), "/")
        f["images"] = h5py.SoftLink("/elsewhere/images")
    return path


def _external_storage(make_h5, tmp_path):
    raw = tmp_path / "pixels.raw"
    pixels = np.random.default_rng(0).integers(0, 256, (N, 24, 24, 3), dtype=np.uint8)
    raw.write_bytes(pixels.tobytes())
    path = make_h5("main.h5", drop=["images"])
    with h5py.File(path, "a") as f:
        f.create_dataset(
            "images", shape=pixels.shape, dtype=np.uint8, external=[(str(raw), 0, pixels.nbytes)]
        )
    return path


def _virtual(make_h5, tmp_path):
    source = make_h5("source.h5")
    path = make_h5("main.h5", drop=["images"])
    layout = h5py.VirtualLayout(shape=(N, 24, 24, 3), dtype=np.uint8)
    layout[:] = h5py.VirtualSource(str(source), "images", shape=(N, 24, 24, 3))
    with h5py.File(path, "a") as f:
        f.create_virtual_dataset("images", layout)
    return path


def _sparse(shape, name="sparse.h5"):
    """A few-KB file whose chunked, never-written 'images' claims ``shape``."""

    def make(make_h5, tmp_path):
        path = tmp_path / name
        with h5py.File(path, "w") as f:
            f.create_dataset("images", shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]))
            f.create_dataset("ans", shape=shape[:1], dtype=np.uint8, chunks=(min(shape[0], 4096),))
        return path

    return make


def _gaps(make_h5, tmp_path):  # 4 classes, one image labelled 250: not a 251-class dataset
    labels = np.r_[np.repeat(np.arange(4), 75), 250]
    return make_h5(
        "gaps.h5",
        counts=[1] * len(labels),
        coordinates=False,
        extra={"ans": labels.astype(np.uint8)},
    )


HOSTILE = {
    "fifo": (_fifo, "is a FIFO"),
    "external link": (_external_link, "external link"),
    "soft link into an external link": (_soft_link_into_external, "external link"),
    "external raw storage": (_external_storage, "external files"),
    "virtual dataset": (_virtual, "virtual dataset"),
    "label 2**40": (_label_at_end(2**40, np.int64), "labels out of range"),
    "label 1e300": (_label_at_end(1e300, np.float64), "labels out of range"),
    "label 2**63+5": (_label_at_end(2**63 + 5, np.uint64), "labels out of range"),
    "negative label": (_label_at_end(-3, np.int64), "negative labels"),
    "non-integer float label": (_label_at_end(2.5, np.float64), "non-integer labels"),
    "infinite label": (_label_at_end(np.inf, np.float64), "non-finite labels"),
    "string labels": (lambda m, t: m(extra={"ans": np.array([b"a"] * N)}), "dtype"),
    "label gap": (_gaps, "no images of class 4-249 (of 0..250)"),
    "2e9 rows claimed": (_sparse((2_000_000_000, 16, 16, 3)), "decodes to"),
    "image side 8192": (_sparse((2, 8192, 8192, 3)), "4096 px limit"),
}


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _listing(*folders):
    return sorted(str(p) for f in folders if f.exists() for p in f.rglob("*"))


@pytest.fixture
def alarm():
    """Fail instead of hanging (a FIFO opened for reading would block forever)."""

    def on_alarm(signum, frame):
        raise TimeoutError("the reader blocked")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_file_is_refused_in_one_line(case, make_h5, tmp_path, capsys, alarm):
    build, problem = HOSTILE[case]
    path = build(make_h5, tmp_path)
    before = _digest(path)
    out = tmp_path / "out"
    files_before = _listing(tmp_path)
    home_before = _listing(paths.prepared_dir(), paths.stage_cache_dir())
    for argv in (
        ["data", "info", str(path)],
        ["data", "prepare", str(path), "--profile", "smoke"],
        ["run", "--data", str(path), "--profile", "smoke", "--out", str(out)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.replace(f"data: Galaxy10-format file {path}\n", "")
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert problem in err and path.name in err, err
    assert _digest(path) == before  # the input is untouched
    assert _listing(tmp_path) == files_before  # nothing written next to it, no --out folder
    assert _listing(paths.prepared_dir(), paths.stage_cache_dir()) == home_before


@pytest.mark.parametrize("kind", ["character device", "directory"])
def test_not_a_regular_file(kind, tmp_path, capsys, alarm):
    path = "/dev/zero" if kind == "character device" else str(tmp_path)
    assert main(["data", "info", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"is a {kind}" in err


def test_limits_have_overrides(make_h5, tmp_path, monkeypatch):
    big = _sparse((2, 8192, 8192, 3))(make_h5, tmp_path)
    monkeypatch.setenv("GALAXYBENCH_MAX_IMAGE_SIDE", "8192")
    with pytest.raises(DataError, match="fewer than two classes"):  # past the size check
        read_meta(big)
    monkeypatch.delenv("GALAXYBENCH_MAX_IMAGE_SIDE")
    path = make_h5()  # 110 x 24 x 24 x 3 = 190,080 bytes decoded
    monkeypatch.setenv("GALAXYBENCH_MAX_DECODED_BYTES", "190079")
    with pytest.raises(DataError, match=r"decodes to .*GALAXYBENCH_MAX_DECODED_BYTES=190079"):
        read_meta(path)
    monkeypatch.setenv("GALAXYBENCH_MAX_DECODED_BYTES", "190080")
    assert read_meta(path).num_images == N


def test_remap_labels_subset(make_h5, capsys):
    # A Galaxy10 subset: labels 2, 5, 8 only.
    labels = np.repeat([2, 5, 8], [30, 25, 35])
    path = make_h5(
        "subset.h5",
        counts=[1] * len(labels),
        coordinates=False,
        extra={"ans": labels.astype(np.uint8)},
    )
    assert main(["data", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no images of class 0-1, 3-4, 6-7 (of 0..8)" in err and "--remap-labels auto" in err
    for spec in ("2,5,8", "auto"):
        assert main(["data", "info", str(path), "--json", "--remap-labels", spec]) == 0
        facts = json.loads(capsys.readouterr().out)
        assert [(c["name"], c["count"]) for c in facts["classes"]] == [
            ("class_2", 30),
            ("class_5", 25),
            ("class_8", 35),
        ]
        assert facts["remap"] == {"2": 0, "5": 1, "8": 2}
    meta = read_meta(path, "8,2,5")  # the listed order decides the new ids
    assert meta.class_names == ("class_8", "class_2", "class_5")
    assert np.array_equal(meta.labels, np.repeat([1, 2, 0], [30, 25, 35]))
    assert main(["data", "info", str(path), "--remap-labels", "2,5"]) == 2
    assert "labels 8 are not in the remap 2,5" in capsys.readouterr().err
    assert main(["data", "info", str(path), "--remap-labels", "2,5,7,8"]) == 2
    assert "the remap names labels with no images: 7" in capsys.readouterr().err
    assert main(["data", "prepare", str(path), "--profile", "smoke", "--remap-labels", "2,2"]) == 2
    assert "data.remap_labels must be" in capsys.readouterr().err


def test_remap_labels_flows_into_the_prepared_data_and_cache_key(make_h5, capsys):
    from galaxybench.data import prepare

    labels = np.repeat([2, 5, 8], [30, 25, 35])
    path = make_h5(
        "subset.h5",
        counts=[1] * len(labels),
        coordinates=False,
        extra={"ans": labels.astype(np.uint8)},
        class_names=[f"n{i}" for i in range(10)],
    )
    assert main(["data", "prepare", str(path), "--profile", "smoke", "--remap-labels", "auto"]) == 0
    a = prepare(path, DataConfig(hr_size=16, remap_labels="auto"))
    b = prepare(path, DataConfig(hr_size=16, remap_labels="8,5,2"))
    assert a.class_names == ("n2", "n5", "n8") and b.class_names == ("n8", "n5", "n2")
    assert a.info["settings"]["remap_labels"] == "auto" and a.fingerprint != b.fingerprint
    assert np.array_equal(np.bincount(a.labels), np.bincount(b.labels)[::-1])
    plain = prepare(make_h5(), DataConfig(hr_size=16))
    assert "remap_labels" not in plain.info["settings"]  # keys of unremapped files unchanged


def test_class_names_declared_else_galaxy10_for_ten_else_generic(make_h5):
    path = make_h5("radio.h5", counts=[10, 12, 14], size=256, coordinates=False)  # no names
    assert read_meta(path).class_names == ("class_0", "class_1", "class_2")


def test_unwritable_home_is_one_line(make_h5, tmp_path, monkeypatch, capsys):
    path = make_h5()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GALAXYBENCH_HOME", str(blocker / "home"))
    for argv in (["data", "info", str(path)], ["data", "prepare", str(path), "--profile", "smoke"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "GALAXYBENCH_HOME" in err and "a-file" in err, err


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _bad_crc(p):
    raw = bytearray(p.read_bytes())
    with zipfile.ZipFile(p) as z:
        info = z.getinfo("lr.npy")
    at = info.header_offset + 30 + len(info.filename) + 200  # inside the lr array's bytes
    raw[at] ^= 0xFF
    p.write_bytes(bytes(raw))


def _empty(p):
    p.write_bytes(b"")


@pytest.mark.parametrize(
    "damage", [_truncate, _bad_crc, _empty], ids=["truncated", "bad CRC", "empty"]
)
def test_damaged_prepared_cache_is_deleted_and_rebuilt(damage, make_h5, caplog):
    from galaxybench.data import prepare

    path, cfg = make_h5(), DataConfig(hr_size=16)
    first = prepare(path, cfg)
    second = prepare(path, cfg)  # now keyed by the cached SHA256
    entry = store.prepared_path(second.fingerprint)
    assert entry.exists()
    damage(entry)
    with caplog.at_level(logging.WARNING, logger="galaxybench.data.store"):
        healed = prepare(path, cfg)
    lines = [r.getMessage() for r in caplog.records if "damaged prepared cache" in r.getMessage()]
    assert len(lines) == 1 and str(entry) in lines[0]
    assert np.array_equal(healed.hr, first.hr) and np.array_equal(healed.labels, first.labels)
    assert store.load_prepared(second.fingerprint) is not None  # rebuilt and readable again


@pytest.mark.parametrize("command", [["run"], ["sweep"], ["data", "prepare"]])
def test_remap_labels_flag_is_the_config_key(command):
    from galaxybench.cli import build_parser
    from galaxybench.config import apply_overrides, load_profile

    args = build_parser().parse_args([*command, "--set", "seed=3", "--remap-labels", "2,5,8"])
    overrides = args.set if command[0] == "data" else args.overrides
    cfg = apply_overrides(load_profile("smoke"), overrides)
    assert cfg.data.remap_labels == "2,5,8" and cfg.seed == 3
    again = build_parser().parse_args(command)  # the parser's default list was not mutated
    assert (again.set if command[0] == "data" else again.overrides) == []
