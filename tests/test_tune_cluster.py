"""A two-node Ray cluster simulated on one machine: trials run on both nodes, results complete.

Usage: ``pytest -m ray tests/test_tune_cluster.py``.
"""

from __future__ import annotations

import os

# Ray reads its auth mode once, at import: fix it before anything imports Ray
# (galaxybench.sweep.ray_backend
# would otherwise set "token" for this whole pytest process).
os.environ["RAY_AUTH_MODE"] = "disabled"

import json
import time
from pathlib import Path

import pytest
import ray
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import DataConfig, to_flat
from galaxybench.sweep import run_experiment
from galaxybench.sweep.space import load_search_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    os.environ["RAY_AUTH_MODE"] = "disabled"
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)  # run_experiment joins this session
    yield c
    ray.shutdown()
    c.shutdown()


def _node_recording_trial():
    """A trial that records its Ray node in the result's provenance; a second of work.

    Built in a function so that cloudpickle ships it by value (workers cannot import tests).
    """

    def trial(cfg, data, report=None, **kwargs):
        node = ray.get_runtime_context().get_node_id()
        time.sleep(1.0)
        report({results.EPOCH: 1, results.OBJECTIVE: 0.5})
        return results.TrialResult(
            status=results.STATUS_OK,
            config=to_flat(cfg),
            seed=cfg.seed,
            metrics={results.OBJECTIVE: 0.5, results.MINORITY_F1: 0.4},
            provenance={"node_id": node},
        )

    return trial


def test_trials_run_on_both_nodes_and_results_are_complete(cluster, tmp_path: Path):
    path = write_galaxy10_h5(tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    from galaxybench.data import prepare

    data = prepare(path, DataConfig(hr_size=16))
    space = load_search_space("smoke").with_options(num_samples=4)
    summary = run_experiment(
        space,
        name="two",
        storage=tmp_path,
        data=data,
        trial_fn=_node_recording_trial(),
        report=False,
    )
    assert summary["exit_code"] == 0 and summary["failed"] == 0
    nodes = set()
    for phase, expected in (("baseline", 1), ("search", 4), ("confirm", None)):
        lines = [
            json.loads(x)
            for x in (tmp_path / "two" / "results" / f"{phase}.jsonl").read_text().splitlines()
        ]
        assert expected is None or len(lines) == expected
        assert all(line["status"] == "ok" for line in lines)
        nodes |= {line["provenance"]["node_id"] for line in lines}
    assert nodes == {n["NodeID"] for n in ray.nodes() if n["Alive"]} and len(nodes) == 2
