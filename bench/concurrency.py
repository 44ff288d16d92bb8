"""Benchmark: two concurrent trials on a 2-core machine reach >= 1.6x the throughput of one.

The same batch of baseline trials (no GANs: the classifier dominates) runs through the sweep's own
trainable on a local Ray twice: one trial at a time holding both CPUs (torch uses 2 threads), then
two at a time with one CPU each (1 thread each, as ``galaxybench.sweep.ray_backend`` sets).
Throughput is
trials per second; the ratio is concurrent over sequential, measured in the same process in
ABBA order (each setting's time is the mean of two runs).

Usage: ``python bench/concurrency.py [--trials 4] [--smoke]``; writes reports/bench/concurrency.json
and the last line printed is JSON with ``bench``, ``ratio`` and ``goal``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from functools import partial

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, short-lived local Ray

import ray
from _common import add_smoke_flag, finish, smoke_data_path
from ray import tune

from galaxybench import results
from galaxybench.config import load_profile, to_flat
from galaxybench.data import load_data
from galaxybench.sweep.ray_backend import trainable
from galaxybench.trial import evaluate_trial

GOAL = 1.6
OVERRIDES = ["classifier.epochs=3", "metrics.enabled=false"]
SMOKE_OVERRIDES = ["classifier.epochs=1", "metrics.enabled=false"]


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
            # The trainable's per-epoch reports carry the objective under its step name only.
            metric=results.VAL_OBJECTIVE_STEP,
            mode=results.MODE,
            max_concurrent_trials=concurrent,
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
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.trials = 2
    cfg = load_profile(*(("smoke", SMOKE_OVERRIDES) if args.smoke else ("default", OVERRIDES)))
    data = load_data(str(smoke_data_path()) if args.smoke else None, cfg.data)
    flats = [{**to_flat(cfg), "seed": s} for s in range(args.trials)]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # ABBA order: Ray's first-run start-up costs and load drift fall on both settings.
            # A smoke run stops after AB: it checks that the sweep's trainable still runs.
            runs = [(2, 1), (1, 2)] + ([] if args.smoke else [(1, 2), (2, 1)])
            times = [
                _batch(data, flats, cpus=c, concurrent=n, storage=f"{tmp}/{i}")
                for i, (c, n) in enumerate(runs)
            ]
            one, two = (times[0] + times[-1]) / 2, (times[1] + times[-2]) / 2
    finally:
        ray.shutdown()
    ratio = one / two  # throughput ratio = inverse time ratio for the same batch
    print(
        f"{args.trials} trials: {one:.1f} s one at a time (2 threads), {two:.1f} s two at a "
        f"time (1 thread each): {ratio:.2f}x throughput"
    )
    finish(
        "concurrency",
        ratio=ratio,
        goal=GOAL,
        smoke=args.smoke,
        trials=args.trials,
        cores=os.cpu_count(),
        seconds_one_at_a_time=round(one, 2),
        seconds_two_at_a_time=round(two, 2),
        trials_per_hour_one=round(3600 * args.trials / one, 1),
        trials_per_hour_two=round(3600 * args.trials / two, 1),
        met=ratio >= GOAL,
        load_average_1min=round(os.getloadavg()[0], 2),
    )


if __name__ == "__main__":
    main()
