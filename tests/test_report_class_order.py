"""Per-class results stay under their own class names from the trial to the report.

Class-indexed arrays (the confusion matrix, supports) are in label order; result files are written
with sorted keys, so a report that took the class order from a per-class dict would pair label-order
values with alphabetical names. These tests use class names whose alphabetical order differs from
their label order and check every support and confusion-matrix row against stored predictions.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.metrics.classification import classification_metrics
from galaxybench.protocol import ROW_BASELINE as BASELINE_ROW
from galaxybench.report import tables
from galaxybench.report.experiment import load_experiment
from galaxybench.report.figures import row_confusion

# Label order; sorted() gives another order for every position but one.
NAMES = ("Zeta", "Alpha", "Mike", "Bravo", "Yankee", "Charlie", "Xray", "Delta", "Whiskey", "Echo")
COUNTS = (30, 9, 26, 24, 12, 26, 22, 20, 40, 10)
PER_CLASS_KEYS = (
    results.CLASS_NAMES,
    results.CONFUSION_MATRIX,
    results.MINORITY_CLASSES,
    results.PER_CLASS_F1,
    results.PER_CLASS_SUPPORT,
)
FIXTURE = Path(__file__).parent / "fixtures" / "experiment_small"


def _predictions(out: Path) -> tuple[np.ndarray, np.ndarray]:
    with (out / "predictions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return (
        np.array([int(r["label"]) for r in rows]),
        np.array([int(r["prediction"]) for r in rows]),
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """Two `galaxybench run` trials: (metrics.json, true labels, predictions)."""
    root = tmp_path_factory.mktemp("order")
    data = write_galaxy10_h5(root / "named.h5", counts=COUNTS, size=16, class_names=NAMES)
    out = []
    for seed in (1, 2):
        dest = root / f"run{seed}"
        args = ["run", "--profile", "smoke", "--data", str(data), "--out", str(dest)]
        proc = subprocess.run(
            [sys.executable, "-m", "galaxybench", *args, "--seed", str(seed), "--no-cache"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        out.append((json.loads((dest / "metrics.json").read_text()), *_predictions(dest)))
    return out


def test_names_are_not_in_alphabetical_order() -> None:
    assert sum(a == b for a, b in zip(NAMES, sorted(NAMES), strict=True)) <= 1


def test_trial_records_its_label_order_and_supports_by_name(runs) -> None:
    for metrics, y_true, _ in runs:
        assert metrics[results.CLASS_NAMES] == list(NAMES)
        expected = np.bincount(y_true, minlength=len(NAMES))
        assert metrics[results.PER_CLASS_SUPPORT] == {
            n: int(c) for n, c in zip(NAMES, expected, strict=True)
        }


def _experiment_from_runs(root: Path, runs) -> tuple[Path, dict[str, list[int]]]:
    """The report fixture with every ok confirmed run's metrics replaced by a CLI run's, written
    back with sorted keys as the sweep writes them; returns which run each row's seeds used."""
    exp = Path(shutil.copytree(FIXTURE, root))
    used: dict[str, list[int]] = {}
    for name in ("baseline.jsonl", "confirm.jsonl"):
        path, lines = exp / "results" / name, []
        for i, rec in enumerate(json.loads(x) for x in path.read_text().splitlines()):
            if rec["status"] == results.STATUS_OK:
                k = i % len(runs)
                rec.update({key: runs[k][0][key] for key in PER_CLASS_KEYS})
                if rec["phase"] == "confirm" or rec["seed"] in (100, 101, 102):
                    used.setdefault(rec["row"], []).append(k)
            lines.append(json.dumps(rec, sort_keys=True))
        path.write_text("\n".join(lines) + "\n")
    return exp, used


def test_report_supports_and_confusion_axes_match_predictions(runs, tmp_path) -> None:
    exp_dir, used = _experiment_from_runs(tmp_path / "exp", runs)
    exp = load_experiment(exp_dir)
    per_class = tables.per_class_table(exp, tables.leaderboard_table(exp))
    assert list(per_class["class"]) == list(NAMES) and per_class.attrs["label_order"]
    best = per_class.attrs["best_row"]
    runs_used = [runs[k] for row in (BASELINE_ROW, best) for k in used[row]]
    for _, r in per_class.iterrows():
        label = NAMES.index(r["class"])
        support = np.mean([np.sum(y == label) for _, y, _ in runs_used])
        assert r["support"] == pytest.approx(support)
    for row in (BASELINE_ROW, best):
        matrix, axes = row_confusion(exp, row)
        assert axes == list(NAMES)
        for i, name in enumerate(axes):
            label = NAMES.index(name)
            counts = sum(
                np.bincount(p[y == label], minlength=len(NAMES))
                for _, y, p in (runs[k] for k in used[row])
            )
            np.testing.assert_array_equal(matrix[i], counts)


def test_support_from_the_matrix_uses_the_runs_own_order() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(4, size=200, p=[0.1, 0.2, 0.3, 0.4])
    m = classification_metrics(y, rng.integers(0, 4, 200), ["d", "c", "b", "a"], [0])
    stored = json.loads(json.dumps(m, sort_keys=True))  # as the sweep writes it
    del stored[results.PER_CLASS_SUPPORT]
    names, ordered = tables.class_order([stored])
    assert ordered and names == ["d", "c", "b", "a"]
    assert tables.class_support([stored], ["a", "d"]) == [np.sum(y == 3), np.sum(y == 0)]


def test_records_without_label_order_never_pair_names_with_rows() -> None:
    rng = np.random.default_rng(1)
    y = rng.choice(3, size=90, p=[0.2, 0.3, 0.5])
    m = json.loads(json.dumps(classification_metrics(y, y, ["z", "y", "x"], [0]), sort_keys=True))
    for key in (results.CLASS_NAMES, results.PER_CLASS_SUPPORT):
        del m[key]  # a record from before class_names existed
    names, ordered = tables.class_order([m])
    assert not ordered and names == ["x", "y", "z"]  # sorted: not the label order
    assert tables.class_support([m], names) is None
