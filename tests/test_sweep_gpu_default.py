"""``gpu: auto`` on a simulated GPU cluster: Tune gives each trial the resolved share of the GPU.

``ray.cluster_utils.Cluster`` starts one node declaring one GPU (none exists); the trial is a
stand-in that records what Ray assigned it and the device it was given (``GALAXYBENCH_DEVICE=cpu``
is not set: the device is the one the sweep chose). A second sweep with ``device="cpu"`` on the
same cluster asks for no GPU.

Usage: ``pytest -m ray tests/test_sweep_gpu_default.py``.
"""

from __future__ import annotations

import os

os.environ["RAY_AUTH_MODE"] = "disabled"  # before anything imports Ray

import json
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

    # The nodes' workers inherit this process's environment: a device override set by another
    # test module (test_sim_cluster sets GALAXYBENCH_DEVICE=cpu) would decide the device here.
    override = os.environ.pop("GALAXYBENCH_DEVICE", None)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 1})
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)  # run_experiment joins this session
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        if override is not None:
            os.environ["GALAXYBENCH_DEVICE"] = override


def _resource_recording_trial():
    """A stand-in trial that records its Ray resources and torch device (shipped by value)."""

    def trial(cfg, data, report=None, device="?", **kwargs):
        held = ray.get_runtime_context().get_assigned_resources()
        metrics = {results.OBJECTIVE: 0.5, results.MINORITY_F1: 0.4}
        return results.TrialResult(
            status=results.STATUS_OK,
            config=to_flat(cfg),
            seed=cfg.seed,
            metrics=metrics,
            provenance={"gpu": held.get("GPU", 0.0), "device": device},
        )

    return trial


def _held(exp_dir: Path) -> set[tuple[float, str]]:
    rows = []
    for phase in ("baseline", "search", "confirm"):
        text = (exp_dir / "results" / f"{phase}.jsonl").read_text()
        rows += [json.loads(line) for line in text.splitlines()]
    return {(row["provenance"]["gpu"], row["provenance"]["device"]) for row in rows}


def test_auto_gives_each_trial_a_share_of_the_declared_gpu(cluster, tmp_path: Path):
    path = write_galaxy10_h5(tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    from galaxybench.data import prepare

    data = prepare(path, DataConfig(hr_size=16))
    space = load_search_space("smoke")  # resources: {cpu: 1, gpu: auto}, 2 trials at once
    lines: list[str] = []
    common = dict(storage=tmp_path, data=data, trial_fn=_resource_recording_trial(), report=False)
    summary = run_experiment(space, name="auto", announce=lines.append, **common)
    assert summary["exit_code"] == 0 and summary["resources"]["gpu"] == 0.5
    assert lines == ["resources: 2 trials at once x (1 CPU, 0.5 GPU) on 1 GPU"]
    assert _held(tmp_path / "auto") == {(0.5, "cuda")}
    # sweep.yaml keeps ``auto``: a resume on other hardware resolves it again.
    assert "gpu: auto" in (tmp_path / "auto" / "sweep.yaml").read_text()

    lines.clear()
    summary = run_experiment(space, name="cpu", announce=lines.append, device="cpu", **common)
    assert summary["exit_code"] == 0 and summary["resources"]["gpu"] == 0
    assert lines == ["resources: 2 trials at once x 1 CPU; CPU only: --device cpu"]
    assert _held(tmp_path / "cpu") == {(0.0, "cpu")}
