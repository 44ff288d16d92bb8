"""Benchmark: on the embedded data both positive controls fire (the oracle upscaler and the oracle
rebalancer beat the baseline by a resolved margin of test minority F1).

The default space's base config, made the baseline (``protocol.baseline_config``: bicubic, no
rebalancing, plain CE), trains the classifier on each confirmation seed's own split
(``data.split_seed = seed``); the two controls run as ``galaxybench validate`` runs them: true HR
in place of bicubic upscales (``upscale.method: oracle``) and the withheld real minority images
(the reserve) added back at the base config's threshold and target (``rebalance.method:
oracle``). The figures are the paired differences of test minority F1 (control - baseline) with
their 95 % t-intervals (scipy.stats.t, n - 1 degrees of freedom); ``ratio`` is the lower end of
the weaker interval and ``goal`` 0: both controls fire when it lies above 0.

Measured on the embedded v8 set (CPU, one thread; test minority F1, n = 5, 95 % t):

    seeds 1-5 (the confirmation seeds; reports/bench/oracle_controls.json, and the same from
    ``galaxybench validate``): oracle upscaler +0.253 [+0.098, +0.408], oracle rebalancer
    +0.100 [+0.059, +0.142];
    seeds 6-10 (a check, not the protocol's seeds): oracle upscaler +0.245 [+0.051, +0.440],
    oracle rebalancer +0.032 [-0.154, +0.218].

The oracle upscaler's effect is large; the oracle rebalancer's (about +0.06 over the ten seeds) is
near the noise floor of one training run (``validate``'s baseline on another seed: MDE about
+0.21 at n = 5), so whether it resolves at n = 5 depends on the seeds.

Usage: ``python bench/oracle_controls.py [--seeds 1,2,3,4,5] [--data PATH] [--smoke]``; the last
line printed is JSON with ``bench``, ``ratio`` and ``goal``. ``--smoke`` trains one epoch on two
seeds of the tiny synthetic smoke file at HR 16 (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import add_smoke_flag, finish, smoke_data_path
from scipy import stats

from galaxybench import protocol, results
from galaxybench.data import load_data
from galaxybench.sweep.space import load_search_space
from galaxybench.trial import evaluate_trial

ARMS = {
    "baseline": {},
    "oracle": {"upscale.method": "oracle"},
    "oracle_rebalancer": dict(protocol.ORACLE_REBALANCER),
}


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    """Mean of b - a with its 95 % t-interval (n - 1 degrees of freedom)."""
    d = np.asarray(b) - np.asarray(a)
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(d.size))
    low, high = stats.t.interval(0.95, d.size - 1, loc=mean, scale=se) if se > 0 else (mean, mean)
    return {"mean": round(mean, 4), "low": round(float(low), 4), "high": round(float(high), 4)}


def _minority_f1s(m: dict) -> dict[str, float]:
    """Test F1 of each scoring-minority class, from the confusion matrix (rows: true class)."""
    cm = np.asarray(m[results.CONFUSION_MATRIX], dtype=np.float64)
    out = {}
    for name in m[results.MINORITY_CLASSES]:
        k = list(m[results.CLASS_NAMES]).index(name)
        tp, denom = cm[k, k], cm[k].sum() + cm[:, k].sum()
        out[name] = round(float(2 * tp / denom), 3) if denom else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--data", default="embedded", help="a Galaxy10-format file or 'embedded'")
    add_smoke_flag(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = protocol.baseline_config(load_search_space("default").base_config())
    seeds = [int(s) for s in args.seeds.split(",")]
    if len(seeds) < 2:
        parser.error("--seeds needs at least two seeds for a t-interval")
    data_name = args.data
    if args.smoke:
        data_name = str(smoke_data_path())
        base = base.replace(**{"data.hr_size": 16, "classifier.epochs": 1})
        seeds = seeds[:2]
    scores: dict[str, list[float]] = {arm: [] for arm in ARMS}
    seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
    per_class: dict[str, list[dict[str, float]]] = {arm: [] for arm in ARMS}
    start = time.perf_counter()
    for seed in seeds:
        for arm, change in ARMS.items():
            cfg = base.replace(**change, seed=seed, **{"data.split_seed": seed})
            data = load_data(data_name, cfg.data)
            t0 = time.perf_counter()
            m = evaluate_trial(cfg, data, use_cache=False, baseline=False, num_threads=1).metrics
            seconds[arm].append(round(time.perf_counter() - t0, 1))
            scores[arm].append(round(float(m[results.MINORITY_F1]), 4))
            per_class[arm].append(_minority_f1s(m))
            print(seed, arm, scores[arm][-1], per_class[arm][-1], seconds[arm][-1], flush=True)
    oracle = paired(scores["baseline"], scores["oracle"])
    rebalancer = paired(scores["baseline"], scores["oracle_rebalancer"])
    figures = {
        "oracle_minus_baseline": oracle,
        "oracle_rebalancer_minus_baseline": rebalancer,
        "minority_f1": scores,
        "minority_f1_per_class": per_class,
        "trial_seconds": seconds,
        "seeds": seeds,
        "reserve_fraction": protocol.RESERVE_FRACTION,
        "seconds": round(time.perf_counter() - start, 1),
    }
    ratio = min(oracle["low"], rebalancer["low"])
    finish("oracle_controls", ratio=ratio, goal=0.0, smoke=args.smoke, **figures)


if __name__ == "__main__":
    main()
