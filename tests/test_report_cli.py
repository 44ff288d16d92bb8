"""`galaxybench report`, `publish` and `leaderboard` through the CLI entry point."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pandas as pd
import pytest

from galaxybench.cli import main
from galaxybench.errors import InputError
from galaxybench.report import collect_reports

FIXTURE = Path(__file__).parent / "fixtures" / "experiment_small"


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """Three reports: "new" (built now), "old" (an older date), "worse" (same date, lower gain)."""
    root = tmp_path_factory.mktemp("reports")
    assert main(["report", str(FIXTURE), "--out", str(root / "new")]) == 0
    for name in ("old", "worse<b>"):
        shutil.copytree(root / "new", root / name)
    prov = json.loads((root / "old" / "provenance.json").read_text())
    prov["generated_at"] = "2020-01-01T00:00:00+00:00"
    (root / "old" / "provenance.json").write_text(json.dumps(prov))
    board = pd.read_csv(root / "worse<b>" / "leaderboard.csv")
    board.loc[board["row"] == "top-1", "gain_mean"] = 0.001
    board.to_csv(root / "worse<b>" / "leaderboard.csv", index=False)
    (root / "not_a_report").mkdir()
    return root


def test_report_command_writes_every_file(reports, capsys):
    out = reports / "new"
    for name in (
        "leaderboard.md",
        "leaderboard.csv",
        "trials.csv",
        "provenance.json",
        "index.html",
    ):
        assert (out / name).is_file()
    assert any((out / "figures").glob("*.png"))


def _fixture_lines(*phases: str) -> list[dict]:
    return [
        json.loads(line)
        for phase in phases
        for line in (FIXTURE / "results" / f"{phase}.jsonl").read_text().splitlines()
    ]


def test_report_numbers_are_the_means_of_the_stored_results(reports):
    """Every leaderboard row against a hand computation from the fixture's JSON lines."""
    # Confirmed runs: the confirm phase and the baseline on the confirmation seeds only (the
    # baseline's search-seed run is not a confirmation, docs/protocol.md, "Phases").
    confirm_seeds = {x["seed"] for x in _fixture_lines("confirm")}
    lines = [x for x in _fixture_lines("baseline", "confirm") if x["seed"] in confirm_seeds]
    assert len(lines) < len(_fixture_lines("baseline", "confirm"))  # the filter matters here
    ok = [x for x in lines if x["status"] == "ok"]
    board = pd.read_csv(reports / "new" / "leaderboard.csv").set_index("row")

    def pair(x: dict) -> tuple:  # a seed and its split
        return x["seed"], x["config"].get("data.split_seed")

    baseline = {pair(x): x["minority_f1"] for x in ok if x["row"] == "baseline"}
    rows = sorted({x["row"] for x in ok})
    assert set(board.index) == set(rows)
    for row in rows:
        f1 = {pair(x): x["minority_f1"] for x in ok if x["row"] == row}
        assert board.loc[row, "n"] == len(f1), row
        assert board.loc[row, "minority_f1_mean"] == pytest.approx(statistics.mean(f1.values()))
        if row != "baseline":  # gains pair each seed with the baseline at that seed
            gains = [f1[s] - baseline[s] for s in f1 if s in baseline]
            assert board.loc[row, "gain_mean"] == pytest.approx(statistics.mean(gains)), row
    failed = [x for x in lines if x["status"] != "ok"]
    for row in {x["row"] for x in failed}:
        assert board.loc[row, "n_failed"] == sum(x["row"] == row for x in failed)
    trials = pd.read_csv(reports / "new" / "trials.csv")
    every = _fixture_lines("baseline", "search", "confirm")
    assert sorted(trials["trial_id"]) == sorted(x["trial_id"] for x in every)


def test_report_default_out_is_reports_slash_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(FIXTURE)]) == 0
    assert (tmp_path / "reports" / "experiment_small" / "index.html").is_file()
    assert "reports/experiment_small/index.html" in capsys.readouterr().out


def test_report_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("galaxybench: error: experiment directory not found")
    assert "\n" not in err
    (tmp_path / "exp" / "results").mkdir(parents=True)
    (tmp_path / "exp" / "results" / "baseline.jsonl").write_text("")
    assert main(["report", str(tmp_path / "exp")]) == 2
    assert "no confirmed results" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_index_is_newest_then_best_first_and_skips_non_reports(reports):
    df = collect_reports(reports)
    assert list(df["name"]) == ["new", "worse<b>", "old"]
    # the headline row is the best method: the oracle (upper bound) and baseline are references
    assert set(df["best_row"]) == {"top-1"}
    top1 = pd.read_csv(reports / "new" / "leaderboard.csv").set_index("row").loc["top-1"]
    assert df.loc[0, "gain_mean"] == pytest.approx(top1["gain_mean"])
    assert df.loc[0, "n"] == 3


