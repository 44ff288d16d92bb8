"""End to end through the CLI: data info (table and JSON), data prepare, data synth; and which
data resolve_data / load_data pick."""

from __future__ import annotations

import hashlib
import json
import sys
import types

import h5py
import numpy as np
import pytest

from galaxybench import paths
from galaxybench.cli import main
from galaxybench.config import DataConfig
from galaxybench.data import inspect, load_data, minority_classes, resolve_data
from galaxybench.data.classes import DECALS_COUNTS
from galaxybench.errors import DataError


def test_info_json(tiny_h5, capsys):
    assert main(["data", "info", str(tiny_h5), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["shape"] == [110, 24, 24, 3] and facts["native_size"] == 24
    assert [c["count"] for c in facts["classes"]] == [12, 10, 14, 11, 9, 12, 10, 13, 9, 10]
    assert facts["imbalance_ratio"] == pytest.approx(14 / 9)
    assert facts["duplicates"] == {
        "groups": 5,
        "conflicting": 2,
        "dropped": 7,
        "tolerance_arcsec": 0.5,
    }
    assert facts["minority_classes"] == ["class_4", "class_8"]  # < 0.66 x 14 = 9.24
    assert facts["fingerprint"] == hashlib.sha256(tiny_h5.read_bytes()).hexdigest()


def test_info_table(tiny_h5, capsys):
    assert main(["data", "info", str(tiny_h5)]) == 0
    out = capsys.readouterr().out
    assert "class_4" in out and "imbalance ratio" in out and "5 objects seen more than once" in out


def test_minority_set_of_galaxy10_decals_counts():
    # docs/protocol.md, "Scoring": below 0.66 x 2645 = 1745.7 -> Disturbed, Cigar Shaped Smooth,
    # Edge-on w/o Bulge.
    assert minority_classes(list(DECALS_COUNTS), 0.66) == [0, 4, 8]


def test_inspect_without_coordinates(make_h5):
    facts = inspect(make_h5(coordinates=False, duplicates=0, conflicting=0))
    assert facts["duplicates"] is None and "ra" not in facts["keys"]


def test_prepare_command(tiny_h5, capsys):
    assert (
        main(["data", "prepare", str(tiny_h5), "--profile", "smoke", "--set", "data.split_seed=5"])
        == 0
    )
    out = capsys.readouterr().out
    assert "103 images at HR 16 px" in out and "7 duplicates dropped" in out
    assert len(list(paths.prepared_dir().glob("*.npz"))) == 1


def test_resolve_data_prefers_downloads(monkeypatch, tiny_h5):
    fake = types.SimpleNamespace(ensure_embedded=lambda: tiny_h5)
    monkeypatch.setitem(sys.modules, "galaxybench.data.synthetic", fake)
    monkeypatch.setattr("galaxybench.data.synthetic", fake, raising=False)
    path, what = resolve_data(None)
    assert path == tiny_h5 and what.startswith("embedded synthetic Galaxy10")
    assert resolve_data("embedded")[0] == tiny_h5
    paths.data_dir().mkdir(parents=True)
    sdss = paths.data_dir() / "Galaxy10.h5"
    sdss.write_bytes(b"x")
    assert resolve_data(None) == (sdss, f"downloaded Galaxy10 (SDSS) ({sdss}; galaxy10-sdss)")
    decals = paths.data_dir() / "Galaxy10_DECals.h5"
    decals.write_bytes(b"x")
    assert resolve_data(None)[0] == decals and resolve_data("galaxy10-sdss")[0] == sdss
    assert resolve_data(str(tiny_h5)) == (tiny_h5, f"Galaxy10-format file {tiny_h5}")


def test_resolve_data_errors(tmp_path):
    with pytest.raises(DataError, match="galaxybench data download galaxy10-decals"):
        resolve_data("galaxy10-decals")
    with pytest.raises(DataError, match="no such file"):
        resolve_data(str(tmp_path / "nope.h5"))


def test_load_data_says_which(monkeypatch, tiny_h5):
    fake = types.SimpleNamespace(ensure_embedded=lambda: tiny_h5)
    monkeypatch.setitem(sys.modules, "galaxybench.data.synthetic", fake)
    monkeypatch.setattr("galaxybench.data.synthetic", fake, raising=False)
    data = load_data(None, DataConfig(hr_size=8))
    assert data.source.startswith("embedded synthetic Galaxy10") and data.hr.shape[-1] == 8
    assert len(data.labels) == 103


def test_synth_then_info(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert (
        main(
            ["data", "synth", "--out", str(out), "--scale", "0.007", "--size", "32", "--seed", "1"]
        )
        == 0
    )
    assert main(["data", "info", str(out), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert facts["native_size"] == 32 and facts["num_classes"] == 10
    assert facts["classes"][0]["name"] == "Disturbed"
    with h5py.File(out) as f:
        assert np.bincount(f["ans"][()], minlength=10).tolist() == [
            c["count"] for c in facts["classes"]
        ]


def test_synth_defaults_to_the_embedded_size_and_warns_above_1_gb(tmp_path, capsys, monkeypatch):
    from galaxybench.data import synthetic

    calls = []
    monkeypatch.setattr(
        synthetic, "write_synthetic", lambda out, **kw: calls.append(kw) or out
    )  # nothing written
    assert main(["data", "synth", "--out", str(tmp_path / "a.h5")]) == 0
    assert calls[-1]["scale"] == synthetic.EMBEDDED_SCALE
    assert calls[-1]["size"] == synthetic.EMBEDDED_SIZE
    assert "GB" not in capsys.readouterr().err
    assert (
        main(["data", "synth", "--out", str(tmp_path / "b.h5"), "--scale", "1", "--size", "256"])
        == 0
    )
    err = capsys.readouterr().err
    assert "writing 17736 images of 256 px: about 3.5 GB" in err  # 17,736 x 256^2 x 3 bytes


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _synth(*args: str) -> int:
    return main(["data", "synth", "--scale", "0.007", "--size", "16", *args])


def test_synth_out_directory_names_the_users_path(tmp_path, capsys):
    assert _synth("--out", str(tmp_path)) == 2
    err = _one_error_line(capsys)
    assert f"--out {tmp_path} is a directory" in err
    assert str(tmp_path / "Galaxy10_synthetic.h5") in err and ".tmp" not in err
    assert list(tmp_path.iterdir()) == []


def test_synth_never_overwrites_without_force(tmp_path, capsys):
    out, png = tmp_path / "mine.h5", tmp_path / "mine.png"
    out.write_bytes(b"my data")
    assert _synth("--out", str(out)) == 2
    assert "already exists; add --force" in _one_error_line(capsys)
    assert out.read_bytes() == b"my data"
    png.write_bytes(b"my picture")
    assert _synth("--out", str(tmp_path / "new.h5"), "--preview", str(png)) == 2
    assert "--preview" in _one_error_line(capsys) and not (tmp_path / "new.h5").exists()
    assert _synth("--out", str(out), "--preview", str(png), "--force") == 0
    assert h5py.is_hdf5(out) and png.read_bytes()[:4] == b"\x89PNG"


def test_synth_preview_alone_writes_only_the_preview(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _synth("--preview", "p.png") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]
    assert capsys.readouterr().out.strip() == "wrote p.png"


@pytest.mark.parametrize("scale", ["0.001", "0.006"])
def test_synth_refuses_a_scale_without_minority_classes(tmp_path, capsys, scale):
    from galaxybench.data import synthetic

    assert _synth("--scale", scale, "--out", str(tmp_path / "x.h5")) == 2  # last --scale wins
    err = _one_error_line(capsys)
    assert "no class would be a scoring minority" in err and "use --scale 0.007 or more" in err
    assert synthetic.minimum_scale() == 0.007
    assert not (tmp_path / "x.h5").exists()
