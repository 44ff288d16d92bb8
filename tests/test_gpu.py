"""GPU checks (skipped without CUDA): every stage runs on CUDA (bf16 autocast, channels_last) and
gives the result the CPU gives, up to what bf16 may change; cached weights load back on the GPU.

Usage: ``pytest -m gpu tests/test_gpu.py`` on a machine with a CUDA GPU.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import load_profile
from galaxybench.data.preparation import prepare
from galaxybench.trial import evaluate_trial

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = write_galaxy10_h5(
        tmp_path_factory.mktemp("gpu") / "g.h5",
        counts=(40, 40, 36, 30, 10, 34, 28, 24, 14, 12),
        size=32,
    )
    return prepare(path, load_profile("smoke").data, use_cache=False)


@pytest.mark.parametrize(
    "overrides",
    [
        ["upscale.method=srgan", "rebalance.method=cgan", "metrics.enabled=true"],
        ["rebalance.method=oversample", "classifier.loss=focal", "classifier.augment=dihedral"],
    ],
)
def test_full_trial_on_cuda_matches_the_cpu(data, tmp_path, overrides) -> None:
    cfg = load_profile("smoke", overrides)
    cpu = evaluate_trial(cfg, data, device="cpu", cache_dir=tmp_path / "cpu")
    assert cpu.ok, cpu.reason  # the config is healthy on a CPU, so the GPU run must be too
    gpu = evaluate_trial(cfg, data, device="cuda", cache_dir=tmp_path / "gpu")
    assert gpu.status == results.STATUS_OK, gpu.reason
    assert gpu.provenance["device"] != "cpu"
    m, ref = gpu.metrics, cpu.metrics
    # The plan and the generated image counts do not depend on the device.
    assert m[results.N_SYNTHETIC] == ref[results.N_SYNTHETIC] and m[results.N_SYNTHETIC] > 0
    assert m[results.AUGMENTED_CLASSES] == ref[results.AUGMENTED_CLASSES]
    assert 0.0 <= m[results.MINORITY_F1] <= 1.0 and 0.0 <= m[results.BASELINE_MINORITY_F1] <= 1.0
    assert m[results.MINORITY_F1_DELTA] == pytest.approx(
        m[results.MINORITY_F1] - m[results.BASELINE_MINORITY_F1]
    )
    assert math.isfinite(m[results.VAL_MINORITY_F1])
    if cfg.metrics.enabled:
        # Bicubic upscaling is the same operation on both devices: PSNR agrees to float noise.
        assert m[results.PSNR_BICUBIC] == pytest.approx(ref[results.PSNR_BICUBIC], abs=0.05)
        assert math.isfinite(m[results.PSNR_SRGAN])
    again = evaluate_trial(cfg, data, device="cuda", cache_dir=tmp_path / "gpu")
    assert again.cache_hits and all(again.cache_hits.values())  # weights load back on the GPU
    assert (
        again.metrics[results.MINORITY_F1] == m[results.MINORITY_F1]
    )  # the same cached classifier
