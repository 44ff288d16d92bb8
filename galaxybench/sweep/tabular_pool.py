"""The runner of a tabular benchmark: each configuration climbs the ladder through
``evaluate_trial``, in this process or in a pool of spawned workers that load the data once.

Usage::

    records = _climb_all(flats, (0.5, 1.0), "cache/", data, workers=1, worker_args=(),
                         progress=None)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from galaxybench import config, results
from galaxybench.signals import die_with_parent, terminate_workers
from galaxybench.sweep.tabular_table import TEST_METRICS

_WORKER: dict[str, Any] = {}


def _init_worker(data_source: str | None, data_cfg: Any, threads: int) -> None:
    """A pool worker loads the data once (the parent's arrays are not pickled per task)."""
    from galaxybench.data import load_data

    die_with_parent()  # no worker outlives the command, however it ends

    _WORKER.update(data=load_data(data_source, data_cfg), threads=threads)


def _climb_config(
    cfg_flat: dict[str, Any],
    ladder: tuple[float, ...],
    cache_dir: str,
    data: Any = None,
    threads: int = 1,
) -> list[dict[str, Any]]:
    """One configuration up every rung (stopping at a diverged rung): its raw rung records."""
    from galaxybench.trial import evaluate_trial

    data = data if data is not None else _WORKER["data"]
    threads = threads if data is not None else _WORKER.get("threads", 1)
    cfg = config.from_flat(cfg_flat)
    out = []
    for r, fraction in enumerate(ladder):
        started = time.perf_counter()
        res = evaluate_trial(
            cfg,
            data,
            cache_dir=cache_dir,
            num_threads=threads,
            device="cpu",
            budget_fraction=fraction,
        )
        m = res.metrics
        out.append(
            {
                "rung": r + 1,
                "budget_fraction": fraction,
                results.STATUS: res.status,
                "metrics": {k: m.get(k) for k in (results.OBJECTIVE, *TEST_METRICS)},
                "compute": m.get(results.COMPUTE_SECONDS, {}),
                "gan_epochs": m.get(results.GAN_EPOCHS, {}),
                "gan_epochs_trained": m.get(results.GAN_EPOCHS_TRAINED, 0),
                "measured": round(time.perf_counter() - started, 3),
            }
        )
        if not res.ok:
            break
    return out


def _train_baseline(base: dict[str, Any], data: Any, cache_dir: str | Path) -> None:
    """The baseline (for the test delta) is trained once, here, before any timed configuration."""
    from galaxybench.protocol import baseline_config
    from galaxybench.trial import evaluate_trial

    evaluate_trial(
        baseline_config(config.from_flat(base)),
        data,
        cache_dir=str(cache_dir),
        num_threads=1,
        device="cpu",
    )


def _climb_all(
    flats: list[dict[str, Any]],
    ladder: tuple[float, ...],
    cache_dir: str,
    data: Any,
    *,
    workers: int,
    worker_args: tuple[Any, ...],
    progress: Callable[[int, int], None] | None,
) -> list[list[dict[str, Any]]]:
    """Every configuration's climb, in order: in this process, or in ``workers`` spawned ones
    (each initialised with ``worker_args``)."""
    records: list[list[dict[str, Any]]] = []
    if workers <= 1:
        for i, flat in enumerate(flats):
            records.append(_climb_config(flat, ladder, cache_dir, data=data))
            if progress:
                progress(i + 1, len(flats))
        return records
    import multiprocessing

    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=worker_args,
    ) as pool:
        futures = [pool.submit(_climb_config, f, ladder, cache_dir) for f in flats]
        try:
            for i, fut in enumerate(futures):
                records.append(fut.result())
                if progress:
                    progress(i + 1, len(flats))
        except BaseException:  # Ctrl-C or SIGTERM: stop now, not after the queued configs
            terminate_workers(pool)
            raise
    return records
