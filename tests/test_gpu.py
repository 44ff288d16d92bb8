"""GPU checks (skipped without CUDA): every stage runs on CUDA (bf16 autocast, channels_last) and
gives the result the CPU gives, up to what bf16 may change; cached weights load back on the GPU.
The comparison itself (``cpu_cuda_disagreements``) is unit-tested on the CPU.

Usage: ``pytest -m gpu tests/test_gpu.py`` on a machine with a CUDA GPU.
"""

from __future__ import annotations

import math

import pytest
import torch

from galaxybench import results
from galaxybench.config import load_profile
from galaxybench.data.preparation import prepare
from galaxybench.data.synthetic import write_synthetic
from galaxybench.trial import evaluate_trial

# How far the CUDA run's minority F1 may be from the CPU run's on the same seed. Under bf16
# autocast every convolution and matmul rounds its inputs to 8 significant bits (relative error
# up to 2^-9), so the trained weights drift from the CPU's float32 ones and test images near a
# decision boundary may change class; nothing else differs (same seed, data, splits, plan). On
# the data below (10% of Galaxy10 DECaLS' counts) the minority classes have 21, 6 and 28
# test images, so 0.1 on their mean F1 allows about two flipped predictions in the smallest
# class or five spread over the three. A device bug (a stage skipped, wrong layout or scaling,
# weights not loaded) moves the score by far more.
MINORITY_F1_TOLERANCE = 0.1


def cpu_cuda_disagreements(
    cpu: dict, cuda: dict, tolerance: float = MINORITY_F1_TOLERANCE
) -> list[str]:
    """What differs between a CPU trial's metrics and the same trial's on CUDA, beyond bf16.

    The plan (synthetic image counts, augmented classes) must be identical; the minority F1 of
    the trial and of its baseline must agree within ``tolerance`` (a NaN never agrees).
    """
    wrong = [
        f"{key}: cpu {cpu[key]!r}, cuda {cuda[key]!r}"
        for key in (results.N_SYNTHETIC, results.AUGMENTED_CLASSES)
        if cpu[key] != cuda[key]
    ]
    wrong += [
        f"{key}: cpu {cpu[key]:.4f}, cuda {cuda[key]:.4f} (tolerance {tolerance})"
        for key in (results.MINORITY_F1, results.BASELINE_MINORITY_F1)
        if not abs(cpu[key] - cuda[key]) <= tolerance
    ]
    return wrong


def test_the_cpu_cuda_comparison_flags_what_bf16_cannot_explain() -> None:
    cpu = {
        results.N_SYNTHETIC: 40,
        results.AUGMENTED_CLASSES: ["a", "b"],
        results.MINORITY_F1: 0.50,
        results.BASELINE_MINORITY_F1: 0.40,
    }
    assert cpu_cuda_disagreements(cpu, dict(cpu)) == []
    near = {**cpu, results.MINORITY_F1: 0.59, results.BASELINE_MINORITY_F1: 0.31}
    assert cpu_cuda_disagreements(cpu, near) == []
    far = {**cpu, results.MINORITY_F1: 0.62}
    assert [w.split(":")[0] for w in cpu_cuda_disagreements(cpu, far)] == [results.MINORITY_F1]
    assert cpu_cuda_disagreements(cpu, {**cpu, results.BASELINE_MINORITY_F1: math.nan})
    plan = {**cpu, results.N_SYNTHETIC: 41, results.AUGMENTED_CLASSES: ["a"]}
    assert len(cpu_cuda_disagreements(cpu, plan)) == 2


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = write_synthetic(tmp_path_factory.mktemp("gpu") / "g.h5", scale=0.1, size=32, seed=0)
    return prepare(path, load_profile("smoke").data, use_cache=False)


@pytest.mark.parametrize(
    "overrides",
    [
        ["upscale.method=srgan", "rebalance.method=cgan", "metrics.enabled=true"],
        ["rebalance.method=oversample", "classifier.loss=focal", "classifier.augment=dihedral"],
    ],
)
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_full_trial_on_cuda_matches_the_cpu(data, tmp_path, overrides) -> None:
    cfg = load_profile("smoke", overrides)
    cpu = evaluate_trial(cfg, data, device="cpu", cache_dir=tmp_path / "cpu")
    assert cpu.ok, cpu.reason  # the config is healthy on a CPU, so the GPU run must be too
    gpu = evaluate_trial(cfg, data, device="cuda", cache_dir=tmp_path / "gpu")
    assert gpu.status == results.STATUS_OK, gpu.reason
    assert gpu.provenance["device"] != "cpu"
    m, ref = gpu.metrics, cpu.metrics
    assert m[results.N_SYNTHETIC] > 0
    assert cpu_cuda_disagreements(ref, m) == []  # the same fixed-seed trial, up to bf16
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
