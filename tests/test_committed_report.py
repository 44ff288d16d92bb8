"""The committed default report's per-class supports are the test split's own class counts.

reports/default is the default sweep on the embedded set; its confirmation seeds draw their splits
with ``data.split_seed`` = seed. The per-class table's "Test support" must be, under each class
name, the number of that class's images in those test splits (recomputed here from the data), so
a report that paired label-ordered counts with sorted names fails this test.

Usage: ``pytest tests/test_committed_report.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from galaxybench.config import apply_overrides, load_profile
from galaxybench.data import load_data

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "default"


def _support_table() -> dict[str, float]:
    lines = (REPORT / "leaderboard.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Per-class F1"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    rows = [line for line in lines[start + 1 : end] if line.startswith("| ")][1:]  # no header
    out = {}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[cells[0]] = float(cells[2])
    return out


@pytest.mark.slow
def test_committed_supports_are_the_test_splits_class_counts():
    provenance = json.loads((REPORT / "provenance.json").read_text())
    assert provenance["data"] == "embedded synthetic Galaxy10-format set"
    cfg = load_profile("default")
    counts = []
    for seed in (1, 2, 3, 4, 5):  # the confirmation seeds = split seeds of the default space
        data = load_data(None, apply_overrides(cfg, [f"data.split_seed={seed}"]).data)
        labels = data.subset("test").labels
        counts.append(np.bincount(labels, minlength=len(data.class_names)))
    expected = dict(zip(data.class_names, np.mean(counts, axis=0), strict=True))
    table = _support_table()
    assert list(table) == list(data.class_names)  # label order
    for name, support in table.items():
        assert support == pytest.approx(expected[name], abs=0.05), name
