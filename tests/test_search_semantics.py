"""What the searcher learns from: the Optuna study after a tiny ASHA search on a local Ray.

A scripted trial function stands in for the pipeline: the n-th trial started reports a per-epoch
validation score that falls with n (so ASHA stops the later ones), and one trial diverges. The
study read back from ``search/optuna.journal`` must hold the stopped trials as PRUNED, the
diverged one and one that never reported a score as FAIL, and only the finished ones as
COMPLETE, with their final objective.

Usage: ``pytest -m ray tests/test_search_semantics.py``.
"""

from __future__ import annotations

import os

# Ray reads its auth mode once, at import: fix it before anything imports Ray.
os.environ["RAY_AUTH_MODE"] = "disabled"

import time
from pathlib import Path

import pytest
import ray

from galaxybench import results
from galaxybench.config import to_flat
from galaxybench.sweep import plan
from galaxybench.sweep.space import parse_search_space

pytestmark = pytest.mark.ray
DIVERGING = 1  # the second trial started diverges
METRICLESS = 3  # the fourth reports epochs without a score and ends without its objective
SPACE = {
    "description": "ASHA semantics test",
    "base": {
        "profile": "smoke",
        "set": {"upscale.method": "srgan", "rebalance.method": "cgan", "classifier.epochs": 4},
    },
    "params": {"cgan.lr": {"loguniform": [1.0e-4, 1.0e-2]}},
    "search": {
        "algorithm": "optuna",
        "num_samples": 6,
        "scheduler": "asha",
        "max_concurrent": 2,
        "grace_period": 1,
        "reduction_factor": 2,
        "max_failures": 0,
    },
    "seeds": {"search": 0, "confirm": [1]},
    "top_k": 1,
}


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _scripted(calls_dir: str, diverging: int, metricless: int):
    """The fake trial; it refers to no function of this module (Ray workers cannot import it)."""

    def trial(cfg, data, report=None, **kwargs):
        flat = to_flat(cfg)
        index = 0  # the order in which this trial started: one O_EXCL file per claimed index
        while True:
            try:
                os.close(
                    os.open(Path(calls_dir) / str(index), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                )
                break
            except FileExistsError:
                index += 1
        if index == diverging:
            time.sleep(0.5)
            return results.TrialResult(
                status=results.STATUS_DIVERGED,
                reason="cgan: loss is NaN",
                config=flat,
                seed=cfg.seed,
            )
        if index == metricless:  # Tune would end the whole run on a result without its metric
            for epoch in range(1, cfg.classifier.epochs + 1):
                report({results.EPOCH: epoch})
            return results.TrialResult(
                status=results.STATUS_OK,
                config=flat,
                seed=cfg.seed,
                metrics={results.MINORITY_F1: 0.5},
            )
        scores = []
        for epoch in range(1, cfg.classifier.epochs + 1):
            scores.append(round((1.0 - 0.1 * index) * epoch / cfg.classifier.epochs, 4))
            report({results.EPOCH: epoch, results.OBJECTIVE: scores[-1]})
            time.sleep(0.3 if index == 0 else 0.05)
        return results.TrialResult(
            status=results.STATUS_OK,
            config=flat,
            seed=cfg.seed,
            metrics={results.OBJECTIVE: max(scores), results.MINORITY_F1: 0.5},
        )

    return trial


@pytest.mark.slow  # about a minute of Ray trials on 2 cores
def test_stopped_trials_are_pruned_diverged_fail_only_finished_complete(tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    from galaxybench.sweep import ray_backend

    space = parse_search_space(SPACE, "asha.yaml")
    calls = tmp_path / "calls"
    calls.mkdir()
    flat = {k: v for k, v in to_flat(space.base_config()).items() if k != "seed"}
    spec = plan.PhaseSpec("search", space=space, base_flat=flat)
    trial_fn = _scripted(str(calls), DIVERGING, METRICLESS)
    wrapped = ray_backend.wrapped_trainable(space, tmp_path, None, trial_fn)
    rows = ray_backend.run_phase(spec, wrapped, tmp_path, space, resume=False)

    assert len(rows) == 6
    statuses = [r["status"] for r in rows]
    assert statuses.count(results.STATUS_DIVERGED) == 1
    assert statuses.count(results.STATUS_FAILED) == 1  # the metricless one; the run went on
    assert statuses.count(results.STATUS_PRUNED) >= 1 and statuses.count(results.STATUS_OK) >= 1, (
        statuses
    )
    journal = tmp_path / "search" / results.OPTUNA_JOURNAL
    study = optuna.load_study(
        study_name=results.STUDY_NAME, storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 6
    # Trials are matched by their sampled cgan.lr (distinct floats from TPE).
    by_lr = {t.params["cgan.lr"]: t for t in trials}
    expected = {
        results.STATUS_OK: TrialState.COMPLETE,
        results.STATUS_PRUNED: TrialState.PRUNED,
        results.STATUS_DIVERGED: TrialState.FAIL,
        results.STATUS_FAILED: TrialState.FAIL,
    }
    for row in rows:
        t = by_lr[row["config"]["cgan.lr"]]
        assert t.state == expected[row["status"]], (row["status"], t.state)
        if row["status"] == results.STATUS_OK:
            assert t.value == pytest.approx(row[results.OBJECTIVE])  # the final objective
            assert len(t.intermediate_values) == 4  # every epoch, as intermediate values
        else:
            assert t.value is None  # never a 0.0 or a partial score
        if row["status"] == results.STATUS_PRUNED:
            assert results.OBJECTIVE not in row and row[results.VAL_OBJECTIVE_STEP] > 0
            # ASHA's stopping report never reaches the searcher: fewer values than epochs.
            assert len(t.intermediate_values) < 4
