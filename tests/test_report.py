"""The report of a fixture experiment: numbers recomputed independently, failures, escaping."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from galaxybench.errors import InputError
from galaxybench.report import build as build_module
from galaxybench.report import build_report, load_experiment

FIXTURE = Path(__file__).parent / "fixtures" / "experiment_small"
XSS = "<script>alert(1)</script>"


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURE / "results" / name).read_text().splitlines()]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return build_report(FIXTURE, tmp_path_factory.mktemp("reports") / "small")


@pytest.fixture()
def experiment(tmp_path) -> Path:
    dst = tmp_path / "small"
    shutil.copytree(FIXTURE, dst)
    return dst


def _expected_rows() -> dict[str, dict]:
    """Leaderboard numbers recomputed from the raw JSON lines, without galaxybench code."""
    confirm = _jsonl("confirm.jsonl")
    seeds = {r["seed"] for r in confirm}
    base = {r["seed"]: r["minority_f1"] for r in _jsonl("baseline.jsonl") if r["seed"] in seeds}
    rows: dict[str, dict] = {
        "baseline": {"f1": base, "delta": [0.0] * len(base), "failed": 0, "time": 0.0}
    }
    for r in _jsonl("baseline.jsonl"):
        rows["baseline"]["time"] += r["time_total_s"] if r["seed"] in seeds else 0.0
    for r in confirm:
        e = rows.setdefault(r["row"], {"f1": {}, "delta": [], "failed": 0, "time": 0.0})
        e["time"] += r["time_total_s"]
        if r["status"] == "ok":
            e["f1"][r["seed"]] = r["minority_f1"]
            e["delta"].append(r["minority_f1_delta"])
        else:
            e["failed"] += 1
    return rows


def test_leaderboard_numbers_match_independent_computation(report):
    board = pd.read_csv(report / "leaderboard.csv")
    expected = _expected_rows()
    base = expected["baseline"]["f1"]
    assert set(board["row"]) == set(expected)
    order = sorted(expected, key=lambda k: -np.mean(expected[k]["delta"]))
    assert list(board["row"]) == order
    assert list(board["rank"]) == list(range(1, len(order) + 1))
    for _, got in board.iterrows():
        e = expected[got["row"]]
        f1 = np.array(list(e["f1"].values()))
        ci = scipy.stats.t.interval(0.95, len(f1) - 1, loc=f1.mean(), scale=scipy.stats.sem(f1))
        assert got["n"] == len(f1) and got["n_failed"] == e["failed"]
        assert got["minority_f1_mean"] == pytest.approx(f1.mean())
        assert got["minority_f1_std"] == pytest.approx(np.std(f1, ddof=1))
        assert (got["minority_f1_ci_low"], got["minority_f1_ci_high"]) == pytest.approx(ci)
        assert got["minority_f1_delta_mean"] == pytest.approx(np.mean(e["delta"]))
        assert got["compute_s"] == pytest.approx(e["time"])
        if got["row"] == "baseline":
            assert np.isnan(got["gain_mean"])
            continue
        diffs = [e["f1"][s] - base[s] for s in sorted(e["f1"])]
        assert got["gain_n"] == len(diffs)
        assert got["gain_mean"] == pytest.approx(np.mean(diffs))
        assert got["gain_win_share"] == pytest.approx(np.mean(np.array(diffs) > 0))
        d = np.array(diffs)
        assert (got["gain_ci_low"], got["gain_ci_high"]) == pytest.approx(
            scipy.stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=scipy.stats.sem(d))
        )


def test_hand_checked_rows(report):
    board = pd.read_csv(report / "leaderboard.csv").set_index("row")
    # top-1 minus baseline per seed: 0.07, 0.04, 0.07
    assert board.loc["top-1", "gain_mean"] == pytest.approx(0.06)
    assert board.loc["top-1", "gain_win_share"] == 1.0
    # weighted_ce: -0.01, +0.03, 0.00 (a tie is not a win)
    assert board.loc["weighted_ce", "gain_win_share"] == pytest.approx(1 / 3)
    # top-2 diverged on seed 101: two seeds paired, and the failure is shown, not dropped
    assert board.loc["top-2", "gain_n"] == 2
    assert board.loc["top-2", "status"] == "1 diverged of 3"
    assert "diverged (cgan: non-finite generator loss" in board.loc["top-2", "failures"]
    assert board.loc["oracle", "role"] == "upper bound"
    assert board.loc["top-1", "psnr_srgan_mean"] == pytest.approx(
        np.mean([26.5 + s % 3 for s in (100, 101, 102)])
    )


def test_settings_of_unused_stages_are_blank(report):
    board = pd.read_csv(report / "leaderboard.csv").set_index("row")
    assert board.loc["top-1", "cgan.lr"] == pytest.approx(1.0e-4)
    assert board.loc["top-1", "srgan.depth"] == 4
    # the oversample row uses neither GAN; "srgan off" keeps its cGAN but has no SRGAN
    assert np.isnan(board.loc["oversample", "cgan.lr"])
    assert np.isnan(board.loc["oversample", "srgan.depth"])
    assert np.isnan(board.loc["srgan off", "srgan.depth"])
    assert board.loc["srgan off", "cgan.lr"] == pytest.approx(1.0e-4)
    oversample = next(
        line
        for line in (report / "leaderboard.md").read_text().splitlines()
        if "| oversample |" in line
    )
    assert "nan" not in oversample and "—" in oversample


def test_failed_trials_show_everywhere(report):
    trials = pd.read_csv(report / "trials.csv")
    assert len(trials) == sum(len(_jsonl(f"{p}.jsonl")) for p in ("baseline", "search", "confirm"))
    bad = trials[trials["status"] != "ok"].set_index("trial_id")
    assert set(bad["status"]) == {"failed", "diverged", "pruned"}
    assert bad.loc["search_002", "reason"] == "ray worker died (OOM)"
    assert bad.loc["search_007", "reason"] == "stopped early by ASHA after 2 epochs"
    md = (report / "leaderboard.md").read_text()
    html = (report / "index.html").read_text()
    for text in (
        "ray worker died (OOM)",
        "cgan: discriminator collapse",
        "1 diverged of 3",
    ):
        assert text in md and text in html


def test_a_row_never_run_shows_in_the_ablations(experiment, tmp_path):
    confirm = experiment / "results" / "confirm.jsonl"
    lines = confirm.read_text().splitlines(keepends=True)
    confirm.write_text("".join(x for x in lines if json.loads(x)["row"] != "dihedral"))
    out = build_report(experiment, tmp_path / "report")
    for name in ("leaderboard.md", "index.html"):
        assert "dihedral (not run)" in (out / name).read_text()


def test_per_class_and_search_summary(report):
    md = (report / "leaderboard.md").read_text()
    # Disturbed: baseline mean 0.40 - 0.05 = 0.35, top-1 mean 0.46 - 0.05 = 0.41
    # test support = the confusion matrix's row sum (10 + 2 + 1 + 1)
    assert "| Disturbed | yes | 14 | 0.3500 | 0.4100 | +0.0600 |" in md
    assert "| search | 8 | 5 | 1 | 1 | 1 |" in md  # trials, ok, pruned, diverged, failed
    assert "Best validation minority F1: 0.4800 (trial search_000)" in md
    section = md.split("### Parameter importance")[1]
    assert "only 5 completed search trials (fewer than 8): no parameter importance" in section


def test_provenance_and_files(report):
    prov = json.loads((report / "provenance.json").read_text())
    assert prov["split_seeds"] == [7]
    assert prov["data_fingerprints"] == ["f" * 64]
    assert prov["git_revisions"] == ["abc123"] and prov["hardware"] == ["cpu"]
    assert prov["sweep_yaml"] == (FIXTURE / "sweep.yaml").read_text()
    assert prov["seeds"]["confirm"] == [100, 101, 102]
    assert prov["data_source"] == "synthetic-small"
    pngs = sorted((report / "figures").glob("*.png"))
    names = {p.name for p in pngs}
    assert {
        "per_class_f1.png",
        "confusion_baseline.png",
        "confusion_top-1.png",
        "best_epoch.png",
        "optuna_history.png",
        "optuna_parallel.png",
        "optuna_slice.png",
        "optuna_intermediate.png",
    } <= names
    assert "optuna_importance.png" not in names  # 5 COMPLETE trials: fewer than 8
    html = (report / "index.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(pngs)
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_ablate_experiment_without_search(experiment, tmp_path):
    # `galaxybench ablate` writes no search phase and no journal: the report still builds.
    (experiment / "search" / "optuna.journal").unlink()
    (experiment / "results" / "search.jsonl").unlink()
    out = build_report(experiment, tmp_path / "out")
    md = (out / "leaderboard.md").read_text()
    assert "no Optuna journal" in md
    assert "| search | 0 | 0 | 0 | 0 | 0 |" in md
    assert not (out / "figures" / "optuna_history.png").exists()
    assert (out / "figures" / "per_class_f1.png").is_file()


def test_every_embedded_string_is_escaped_and_trial_images_embedded(experiment, tmp_path):
    lines = (experiment / "results" / "confirm.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["config"]["classifier.augment"] = XSS
    rec["row"] = f"top-1 {XSS}"
    lines[0] = json.dumps(rec)
    rec = json.loads(lines[4])  # the diverged seed of top-2
    rec["reason"] = XSS
    lines[4] = json.dumps(rec)
    (experiment / "results" / "confirm.jsonl").write_text("\n".join(lines) + "\n")
    (experiment / "samples" / "t1").mkdir(parents=True)
    (experiment / "samples" / "not_really.png").write_text("<svg/>")  # not a PNG: skipped
    from matplotlib.figure import Figure

    Figure(figsize=(1, 1)).savefig(experiment / "samples" / "t1" / "sr_strip.png")
    out = build_report(experiment, tmp_path / "out")
    html = (out / "index.html").read_text()
    assert "<script" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    assert "<script" not in (out / "leaderboard.md").read_text()
    assert (out / "figures" / "trial_samples_t1_sr_strip.png").is_file()
    assert not (out / "figures" / "trial_samples_not_really.png").exists()
    assert "t1: LR, bicubic, super-resolved and true HR images" in html


def test_failed_build_keeps_previous_report(report, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(report, out)
    before = (out / "index.html").read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_module, "write_figures", boom)
    with pytest.raises(RuntimeError):
        build_report(FIXTURE, out)
    assert (out / "index.html").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp dir left behind


def test_bad_inputs_are_one_line_input_errors(tmp_path, experiment):
    with pytest.raises(InputError, match="not found"):
        load_experiment(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        load_experiment(tmp_path / "empty")
    (experiment / "results" / "confirm.jsonl").write_text("")
    with pytest.raises(InputError, match="no confirmed results"):
        load_experiment(experiment)
    (experiment / "results" / "confirm.jsonl").write_text('{"row": "top-1"}\n{oops\n')
    with pytest.raises(InputError, match=r"confirm\.jsonl:2: not valid JSON"):
        load_experiment(experiment)


HOSTILE_CLASS = "[/bold]oops"
HOSTILE_MATH = "$\\undefinedmacro{$"


def test_hostile_class_and_row_names_render(experiment, tmp_path, capsys):
    """Rich markup and TeX math in class, row and data names are shown as text, never parsed."""
    for phase in ("baseline", "confirm"):
        path = experiment / "results" / f"{phase}.jsonl"
        recs = [json.loads(line) for line in path.read_text().splitlines()]
        for rec in recs:
            rename = {"Disturbed": HOSTILE_CLASS, "Barred Spiral": HOSTILE_MATH}
            if rec.get("per_class_f1"):
                rec["per_class_f1"] = {rename.get(k, k): v for k, v in rec["per_class_f1"].items()}
            rec["minority_classes"] = [rename.get(c, c) for c in rec["minority_classes"]]
            if rec.get("class_names"):
                rec["class_names"] = [rename.get(c, c) for c in rec["class_names"]]
            if rec["row"] == "top-1":
                rec["row"] = f"top-1 {HOSTILE_MATH}"
        path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = build_report(experiment, tmp_path / "out")
    md = (out / "leaderboard.md").read_text()
    assert HOSTILE_CLASS in md and "undefinedmacro" in md
    assert (out / "figures" / "per_class_f1.png").stat().st_size > 1000
    from galaxybench.cli import main

    (tmp_path / "pub").mkdir()
    shutil.copytree(out, tmp_path / "pub" / HOSTILE_CLASS.replace("/", "_"))
    assert main(["leaderboard", "--reports", str(tmp_path / "pub")]) == 0
    assert "oops" in capsys.readouterr().out


def test_figures_never_parse_mathtext():
    from galaxybench.report.figures import per_class_figure

    table = pd.DataFrame(
        {
            "class": [HOSTILE_MATH, "b"],
            "minority": [True, False],
            "baseline_f1": [0.1, 0.2],
            "best_f1": [0.3, 0.4],
            "delta": [0.2, 0.2],
        }
    )
    table.attrs["best_row"] = HOSTILE_MATH
    import io

    from galaxybench.report.style import plain_text

    fig = plain_text(per_class_figure(table))
    fig.savefig(io.BytesIO(), format="png")  # raises ValueError when mathtext parses the label


def test_report_never_imports_torch_and_used_keys_follow_the_protocol(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from galaxybench.report import build_report; "
        f"build_report({str(FIXTURE)!r}, {str(tmp_path / 'r')!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from galaxybench.config import from_flat, load_profile, to_flat
    from galaxybench.protocol import effective_flat
    from galaxybench.report.tables import _used_keys

    base = to_flat(load_profile("smoke"))
    for change in (
        {},
        {"upscale.method": "srgan"},
        {"rebalance.method": "cgan"},
        {"rebalance.method": "oversample", "classifier.loss": "focal"},
    ):
        flat = {**base, **change}
        assert _used_keys(flat) == set(effective_flat(from_flat(flat)))


def test_trial_sample_arrays_are_drawn_into_the_report_only(tmp_path):
    """A trial saves samples.npz; the report draws it, and the experiment is left as it was."""
    import numpy as np

    from galaxybench.samples import TrialSamples

    experiment = tmp_path / "exp"
    shutil.copytree(FIXTURE, experiment)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 3, 8, 8), dtype=np.uint8)
    samples = TrialSamples(
        "cgan", {"Cigar $x$": (imgs, imgs[:2])}, {"LR": imgs, "bicubic": imgs, "true HR": imgs}
    )
    folder = experiment / "samples" / "top-1_seed1"
    samples.save(folder / "samples.npz")
    back = TrialSamples.load(folder / "samples.npz")
    assert list(back.per_class) == ["Cigar $x$"]
    np.testing.assert_array_equal(back.sr_columns["bicubic"], imgs)
    before = sorted(p.relative_to(experiment) for p in experiment.rglob("*"))
    out = build_report(experiment, tmp_path / "out")
    assert sorted(p.relative_to(experiment) for p in experiment.rglob("*")) == before
    figures = sorted(p.name for p in (out / "figures").glob("trial_samples_top-1_seed1_*.png"))
    assert figures == [
        "trial_samples_top-1_seed1_real_vs_synthetic_cigar_x.png",
        "trial_samples_top-1_seed1_sr_strip.png",
    ]
    assert not (out / "figures" / ".samples").exists()


def test_sample_figures_say_the_real_row_went_through_the_upscaler(tmp_path):
    """The "real" row of a trial's sample figure is real training images as the trial's upscaler
    made them (SRGAN output), and its title and caption say so."""
    import numpy as np

    from galaxybench.report.trial_figures import _pair_title
    from galaxybench.samples import TrialSamples

    imgs = np.zeros((2, 3, 8, 8), np.uint8)
    saved = TrialSamples("cgan", {"Disturbed": (imgs, imgs)}, {"LR": imgs}, "srgan")
    back = TrialSamples.load(saved.save(tmp_path / "samples.npz"))
    assert back.upscaler == "srgan"
    title = _pair_title("Disturbed", back)
    assert "real training images (top)" in title and "both upscaled by srgan" in title
    assert "true HR" in _pair_title("Disturbed", TrialSamples("cgan", upscaler="oracle"))
    from galaxybench.report.figures import _sample_caption

    caption = _sample_caption("top-1_seed1", "real_vs_synthetic_disturbed.png")
    assert "upscaler" in caption and "real (top)" not in caption


def test_degenerate_classifiers_are_flagged_on_their_rows(experiment, tmp_path):
    """A row whose classifier, or whose same-seed baseline, never left the class prior says so."""
    from galaxybench.report.experiment import load_experiment
    from galaxybench.report.tables import leaderboard_table

    path = experiment / "results" / "confirm.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    top1 = [r for r in lines if r["row"] == "top-1" and r["status"] == "ok"]
    top1[0]["baseline_degenerate"] = True
    top1[0]["baseline_classifier_status_reason"] = "one predicted class on validation"
    top1[1]["classifier_status"] = "degenerate"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    board = leaderboard_table(load_experiment(experiment)).set_index("row")
    status = board.loc["top-1", "status"]
    assert f"baseline degenerate on seed {top1[0]['seed']}" in status
    assert f"classifier degenerate on seed {top1[1]['seed']}" in status
    assert "degenerate" not in board.loc["baseline", "status"]


def test_domain_fid_shows_its_real_vs_real_reference(experiment, tmp_path):
    path = experiment / "results" / "confirm.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    for r in lines:
        if r["row"] == "top-1" and r["status"] == "ok":
            r.update(
                fid_domain=120.0,
                fid_domain_real_ref=2.5,
                quality_n_real=300,
                quality_n_synthetic=300,
                fid_low_n=True,
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = build_report(experiment, tmp_path / "out")
    text = (out / "leaderboard.md").read_text()
    assert "120.00 (N=300, low N); real vs real 2.50" in text


def test_provenance_names_the_resolved_data_file_without_its_path(experiment, tmp_path):
    """A sweep run without --data records the file it resolved; provenance shows its name only."""
    sweep = experiment / "sweep.yaml"
    text = sweep.read_text().replace("data: synthetic-small", "data: null")
    sweep.write_text(text + "data_path: /home/someone/.cache/galaxybench/embedded/set_v1.h5\n")
    out = build_report(experiment, tmp_path / "out")
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["data_source"] == "set_v1.h5"
    assert "/home/someone" not in (out / "provenance.json").read_text()


def test_the_search_anytime_curve_is_drawn_from_rows_that_say_what_they_cost(experiment, tmp_path):
    path = experiment / "results" / "search.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for i, r in enumerate(rows):  # 8 trials finishing in reverse file order, 10 s each
        r["finished_at"] = 1000.0 - i
        r["compute_seconds"] = {"cgan": 6.0, "classifier": 3.0, "other": 1.0}
        r["compute_seconds_total"] = 10.0
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = build_report(experiment, tmp_path / "out")
    assert (out / "figures" / "anytime.png").is_file()
    html = (out / "index.html").read_text()
    # 80 s in all; without a ladder the same 8 configurations cost 8 x (classifier 3 + other 1)
    # + their GANs (no GAN epochs recorded here: 0) = 32 s by the summary's estimate.
    assert "Anytime curve of the search" in html and "(80 s in all;" in html
    assert "the same 8 configurations at full budget without a ladder: about 32 s" in html
