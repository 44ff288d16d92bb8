"""Where experiments and reports go by default, and what `leaderboard` says before any report.

Usage: ``pytest tests/test_result_locations.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from galaxybench import paths
from galaxybench.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "experiment_small"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder (it has pyproject.toml) with a notebook folder nb/ inside."""
    monkeypatch.delenv("GALAXYBENCH_PROJECT", raising=False)
    root = tmp_path / "proj"
    (root / "nb").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    return root


def test_defaults_live_in_the_project_found_upward(project, monkeypatch):
    monkeypatch.chdir(project / "nb")
    assert paths.experiments_dir() == project / "experiments"
    assert paths.reports_dir() == project / "reports"
    monkeypatch.chdir(project)
    assert paths.reports_dir() == Path("reports")  # the current folder: a short relative path
    monkeypatch.setenv("GALAXYBENCH_PROJECT", str(project / "elsewhere"))
    assert paths.experiments_dir() == project / "elsewhere" / "experiments"


def test_outside_any_project_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("GALAXYBENCH_PROJECT", raising=False)
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert paths.reports_dir() == Path("reports")
    (tmp_path / "a" / "reports").mkdir()
    (tmp_path / "a" / "reports" / "index.html").write_text("x")  # galaxybench results one up
    assert paths.reports_dir() == tmp_path / "a" / "reports"


def test_a_notebooks_report_is_on_the_leaderboard_one_folder_up(project, monkeypatch, capsys):
    from galaxybench.report import publish_experiment

    monkeypatch.chdir(project / "nb")
    publish_experiment(FIXTURE)  # what gb.sweep(...) does at its end, with its defaults
    assert not (project / "nb" / "reports").exists()
    monkeypatch.chdir(project)
    capsys.readouterr()
    assert main(["leaderboard"]) == 0
    assert "experiment_small" in capsys.readouterr().out


def test_leaderboard_before_any_sweep_says_how_to_make_one(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert main(["leaderboard"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no reports yet in reports" in err
    assert "run `galaxybench sweep --space smoke` to make one" in err


def test_leaderboard_keeps_a_long_experiment_name_on_one_line(tmp_path, capsys):
    name = "sweep-default-20261204-202530-on-galaxy10-decals"
    assert main(["report", str(FIXTURE), "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert any(name in line for line in out.splitlines()), out  # whole, on one line
    header = next(line for line in out.splitlines() if "Report" in line).split()
    assert header[-1] == "n" and "95%" in header  # no column dropped to make room


def test_publish_never_overwrites_an_index_it_did_not_write(tmp_path, capsys):
    assert main(["report", str(FIXTURE), "--out", str(tmp_path / "r")]) == 0
    assert main(["publish", "--reports", str(tmp_path)]) == 0  # its own index: rewritten
    assert main(["publish", "--reports", str(tmp_path)]) == 0
    (tmp_path / "index.html").write_text("<html><title>My lab page</title></html>")
    capsys.readouterr()
    assert main(["publish", "--reports", str(tmp_path)]) == 2
    assert "is not a galaxybench index" in capsys.readouterr().err
    assert "My lab page" in (tmp_path / "index.html").read_text()
    shutil.rmtree(tmp_path / "r")
