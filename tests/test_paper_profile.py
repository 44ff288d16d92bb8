"""The `paper` profile's 128 px path end to end: one trial with every epoch count cut to 1.

Usage: ``pytest tests/test_paper_profile.py -m slow``. On 2 CPU cores a 2,000-row file does not
fit a CI budget (the depth-8 SRGAN alone is ~70 GFLOP per training image and epoch, see
bench/paper_stage_costs.py), so this runs the same layout at 240 rows (the smallest with every
class in every split). ``python bench/paper_stage_costs.py --n 240`` measures the same trial
(seconds and peak RSS per stage, with the load average: reports/bench/paper_stage_costs.json).
"""

from __future__ import annotations

import numpy as np
import pytest

from galaxybench import evaluate_trial, load_data, load_profile

ROWS = 240
ONE_EPOCH = [
    "upscale.method=srgan",
    "rebalance.method=cgan",
    "srgan.pretrain_epochs=1",
    "srgan.epochs=1",
    "cgan.epochs=1",
    "classifier.epochs=1",
    "metrics.enabled=false",
]


@pytest.mark.slow
def test_one_epoch_paper_trial_runs_at_128_px(tmp_path):
    from galaxybench.data.rehearsal import write_like

    path = write_like(tmp_path / "like.h5", n=ROWS, seed=0, workers=2)
    cfg = load_profile("paper", ONE_EPOCH)
    assert cfg.data.hr_size == 128 and cfg.srgan.depth == 8  # the paper's networks, not smaller
    data = load_data(str(path), cfg.data)
    assert data.hr.shape[1:] == (3, 128, 128) and data.lr.shape[1:] == (3, 64, 64)
    stages = []
    result = evaluate_trial(cfg, data, use_cache=False, on_stage=stages.append)
    assert result.status == "ok", result.metrics
    m = result.metrics
    assert {"rebalance", "upscale", "classify"} <= set(m["stage_seconds"])
    assert m["compute_seconds"]["srgan"] > 0 and m["compute_seconds"]["cgan"] > 0
    assert m["n_synthetic"] > 0 and m["augmented_classes"]  # the cGAN really generated images
    assert 0.0 <= m["minority_f1"] <= 1.0 and np.isfinite(m["minority_f1_delta"])
