"""The stage plugin fixture under Ray: a sweep searches over a built-in and a plugin upscaler.

tests/fixtures/plugin_pkg is installed by tests/conftest.py (``stage_plugin``) before Ray starts,
so the workers inherit its folder on PYTHONPATH and find the stage through its entry point, as
they would find a plugin installed in the cluster's environment.

Usage: ``pytest -m ray tests/test_plugin_sweep.py``
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
import ray
from conftest import PLUGIN_STAGE, write_galaxy10_h5

from galaxybench.config import DataConfig
from galaxybench.sweep import run_experiment
from galaxybench.sweep.space import load_search_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPACE = f"""
description: a built-in and a plugin upscaler, side by side
base: {{profile: smoke}}
params:
  upscale.method: {{grid: [bicubic, {PLUGIN_STAGE}]}}
search: {{algorithm: grid, num_samples: 1, scheduler: fifo, max_concurrent: 2, max_failures: 0}}
seeds: {{search: 0, confirm: [1]}}
top_k: 1
resources: {{cpu: 1, gpu: 0}}
"""


@pytest.fixture(scope="module")
def ray_with_plugin(stage_plugin: Path):
    # The plugin's folder is on PYTHONPATH before Ray starts: its workers inherit the variable.
    assert str(stage_plugin) in os.environ["PYTHONPATH"].split(os.pathsep)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_plugin_upscaler_runs_in_a_sweep_under_ray(tmp_path: Path, ray_with_plugin) -> None:
    from galaxybench.data import prepare

    h5 = write_galaxy10_h5(tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    data = prepare(h5, DataConfig(hr_size=16))
    space_file = tmp_path / "plugin.yaml"
    space_file.write_text(SPACE)
    summary = run_experiment(
        load_search_space(str(space_file)),
        name="plugin",
        storage=tmp_path / "exp",
        data=data,
        report=False,
    )
    lines = [
        json.loads(x)
        for x in (tmp_path / "exp" / "plugin" / "results" / "search.jsonl").read_text().splitlines()
    ]
    by_method = {line["config"]["upscale.method"]: line for line in lines}
    assert set(by_method) == {"bicubic", PLUGIN_STAGE}
    assert by_method[PLUGIN_STAGE]["status"] == "ok", by_method[PLUGIN_STAGE].get("reason")
    assert summary["phases"]["search"]["ok"] == 2
