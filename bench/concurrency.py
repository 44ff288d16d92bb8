"""Benchmark: two concurrent trials on a 2-core machine reach >= 1.6x the throughput of one.

The same batch of baseline trials (no GANs: the classifier dominates) runs through the sweep's own
trainable on a local Ray twice: one trial at a time holding both CPUs (torch uses 2 threads), then
two at a time with one CPU each (1 thread each, as ``galaxybench.sweep.ray_backend`` sets).
Throughput is
trials per second; the ratio is concurrent over sequential, measured in the same process in
ABBA order (each setting's time is the mean of two runs).

Usage: ``python bench/concurrency.py [--trials 4] [--out reports/bench/concurrency.json]``;
the last line printed is JSON with ``bench``, ``ratio`` and ``goal``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, short-lived local Ray

import ray
from ray import tune

from galaxybench import results
from galaxybench.config import load_profile, to_flat
from galaxybench.data import load_data
from galaxybench.sweep.ray_backend import trainable
from galaxybench.trial import evaluate_trial

GOAL = 1.6
OVERRIDES = ["classifier.epochs=3", "metrics.enabled=false"]


def _batch(data, flats: list[dict], cpus: int, concurrent: int, storage: str) -> float:
    """Wall seconds to run every flat config with ``concurrent`` trials of ``cpus`` CPUs."""
    wrapped = tune.with_resources(
        tune.with_parameters(
            trainable,
            data=data,
            trial_fn=partial(evaluate_trial, baseline=False),
            cache_dir=None,
            cpus=cpus,
            gpus=0,
        ),
        {"cpu": cpus},
    )
    tuner = tune.Tuner(
        wrapped,
        param_space={
            "seed": tune.grid_search([f["seed"] for f in flats]),
            **{k: v for k, v in flats[0].items() if k != "seed"},
        },
        tune_config=tune.TuneConfig(
            metric=results.OBJECTIVE, mode=results.MODE, max_concurrent_trials=concurrent
        ),
        run_config=tune.RunConfig(name=f"c{concurrent}", storage_path=storage, verbose=0),
    )
    started = time.perf_counter()
    grid = tuner.fit()
    seconds = time.perf_counter() - started
    assert not grid.errors, grid.errors
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--out", default="reports/bench/concurrency.json")
    args = parser.parse_args()
    cfg = load_profile("default", OVERRIDES)
    data = load_data(None, cfg.data)
    flats = [{**to_flat(cfg), "seed": s} for s in range(args.trials)]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # ABBA order: Ray's first-run start-up costs and load drift fall on both settings.
            runs = [(2, 1), (1, 2), (1, 2), (2, 1)]
            times = [
                _batch(data, flats, cpus=c, concurrent=n, storage=f"{tmp}/{i}")
                for i, (c, n) in enumerate(runs)
            ]
            one, two = (times[0] + times[3]) / 2, (times[1] + times[2]) / 2
    finally:
        ray.shutdown()
    ratio = one / two  # throughput ratio = inverse time ratio for the same batch
    result = {
        "bench": "concurrency",
        "trials": args.trials,
        "cores": os.cpu_count(),
        "seconds_one_at_a_time": round(one, 2),
        "seconds_two_at_a_time": round(two, 2),
        "trials_per_hour_one": round(3600 * args.trials / one, 1),
        "trials_per_hour_two": round(3600 * args.trials / two, 1),
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "met": ratio >= GOAL,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.trials} trials: {one:.1f} s one at a time (2 threads), {two:.1f} s two at a "
        f"time (1 thread each): {ratio:.2f}x throughput"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
