"""No file of the repository sends a reader to a document the repository does not hold.

Usage: ``pytest tests/test_no_outside_references.py``. Searched: galaxybench/, docs/, bench/,
benchmarks/, tests/ and README.md, every text file; a reference is a design document's section
or file name, a path into the parent directory's ``shared`` folder, or an issue number of a
tracker the repository does not ship.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEARCHED = ("galaxybench", "docs", "bench", "benchmarks", "tests", "README.md")
# Built from pieces so that this file does not match itself.
DESIGN = "DES" + "IGN"
SHARED = "../" + "shared"
ISSUE = "iss" + "ue"
OUTSIDE = re.compile(
    rf"\b{DESIGN}(\.md|\s+section\b|\s+§|\s+\d)|{re.escape(SHARED)}\b|\b{ISSUE}s?\s+#?\d",
    re.IGNORECASE,
)
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".txt", ".toml", ".sh", ".sbatch", ".cfg", ".csv"}


def _files() -> list[Path]:
    out = []
    for name in SEARCHED:
        path = ROOT / name
        found = [path] if path.is_file() else sorted(path.rglob("*"))
        out += [p for p in found if p.is_file() and p.suffix in TEXT_SUFFIXES]
    return out


def outside_references(text: str) -> list[str]:
    """The lines of ``text`` that cite a document outside the repository."""
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


@pytest.mark.parametrize(
    "line",
    [
        f"All test metrics of {DESIGN} section 3.",
        f"see {DESIGN}.md",
        f"({DESIGN} § 5)",
        f"read {SHARED}/notes.md first",
        f"(goal >= 0.9, {ISSUE} 3)",
        f"see {ISSUE.title()} #12",
    ],
)
def test_the_pattern_finds_each_kind_of_reference(line):
    assert outside_references(line) == [line]


def test_the_pattern_leaves_ordinary_words():
    assert outside_references("the design of the sweep; shared memory; docs/protocol.md") == []


def test_no_file_cites_a_document_outside_the_repository():
    files = _files()
    assert len(files) > 100  # the search reached the tree
    hits = [
        f"{p.relative_to(ROOT)}: {line}"
        for p in files
        for line in outside_references(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert hits == []
