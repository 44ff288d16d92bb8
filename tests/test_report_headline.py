"""The report's first lines: data by name, the finding, the headroom, a failed search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from galaxybench.report import build_report

FIXTURE = Path(__file__).parent / "fixtures" / "experiment_small"


def _t(diffs):
    d = np.array(diffs)
    return scipy.stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=scipy.stats.sem(d))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return build_report(FIXTURE, tmp_path_factory.mktemp("r") / "small")


def test_first_lines_name_the_data_and_state_the_finding(report):
    lines = [x for x in (report / "leaderboard.md").read_text().splitlines() if x.strip()]
    data = lines[1]
    assert data.startswith("Data: synthetic-small; N = 996 (4 duplicates dropped) after dedupe")
    for part in (
        "train/val/test 646/150/200",
        "HR 32 px, LR 16 px",
        "SRGAN 2 pre-train + 6, cGAN 30, classifier 5",
        "confirmation seeds 100/101/102 (n = 3)",
        "split seed 7",
    ):
        assert part in data
    finding = lines[2]
    # top-1 (GAN) vs oversample per seed: 0.47-0.42, 0.46-0.42, 0.45-0.40 = 0.05, 0.04, 0.05
    low, high = _t([0.05, 0.04, 0.05])
    assert finding.startswith("Finding: the best GAN configuration (top-1) (+0.060 [")
    # oversample - baseline: 0.02, 0.00, 0.02 (weighted_ce ranks lower: -0.01, 0.03, 0.00)
    assert "beats plain oversampling (+0.013 [" in finding
    assert f"the difference (+0.047 [{low:+.3f}, {high:+.3f}]) is resolved at n = 3" in finding
    headroom = lines[3]
    # oracle - baseline: 0.10, 0.10, 0.11
    low, high = _t([0.10, 0.10, 0.11])
    assert headroom.startswith(
        f"Headroom: oracle upscaler minus baseline +0.103 [{low:+.3f}, {high:+.3f}] at n = 3"
    )
    assert "an upscaler can show an effect" in headroom
    html = (report / "index.html").read_text()
    assert html.index('class="finding"') < html.index('id="leaderboard"')
    assert "oracle upscaler (bound on upscaling)" in html
    prov = json.loads((report / "provenance.json").read_text())
    assert prov["headline"]["finding"] == finding and prov["data"] == "synthetic-small"


def test_headroom_within_noise_and_unresolved_difference(tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(FIXTURE, exp)
    path = exp / "results" / "confirm.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    base = {100: 0.40, 101: 0.42, 102: 0.38}
    noisy = {"oracle": (0.45, 0.38, 0.40), "oversample": (0.50, 0.40, 0.44)}
    for r in recs:
        if r["row"] in noisy:
            r["minority_f1"] = noisy[r["row"]][r["seed"] - 100]
            r["minority_f1_delta"] = r["minority_f1"] - base[r["seed"]]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    md = (build_report(exp, tmp_path / "out") / "leaderboard.md").read_text()
    assert "within noise: no upscaler can show an effect on this data" in md
    assert "is not resolved at n = 3" in md


def test_failed_search_is_said_first_with_counts(tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(FIXTURE, exp)
    path = exp / "results" / "search.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    for i, r in enumerate(recs):
        if r["status"] == "ok":
            r["status"] = "diverged" if i % 2 else "pruned"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    md = (build_report(exp, tmp_path / "out") / "leaderboard.md").read_text()
    first = [x for x in md.splitlines() if x.strip()][1]
    assert first.startswith("No usable GAN configuration: all 8 search trials ended")
    assert "(3 diverged, 1 failed, 4 pruned)" in first  # ok trials 1, 3 diverged; 0, 4, 6 pruned


def test_missing_facts_are_na_and_paths_are_basenames(tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(FIXTURE, exp)
    summary = json.loads((exp / "summary.json").read_text())
    del summary["data_info"]
    summary["data"] = "downloaded Galaxy10 DECaLS (/home/u/.galaxybench/Galaxy10_DECals.h5)"
    (exp / "summary.json").write_text(json.dumps(summary))
    md = (build_report(exp, tmp_path / "out") / "leaderboard.md").read_text()
    assert "Data: downloaded Galaxy10 DECaLS (Galaxy10_DECals.h5); N = n/a after dedupe" in md
    assert "/home/u" not in md


def _edit_confirm(exp: Path, change) -> None:
    path = exp / "results" / "confirm.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    for r in recs:
        change(r)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def _diverge(r: dict) -> None:
    r.update(status="diverged", reason="cgan: mode collapse", minority_f1=None)
    r["minority_f1_delta"] = None


def _finding(tmp_path: Path, change) -> str:
    exp = tmp_path / "exp"
    shutil.copytree(FIXTURE, exp)
    _edit_confirm(exp, change)
    md = (build_report(exp, tmp_path / "out") / "leaderboard.md").read_text()
    return next(x for x in md.splitlines() if x.startswith("Finding:"))


def test_finding_says_how_often_the_searched_configuration_diverged(tmp_path):
    finding = _finding(
        tmp_path, lambda r: _diverge(r) if r["row"] == "top-1" and r["seed"] > 100 else None
    )
    assert finding.startswith(
        "Finding: the searched configuration (top-1) diverged on 2 of 3 confirmation seeds; "
    )


def test_an_ablation_is_not_called_the_best_gan_configuration_when_top_1_failed(tmp_path):
    finding = _finding(tmp_path, lambda r: _diverge(r) if r["row"] in ("top-1", "top-2") else None)
    assert finding.startswith(
        "Finding: the searched configuration (top-1) diverged on 3 of 3 confirmation seeds; "
    )
    assert "the best GAN configuration" not in finding
    # srgan off (0.45, 0.43, 0.41) is the best GAN row left: an ablation, and said to be one.
    assert "srgan off (the searched configuration with bicubic upscaling)" in finding


def test_headroom_and_finding_at_one_seed_say_no_interval_once(tmp_path):
    def one_seed(r: dict) -> None:
        if r["seed"] != 100:
            r.update(status="failed", reason="RuntimeError: out of memory", minority_f1=None)

    exp = tmp_path / "exp"
    shutil.copytree(FIXTURE, exp)
    _edit_confirm(exp, one_seed)
    md = (build_report(exp, tmp_path / "out") / "leaderboard.md").read_text()
    headroom = next(x for x in md.splitlines() if x.startswith("Headroom:"))
    # oracle - baseline at seed 100: 0.50 - 0.40
    assert headroom.startswith(
        "Headroom: oracle upscaler minus baseline +0.100, no interval at n = 1"
    )
    assert "at n = 1 at n = 1" not in md and "n = 1 (95%" not in md
    finding = next(x for x in md.splitlines() if x.startswith("Finding:"))
    assert finding.startswith(
        "Finding: the searched configuration (top-1) failed on 2 of 3 confirmation seeds; "
    )
    assert "(top-1, on the seeds it finished) (+0.070, no interval at n = 1)" in finding
    assert finding.endswith("has no interval at n = 1.")


def test_protocol_row_names_get_their_report_labels():
    """The report labels the rows under the names the sweep writes (one spelling, in protocol)."""
    from galaxybench import protocol
    from galaxybench.report.headline import row_label

    assert row_label(protocol.ROW_ORACLE_BEST) == "oracle + best rebalancer (pipeline upper bound)"
    assert row_label(protocol.ROW_ORACLE) == "oracle upscaler (bound on upscaling)"
