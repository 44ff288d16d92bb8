"""Packaging facts: a LICENSE, a CITATION.cff that cites the data, one version everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import galaxybench

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; 3.10 skips these checks
ROOT = Path(__file__).resolve().parent.parent


def test_license_is_mit_and_matches_pyproject():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "galaxybench authors" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}


def test_citation_cites_project_paper_and_data_with_the_package_version():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT"
    assert cff["version"] == galaxybench.__version__
    titles = " | ".join(r["title"] for r in cff["references"])
    for cited in ("SRGAN", "Galaxy10 DECaLS", "Galaxy Zoo DECaLS"):
        assert cited in titles
    gz = next(r for r in cff["references"] if r["title"].startswith("Galaxy Zoo DECaLS"))
    assert (gz["volume"], gz["start"], gz["year"]) == (509, 3966, 2022)


def test_version_has_one_source():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "galaxybench.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", galaxybench.__version__)


def test_python_version_is_stated_consistently():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.10"
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.10 or newer" in readme
    assert not re.search(r"Python 3\.1[1-9]\b", readme)
