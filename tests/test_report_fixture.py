"""The report fixture is the output of its script, holds every protocol row, and each row is
labelled in the report under the name the sweep writes.

Usage: ``pytest tests/test_report_fixture.py``; after changing
``tests/fixtures/make_report_fixture.py`` run it to rewrite ``tests/fixtures/experiment_small``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from galaxybench import protocol, results
from galaxybench.report import build_report
from galaxybench.report.headline import ROW_LABELS, row_label

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "experiment_small"
sys.path.insert(0, str(FIXTURES))
import make_report_fixture  # noqa: E402

TOP_K = make_report_fixture.TOP_K
# Rows named after what they are ("top-2", "srgan off") are shown under their own name; every
# other row the protocol defines has a label saying what it is.
OWN_NAME = {protocol.top_row(k) for k in range(1, TOP_K + 1)} | {
    protocol.ROW_SRGAN_OFF,
    protocol.ROW_CGAN_OFF,
}
TEXT_FILES = [
    *(f"results/{phase}.jsonl" for phase in results.PHASES),
    "summary.json",
    "sweep.yaml",
]


def _trials(journal: Path) -> list[tuple]:
    """What the journal says about each trial (its bytes hold times and ids, which differ)."""
    storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name=results.STUDY_NAME, storage=storage)
    return [(t.params, t.value, t.state, t.intermediate_values) for t in study.trials]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return make_report_fixture.write_experiment(tmp_path_factory.mktemp("fixture") / "exp")


@pytest.fixture(scope="module")
def leaderboard(tmp_path_factory) -> list[str]:
    """The leaderboard tables' lines of the fixture's report (the part above the ablations)."""
    out = build_report(FIXTURE, tmp_path_factory.mktemp("reports") / "small")
    return (out / "leaderboard.md").read_text().split("\n## Ablations")[0].splitlines()


@pytest.mark.parametrize("name", TEXT_FILES)
def test_committed_fixture_is_the_script_output(generated, name):
    assert (FIXTURE / name).read_text() == (generated / name).read_text(), (
        f"{name} differs: run python tests/fixtures/make_report_fixture.py"
    )


def test_committed_journal_holds_the_script_trials(generated):
    journal = Path(results.PHASE_SEARCH) / results.OPTUNA_JOURNAL
    assert _trials(FIXTURE / journal) == _trials(generated / journal)


def test_fixture_holds_every_row_the_protocol_defines():
    rows = []
    for phase in (results.PHASE_BASELINE, results.PHASE_CONFIRM):
        lines = (FIXTURE / "results" / f"{phase}.jsonl").read_text().splitlines()
        rows += [json.loads(line)["row"] for line in lines]
    assert set(rows) == set(protocol.row_names(TOP_K))


@pytest.mark.parametrize("row", protocol.row_names(TOP_K))
def test_every_protocol_row_gets_its_label_in_the_report(leaderboard, row):
    if row not in OWN_NAME:
        assert row in ROW_LABELS, f"no report label for the protocol row {row!r}"
    label = row_label(row)
    assert any(line.startswith("| ") and f" | {label} | " in line for line in leaderboard), label
