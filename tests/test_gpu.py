"""GPU checks (skipped without CUDA): the bf16 / channels_last paths of every stage run and agree
with the CPU closely enough to give the same kind of result."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import write_galaxy10_h5

from galaxybench import results as R
from galaxybench.config import load_profile
from galaxybench.data.preparation import prepare
from galaxybench.trial import evaluate_trial

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = write_galaxy10_h5(tmp_path_factory.mktemp("gpu") / "g.h5",
                             counts=(40, 40, 36, 30, 10, 34, 28, 24, 14, 12), size=32)
    return prepare(path, load_profile("smoke").data, use_cache=False)


@pytest.mark.parametrize("overrides", [
    ["upscale.method=srgan", "rebalance.method=cgan", "metrics.enabled=true"],
    ["rebalance.method=oversample", "classifier.loss=focal", "classifier.augment=dihedral"],
])
def test_full_trial_runs_on_cuda(data, tmp_path, overrides) -> None:
    cfg = load_profile("smoke", overrides)
    result = evaluate_trial(cfg, data, device="cuda", cache_dir=tmp_path)
    assert result.status in (R.STATUS_OK, R.STATUS_DIVERGED)
    if result.ok:
        assert 0.0 <= result.metrics[R.MINORITY_F1] <= 1.0
        assert math.isfinite(result.metrics[R.MINORITY_F1_DELTA])
        assert result.provenance["device"] != "cpu"
        again = evaluate_trial(cfg, data, device="cuda", cache_dir=tmp_path)
        assert all(again.cache_hits.values())  # cached weights load back onto the GPU
