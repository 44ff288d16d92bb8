"""Sweeps on a local Ray (one session for the module): end to end, failures, the GPU guard.

Usage: ``pytest -m ray tests/test_tune_sweep.py``.
"""

from __future__ import annotations

import os

# Ray reads its auth mode once, at import: fix it before anything imports Ray
# (galaxybench.sweep.ray_backend
# would otherwise set "token" for this whole pytest process).
os.environ["RAY_AUTH_MODE"] = "disabled"

import json
import uuid
from pathlib import Path

import pytest
import ray
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import DataConfig, to_flat
from galaxybench.errors import InputError
from galaxybench.sweep import run_experiment
from galaxybench.sweep.space import load_search_space

pytestmark = pytest.mark.ray
LINE_KEYS = {"phase", "row", "trial_id", "config_id", "time_total_s", "status", "config", "seed"}


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from galaxybench.data import prepare

    folder = tmp_path_factory.mktemp("data")
    path = write_galaxy10_h5(folder / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    return prepare(path, DataConfig(hr_size=16))


def _lines(exp: Path, phase: str) -> list[dict]:
    return [json.loads(x) for x in (exp / "results" / f"{phase}.jsonl").read_text().splitlines()]


def _crash_once(marker_dir: str):
    """A trial function that crashes on its first call (a marker file remembers) then runs."""

    def trial(cfg, data, report=None, **kwargs):
        from galaxybench.trial import evaluate_trial

        with (Path(marker_dir) / "quality").open("a") as f:  # what each call was asked for
            f.write(f"{cfg.seed} {kwargs.get('quality', True)}\n")
        marker = Path(marker_dir) / "crashed"
        if not marker.exists():
            marker.write_text("first attempt crashed")
            raise RuntimeError("simulated worker crash")
        return evaluate_trial(cfg, data, report, **kwargs)

    return trial


@pytest.mark.slow
def test_smoke_sweep_end_to_end_with_a_crash_retried(tmp_path, data):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from ray.tune import ExperimentAnalysis

    space = load_search_space("smoke")
    summary = run_experiment(
        space,
        name="smoke",
        storage=tmp_path,
        data=data,
        trial_fn=_crash_once(str(tmp_path)),
        report=False,
    )
    exp = tmp_path / "smoke"
    assert (tmp_path / "crashed").exists()
    assert summary["exit_code"] == 0 and summary["failed"] == 0
    assert summary["phases"]["baseline"]["ok"] == 1  # the crashed first attempt was retried
    search = _lines(exp, "search")
    assert len(search) == space.search.num_samples
    for phase in ("baseline", "search", "confirm"):
        for line in _lines(exp, phase):
            assert set(line) >= LINE_KEYS and line["phase"] == phase
    confirm = _lines(exp, "confirm")
    assert {line["row"] for line in confirm} >= {"top-1", "srgan off", "oversample", "oracle"}
    assert all(line["seed"] == 1 for line in confirm)  # the confirmation seeds only
    assert summary["best"]["trial_id"] in {line["trial_id"] for line in search}
    json.loads((exp / "summary.json").read_text())
    assert (exp / "sweep.yaml").exists() and (exp / "ray.log").exists()
    assert (exp / "samples" / "top-1_seed1" / "samples.npz").exists()  # images for the report
    # Search trials (seed 0) are ranked by their validation objective alone: asked for no
    # secondary quality metrics; the baseline and confirm trials (seed 1) measure them.
    asked = {tuple(x.split()) for x in (tmp_path / "quality").read_text().splitlines()}
    assert asked == {("0", "False"), ("1", "True")}
    # Ray Tune's own API reads the phases; Optuna's reads the journal.
    analysis = ExperimentAnalysis(str(exp / "search"))
    frame = analysis.dataframe()
    assert len(frame) == 2 and results.OBJECTIVE in frame
    study = JournalStorage(JournalFileBackend(str(exp / "search" / "optuna.journal")))
    trials = study.get_all_trials(study.get_study_id_from_name("search"))
    assert len(trials) == 2
    # Only trials that finished ok are COMPLETE (with a value); ASHA-stopped ones are PRUNED.
    ok = sum(line["status"] == "ok" for line in search)
    assert sum(t.value is not None for t in trials) == ok >= 1
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}


