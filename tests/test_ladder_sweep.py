"""A tiny real sweep with a budget ladder (the smoke space) under Ray: every rung is recorded.

Usage: ``pytest -m ray tests/test_ladder_sweep.py``.
"""

from __future__ import annotations

import os

os.environ["RAY_AUTH_MODE"] = "disabled"  # before anything imports Ray

import json
from pathlib import Path

import pytest

pytest.importorskip("ray")

from conftest import write_galaxy10_h5  # noqa: E402

from galaxybench import results as R  # noqa: E402
from galaxybench.config import DataConfig  # noqa: E402
from galaxybench.sweep import run_experiment  # noqa: E402
from galaxybench.sweep.space import load_search_space  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_smoke_sweep_climbs_the_ladder_and_records_every_rung(tmp_path: Path):
    from galaxybench.data import prepare
    from ray.tune import ExperimentAnalysis

    data = prepare(write_galaxy10_h5(tmp_path / "tiny.h5",
                                     counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16)),
                   DataConfig(hr_size=16))
    space = load_search_space("smoke")
    assert space.search.ladder == (0.5, 1.0)
    summary = run_experiment(space, name="ladder", storage=tmp_path, data=data, num_cpus=2,
                             report=False)
    exp = tmp_path / "ladder"
    search = [json.loads(x) for x in (exp / "results" / "search.jsonl").read_text().splitlines()]
    assert len(search) == 2
    for row in search:
        rungs = row[R.RUNGS]
        assert [r[R.RUNG] for r in rungs] == list(range(1, len(rungs) + 1))
        assert [r[R.BUDGET_FRACTION] for r in rungs] == [0.5, 1.0][:len(rungs)]
        assert all(isinstance(r[R.OBJECTIVE], float) for r in rungs)
        assert row[R.COMPUTE_SECONDS_TOTAL] == pytest.approx(
            sum(sum(r[R.COMPUTE_SECONDS].values()) for r in rungs), abs=0.01)
        if row["status"] == R.STATUS_OK:
            assert len(rungs) == 2 and R.MINORITY_F1 in row  # test metrics: last rung only
            assert row[R.OBJECTIVE] == rungs[-1][R.OBJECTIVE]
            # Promoted: the SRGAN went on from the half-budget checkpoint (position 1 of 2).
            assert rungs[1][R.GAN_EPOCHS]["srgan"]["start"] >= 1
    # Ray Tune itself holds one result per rung climbed (ASHA's time: R.BUDGET, 1 then 2).
    analysis = ExperimentAnalysis(str(exp / "search"))
    for trial_id, frame in analysis.trial_dataframes.items():
        assert list(frame[R.RUNG]) == list(range(1, len(frame) + 1)), trial_id
        assert list(frame[R.BUDGET]) == [1.0, 2.0][:len(frame)]
    compute = summary["phases"]["search"]["compute"]
    assert compute[R.GAN_EPOCHS_TRAINED] <= compute["gan_epochs_full_budget"]
    assert compute["exhaustive_full_budget_seconds"] > 0 and summary["compute"]
    assert summary["exit_code"] == 0
