"""A sweep whose every search trial diverges still ends with its baseline, classical rows, report.

The trial function makes every cGAN trial (all of the smoke space's search) diverge; the other
rows run as usual. The summary says no GAN configuration survived, with counts by reason, and the
exit status (4) tells a script that the search failed.

Usage: ``pytest -m ray tests/test_sweep_search_fails.py``.
"""

from __future__ import annotations

import os

os.environ["RAY_AUTH_MODE"] = "disabled"  # before anything imports Ray

import json
from pathlib import Path

import pytest
import ray  # noqa: F401  (a hard dependency: a broken Ray fails, never skips)
from conftest import write_galaxy10_h5

from galaxybench import protocol, results
from galaxybench.config import DataConfig, to_flat
from galaxybench.sweep.experiment import EXIT_SEARCH_FAILED, run_experiment
from galaxybench.sweep.space import load_search_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REASON = "cgan collapsed: pairwise L2 0.01 below 0.05"


def _gans_diverge():
    """Every cGAN trial diverges; the others finish ok (built here so cloudpickle ships it)."""

    def trial(cfg, data, report=None, **kwargs):
        flat = to_flat(cfg)
        if cfg.rebalance.method == "cgan":
            return results.TrialResult(
                status=results.STATUS_DIVERGED, reason=REASON, config=flat, seed=cfg.seed
            )
        report({results.EPOCH: 1, results.OBJECTIVE: 0.3})
        return results.TrialResult(
            status=results.STATUS_OK,
            config=flat,
            seed=cfg.seed,
            metrics={results.OBJECTIVE: 0.3, results.MINORITY_F1: 0.25},
        )

    return trial


def test_every_search_trial_diverges_yet_the_sweep_reports(tmp_path: Path):
    from galaxybench.data import prepare

    data = prepare(
        write_galaxy10_h5(tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16)),
        DataConfig(hr_size=16),
    )
    published = []

    def publish(exp_dir: Path) -> Path:  # what the CLI passes: the report layer's publisher
        from galaxybench.report import build_report

        published.append(build_report(exp_dir, tmp_path / "report"))
        return published[-1]

    space = load_search_space("smoke").with_options(num_samples=3)
    summary = run_experiment(
        space,
        name="allfail",
        storage=tmp_path,
        data=data,
        num_cpus=2,
        trial_fn=_gans_diverge(),
        publish=publish,
    )
    exp = tmp_path / "allfail"
    assert summary["exit_code"] == EXIT_SEARCH_FAILED == 4
    failed = summary["search_failed"]
    assert failed["message"].startswith("no GAN configuration survived the search")
    assert failed["by_status"] == {"diverged": 3} and failed["reasons"] == {REASON: 3}
    confirm = [
        json.loads(x) for x in (exp / "results" / "confirm.jsonl").read_text().split("\n") if x
    ]
    rows = {r["row"] for r in confirm}
    assert rows == {
        *protocol.CLASSICAL,
        protocol.ROW_ORACLE,
        protocol.ROW_ORACLE_REBALANCER,
    }  # no top-k, no ablations of a best
    assert all(r["status"] == "ok" for r in confirm)
    assert summary["rows"].keys() >= {protocol.ROW_BASELINE, *protocol.CLASSICAL}
    assert summary["report"] == str(published[0]) and summary["report_error"] is None
    assert (published[0] / "index.html").exists()
    on_disk = json.loads((exp / "summary.json").read_text())
    assert on_disk["search_failed"] == failed and on_disk["exit_code"] == 4
