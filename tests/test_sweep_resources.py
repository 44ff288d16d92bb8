"""``gpu: auto``: a trial's GPU share resolved against the Ray cluster's resources (no Ray here).

Usage: ``pytest tests/test_sweep_resources.py``.
"""

from __future__ import annotations

import pytest

from galaxybench.cli import main
from galaxybench.errors import ConfigError, InputError
from galaxybench.sweep.resources import resolve_resources
from galaxybench.sweep.space import load_search_space, parse_search_space

ONE_GPU = {"CPU": 16.0, "GPU": 1.0}


def _space(resources: dict | None = None, max_concurrent: int = 2):
    tree = {"search": {"max_concurrent": max_concurrent}}
    if resources is not None:
        tree["resources"] = resources
    return parse_search_space(tree, "t.yaml")


def test_the_shipped_cpu_spaces_leave_the_gpu_to_the_sweep():
    for name in ("default", "smoke"):
        space = load_search_space(name)
        assert space.gpu_auto and space.gpu == 0
        assert space.to_dict()["resources"]["gpu"] == "auto"  # what sweep.yaml keeps


def test_auto_spreads_the_concurrent_trials_over_the_gpus():
    space, used = resolve_resources(_space({"cpu": 1, "gpu": "auto"}), ONE_GPU)
    assert (space.gpu, space.gpu_auto, used.concurrent) == (0.5, False, 2)
    assert used.line() == "resources: 2 trials at once x (1 CPU, 0.5 GPU) on 1 GPU"
    space, _ = resolve_resources(_space({"gpu": "auto"}), {"CPU": 8, "GPU": 4})
    assert space.gpu == 1.0  # two trials, four GPUs: one each
    space, _ = resolve_resources(_space(None, max_concurrent=3), {"CPU": 8, "GPU": 2})
    assert space.gpu == 0.5  # no gpu key is auto


def test_trials_per_gpu_sets_the_share_and_the_cluster_caps_the_count():
    tree = {"cpu": 1, "gpu": "auto", "trials_per_gpu": 8}
    _, used = resolve_resources(_space(tree, max_concurrent=8), ONE_GPU)
    assert used.line() == "resources: 8 trials at once x (1 CPU, 0.125 GPU) on 1 GPU"
    _, used = resolve_resources(_space(tree, max_concurrent=8), {"CPU": 3.0, "GPU": 1.0})
    assert used.concurrent == 3  # three CPUs hold three trials


def test_no_gpu_in_the_cluster_or_device_cpu_runs_on_the_cpu():
    space, used = resolve_resources(_space({"gpu": "auto"}), {"CPU": 2.0})
    assert space.gpu == 0
    assert used.line() == (
        "resources: 2 trials at once x 1 CPU; CPU only: no CUDA (the Ray cluster has no GPU)"
    )
    space, used = resolve_resources(_space({"gpu": 0.25}), ONE_GPU, device="cpu")
    assert space.gpu == 0 and used.line().endswith("CPU only: --device cpu")
    # A private local Ray that sees a GPU this torch cannot use.
    space, used = resolve_resources(_space({"gpu": "auto"}), ONE_GPU, driver_cuda=False)
    assert space.gpu == 0 and "this torch has no CUDA" in used.line()


def test_fixed_shares_and_gpus_per_trial_win_over_auto():
    space, _ = resolve_resources(_space({"gpu": 0}), ONE_GPU)
    assert space.gpu == 0  # a space that fixes gpu: 0 keeps it
    space, _ = resolve_resources(_space({"gpu": 0}), ONE_GPU, device="cuda")
    assert space.gpu == 0.5  # --device cuda takes the auto share
    pinned = _space({"gpu": "auto"}).with_options(gpus_per_trial=0.25)
    assert resolve_resources(pinned, ONE_GPU)[0].gpu == 0.25
    assert resolve_resources(pinned, {"CPU": 2.0})[0].gpu == 0.25  # check_resources refuses it


def test_device_cuda_without_a_gpu_is_one_line():
    with pytest.raises(InputError, match="--device cuda requested but the Ray cluster has no GPU"):
        resolve_resources(_space({"gpu": "auto"}), {"CPU": 2.0}, device="cuda")


@pytest.mark.parametrize(
    "resources, key",
    [
        ({"gpu": "all"}, "resources.gpu"),
        ({"gpu": "auto", "trials_per_gpu": 0}, "resources.trials_per_gpu"),
        ({"gpu": 0.5, "trials_per_gpu": 2}, "resources.trials_per_gpu"),
    ],
)
def test_bad_resources_name_the_key(resources, key):
    with pytest.raises(ConfigError, match=key):
        _space(resources)


def test_device_cpu_with_gpus_per_trial_is_refused(capsys):
    assert main(["sweep", "--device", "cpu", "--gpus-per-trial", "0.5", "--space", "smoke"]) == 2
    assert "--device cpu and --gpus-per-trial" in capsys.readouterr().err
