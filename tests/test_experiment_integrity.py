"""Experiment integrity: a one-component name, one sweep per directory, data pinned on resume.

All refusals happen before Ray starts, so these tests start none.

Usage: ``pytest tests/test_experiment_integrity.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import write_galaxy10_h5

from galaxybench.cli import main
from galaxybench.errors import InputError
from galaxybench.sweep import experiment
from galaxybench.sweep.space import load_search_space


@pytest.mark.parametrize("name", ["/etc", "../../x", "a/b", "..", ".", "", "x/", "a\\b"])
def test_name_must_be_one_path_component(tmp_path: Path, name: str, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a sweep let through would write its report under ./reports
    storage = tmp_path / "store"
    storage.mkdir()
    with pytest.raises(InputError, match="one path component"):
        experiment.run_experiment(load_search_space("smoke"), name=name, storage=storage)
    assert list(tmp_path.iterdir()) == [storage] and not any(storage.iterdir())
    assert main(["sweep", "--space", "smoke", "--name", name, "--storage", str(storage)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "one path component" in err[0]


def test_plain_names_pass():
    assert experiment.check_name("paper-1") == "paper-1"
    assert experiment.check_name("sweep.2026-12-01") == "sweep.2026-12-01"


@pytest.fixture
def started(tmp_path: Path):
    """An experiment whose sweep.yaml was written at the start, on a tiny file."""
    from galaxybench.data import load_data

    h5 = write_galaxy10_h5(tmp_path / "tiny.h5", size=16)
    space = load_search_space("smoke")
    data = load_data(str(h5), space.base_config().data)
    exp = tmp_path / "store" / "exp"
    exp.mkdir(parents=True)
    experiment._write_sweep_yaml(space, exp, None, data, str(h5.resolve()))
    return exp, h5, data


def test_sweep_yaml_records_the_resolved_data_path_and_fingerprint(started):
    exp, h5, data = started
    doc = yaml.safe_load((exp / "sweep.yaml").read_text())
    assert doc["data"] is None  # what the user asked: the default data
    assert doc["data_path"] == str(h5.resolve()) and doc["data_fingerprint"] == data.fingerprint
    # A resume reads the file resolved at the start, never "the default data" again.
    _, source = experiment._load_space(None, exp, True, None)
    assert source == str(h5.resolve())
    experiment._check_data(exp, data)  # the same data pass


def test_resume_refuses_changed_data_before_anything_starts(started, capsys):
    exp, h5, _ = started
    before = sorted(p.name for p in exp.iterdir() if p.name != experiment.LOCK_NAME)
    write_galaxy10_h5(h5, size=16, seed=1)  # same shape and classes, other pixels
    with pytest.raises(InputError, match="data changed since experiment exp started"):
        experiment.run_experiment(None, name="exp", storage=exp.parent, resume=True)
    assert (
        sorted(p.name for p in exp.iterdir() if p.name != experiment.LOCK_NAME) == before
    )  # unchanged
    code = main(["sweep", "--name", "exp", "--storage", str(exp.parent), "--resume"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "data changed" in err[0]


def test_second_sweep_or_resume_on_a_locked_experiment_refuses(started, capsys):
    exp, _, _ = started
    lock = experiment.lock_experiment(exp)  # as a running sweep holds it
    try:
        with pytest.raises(InputError, match="in use by another sweep or resume"):
            experiment.run_experiment(None, name="exp", storage=exp.parent, resume=True)
        code = main(["sweep", "--name", "exp", "--storage", str(exp.parent), "--resume"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "in use" in err[0]
        # A new sweep of the same name is refused too (the directory is not empty).
        with pytest.raises(InputError):
            experiment.run_experiment(load_search_space("smoke"), name="exp", storage=exp.parent)
    finally:
        lock.release()
    assert (exp / "sweep.yaml").exists()


def test_lock_is_exclusive_across_processes(tmp_path: Path):
    import subprocess
    import sys

    exp = tmp_path / "exp"
    lock = experiment.lock_experiment(exp)
    code = (
        "import sys\nfrom galaxybench.sweep.experiment import lock_experiment\n"
        "from galaxybench.errors import InputError\n"
        f"try:\n    lock_experiment(__import__('pathlib').Path({str(exp)!r}))\n"
        "except InputError:\n    sys.exit(7)\n"
    )
    try:
        assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 7
    finally:
        experiment.unlock_experiment(lock, exp)
    assert not exp.exists()  # an experiment that wrote nothing leaves no directory
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