def test_publish_writes_escaped_index(reports, capsys):
    assert main(["publish", "--reports", str(reports)]) == 0
    html = (reports / "index.html").read_text()
    assert "worse&lt;b&gt;" in html and "<b>" not in html
    assert html.index(">new<") < html.index(">worse&lt;b&gt;<") < html.index(">old<")
    assert "+0.0600" in html  # top-1's paired gain in the fixture


def test_leaderboard_prints_top_n(reports, capsys):
    assert main(["leaderboard", "--reports", str(reports), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "new" in out and "worse<b>" in out and "old" not in out


def test_publish_and_leaderboard_errors(tmp_path, capsys):
    assert main(["publish", "--reports", str(tmp_path / "missing")]) == 2
    assert "no reports yet in" in capsys.readouterr().err
    assert main(["leaderboard", "--reports", str(tmp_path)]) == 2
    assert "no reports yet in" in capsys.readouterr().err
    assert main(["leaderboard", "--reports", str(tmp_path), "--top", "0"]) == 2
    with pytest.raises(InputError):
        collect_reports(tmp_path)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_report_out_refuses_a_users_folder(tmp_path, capsys):
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "main.tex").write_text("\\documentclass{article}")
    (thesis / "chapters" / "intro.tex").write_text("intro")
    (thesis / "index.html").write_text("<p>my page</p>")
    before = _snapshot(thesis)
    assert main(["report", str(FIXTURE), "--out", str(thesis)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not empty and holds no galaxybench report" in err and "\n" not in err
    assert _snapshot(thesis) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no temp dir left
    # a published-reports folder (index.html and report subfolders) is refused too
    assert main(["report", str(FIXTURE), "--out", str(tmp_path)]) == 2
    (tmp_path / "file").write_text("x")
    assert main(["report", str(FIXTURE), "--out", str(tmp_path / "file")]) == 2
    assert (tmp_path / "file").read_text() == "x"


def test_report_out_into_empty_dir_and_over_an_earlier_report(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["report", str(FIXTURE), "--out", str(out)]) == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["generator"] == "galaxybench"
    # rebuilding over it works, and a file the user put beside the report stays
    (out / "notes.txt").write_text("mine")
    (out / "figures" / "stale.png").write_bytes(b"old")
    assert main(["report", str(FIXTURE), "--out", str(out)]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "figures" / "stale.png").exists()  # figures/ is the report's own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_provenance_has_no_absolute_paths(tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(FIXTURE, exp)
    text = (
        (exp / "sweep.yaml")
        .read_text()
        .replace("data: synthetic-small", "data: /home/someone/private/galaxy10.h5")
    )
    (exp / "sweep.yaml").write_text(text)
    summary = json.loads((exp / "summary.json").read_text())
    summary.update(experiment_dir=str(exp.resolve()), report=str(exp.resolve() / "report"))
    (exp / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "out"
    assert main(["report", str(exp), "--out", str(out)]) == 0
    for name in ("provenance.json", "index.html", "leaderboard.md"):
        text = (out / name).read_text()
        assert "/home/someone" not in text and str(tmp_path) not in text, name
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["data_source"] == "galaxy10.h5"
    assert prov["summary"]["report"] == "report"


def test_publish_experiment_builds_and_indexes(tmp_path):
    from galaxybench.report import publish_experiment

    out = publish_experiment(FIXTURE, tmp_path / "reports")
    assert out == tmp_path / "reports" / "experiment_small"
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "experiment_small/index.html" in index
    assert "synthetic-small" in index  # the data by name, not a fingerprint
    assert "the best GAN configuration (top-1)" in index  # the report's finding
    publish_experiment(FIXTURE, tmp_path / "reports", name="again")
    assert (tmp_path / "reports" / "again" / "index.html").is_file()
    with pytest.raises(InputError, match="one plain path component"):
        publish_experiment(FIXTURE, tmp_path / "reports", name="../escape")


def test_json_outputs(reports, capsys, tmp_path):
    assert main(["leaderboard", "--reports", str(reports), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["name"] == "new" and rows[0]["best_row"] == "top-1"
    assert main(["report", str(FIXTURE), "--out", str(tmp_path / "r"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["headline"]["finding"].startswith("Finding:")
    assert {r["row"] for r in doc["leaderboard"]} >= {"baseline", "top-1"}


def test_leaderboard_fits_80_columns_and_names_the_data(reports, capsys):
    assert main(["leaderboard", "--reports", str(reports)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "synthetic-small" in out.replace("\n", "")
    assert "worse<b>" in out and "top-1" in out
