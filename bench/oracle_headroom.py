"""Benchmark: the oracle upscaler's headroom over bicubic on the embedded data (a positive control).

The default space's base config trains the classifier on each confirmation seed's own split
(``data.split_seed = seed``) twice: on bicubic upscales of the LR images and on the true HR images
(``upscale.method: oracle``), both without rebalancing. The figure is the paired difference of
test minority F1 (oracle - bicubic) with its 95 % t-interval (scipy.stats.t); ``ratio`` is the
interval's lower end and ``goal`` 0: the control fires when the interval lies above 0. With
``--fewer`` a third arm trains bicubic on half of the minority classes' training images (a
proxy of the rebalancing headroom: real minority images should help).

Usage: ``python bench/oracle_headroom.py [--seeds 1,2,3,4,5] [--fewer]``; the last line printed
is JSON with ``bench``, ``ratio`` and ``goal``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from _common import finish
from scipy import stats

from galaxybench import results
from galaxybench.data import load_data
from galaxybench.protocol import minority_classes
from galaxybench.sweep.space import load_search_space
from galaxybench.trial import evaluate_trial

ARMS = {
    "bicubic": {"upscale.method": "bicubic", "rebalance.method": "none"},
    "oracle": {"upscale.method": "oracle", "rebalance.method": "none"},
    "fewer": {"upscale.method": "bicubic", "rebalance.method": "none"},
}


def _fewer(data, seed: int):
    """``data`` with half of each minority class's training images withheld (never reused)."""
    train = data.splits["train"]
    rng = np.random.default_rng(1000 + seed)
    drop = np.zeros(train.size, bool)
    for k in minority_classes(np.bincount(data.labels, minlength=data.num_classes)):
        where = np.flatnonzero(data.labels[train] == k)
        drop[rng.choice(where, where.size // 2, replace=False)] = True
    return dataclasses.replace(
        data, splits={**data.splits, "train": train[~drop]}, fingerprint=data.fingerprint + "-fewer"
    )


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    """Mean of b - a with its 95 % t-interval (n - 1 degrees of freedom)."""
    d = np.asarray(b) - np.asarray(a)
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))
    low, high = stats.t.interval(0.95, d.size - 1, loc=mean, scale=se)
    return {"mean": round(mean, 4), "low": round(float(low), 4), "high": round(float(high), 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--fewer", action="store_true", help="also the fewer-minority arm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = load_search_space("default").base_config()
    arms = ["bicubic", "oracle"] + (["fewer"] if args.fewer else [])
    scores: dict[str, list[float]] = {arm: [] for arm in arms}
    epochs: dict[str, list[list[int]]] = {arm: [] for arm in arms}
    start = time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        for arm in arms:
            cfg = base.replace(**ARMS[arm], seed=seed, **{"data.split_seed": seed})
            data = load_data("embedded", cfg.data)
            data = _fewer(data, seed) if arm == "fewer" else data
            m = evaluate_trial(cfg, data, use_cache=False, baseline=False, num_threads=1).metrics
            scores[arm].append(round(float(m[results.MINORITY_F1]), 4))
            epochs[arm].append([m[results.BEST_EPOCH], m[results.STOPPED_EPOCH]])
    oracle = paired(scores["bicubic"], scores["oracle"])
    figures = {
        "oracle_minus_bicubic": oracle,
        "minority_f1": scores,
        "best_and_stopped_epoch": epochs,
        "max_epochs": base.classifier.epochs,
        "seconds": round(time.perf_counter() - start, 1),
    }
    if args.fewer:
        figures["bicubic_minus_fewer"] = paired(scores["fewer"], scores["bicubic"])
    finish("oracle_headroom", ratio=oracle["low"], goal=0.0, **figures)


if __name__ == "__main__":
    main()