def _scripted(calls_dir: str):
    """A fast fake trial: cgan diverges, oracle crashes, dihedral ends without its metric."""

    def trial(cfg, data, report=None, **kwargs):
        flat = to_flat(cfg)
        tag = f"{flat['upscale.method']}-{flat['rebalance.method']}-{flat['classifier.augment']}"
        (Path(calls_dir) / f"{tag}-{uuid.uuid4().hex}").write_text("")
        if cfg.upscale.method == "oracle":
            raise RuntimeError("oracle stage crashed")
        if cfg.rebalance.method == "cgan":
            return results.TrialResult(
                status=results.STATUS_DIVERGED,
                reason="cgan: loss is NaN",
                config=flat,
                seed=cfg.seed,
            )
        for epoch in (1, 2):
            report({results.EPOCH: epoch, results.OBJECTIVE: 0.1 * epoch})
        metrics = {results.MINORITY_F1: 0.3}
        if cfg.classifier.augment != "dihedral":
            metrics[results.OBJECTIVE] = 0.2
        return results.TrialResult(
            status=results.STATUS_OK, metrics=metrics, config=flat, seed=cfg.seed
        )

    return trial


def test_ablate_contains_diverged_crashed_and_metricless_trials(tmp_path, data):
    calls = tmp_path / "calls"
    calls.mkdir()
    summary = run_experiment(
        load_search_space("smoke"),
        name="abl",
        storage=tmp_path,
        mode="ablate",
        data=data,
        trial_fn=_scripted(str(calls)),
        report=False,
    )
    lines = {line["row"]: line for line in _lines(tmp_path / "abl", "confirm")}
    assert lines["top-1"]["status"] == "diverged" and "NaN" in lines["top-1"]["reason"]
    assert lines["srgan off"]["status"] == "diverged"
    assert lines["oracle"]["status"] == "failed"
    assert "oracle stage crashed" in lines["oracle"]["reason"]
    assert lines["oracle + best rebalancer"]["status"] == "failed"  # the oracle crashes there too
    # Each baseline and confirm run is on the split of its seed.
    assert all(line["split_seed"] == line["seed"] == 1 for line in lines.values())
    assert (
        lines["dihedral"]["status"] == "failed" and results.OBJECTIVE in lines["dihedral"]["reason"]
    )
    ok_rows = ("cgan off", "oversample", "weighted_ce", "oracle rebalancer")
    assert {lines[r]["status"] for r in ok_rows} == {"ok"}
    counts = {
        k: summary["phases"]["confirm"][k] for k in ("trials", "ok", "diverged", "failed", "pruned")
    }
    assert counts == {"trials": 9, "ok": 4, "diverged": 2, "failed": 3, "pruned": 0}
    assert summary["exit_code"] == 0 and summary["failed"] == 3 and summary["diverged"] == 2
    assert "search" not in summary["phases"]
    names = [p.name.rsplit("-", 1)[0] for p in calls.iterdir()]
    assert names.count("srgan-cgan-none") == 1  # diverged: never retried
    assert names.count("oracle-none-none") == 2  # crashed: retried once (max_failures: 1)
    assert names.count("oracle-cgan-none") == 2


def test_gpu_request_is_refused_before_launch(tmp_path, data):
    space = load_search_space("smoke").with_options(gpus_per_trial=0.5)
    with pytest.raises(InputError, match=r"0.5 GPU per trial requested but the Ray cluster has 0"):
        run_experiment(space, name="gpu", storage=tmp_path, data=data, trial_fn=_scripted("/x"))
    assert not (tmp_path / "gpu").exists()  # nothing written, nothing launched


def test_existing_experiment_needs_resume_and_resume_needs_one(tmp_path, data):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "sweep.yaml").write_text("{}")
    with pytest.raises(InputError, match="already exists: pass --resume"):
        run_experiment(load_search_space("smoke"), name="taken", storage=tmp_path, data=data)
    with pytest.raises(InputError, match="nothing to resume"):
        run_experiment(None, name="absent", storage=tmp_path, data=data, resume=True)
