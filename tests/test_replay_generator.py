"""The replay draws Hyperband brackets from its own generator: the same draws as Ray's scheduler
after ``np.random.seed(seed)`` (what the replay did before), with NumPy's global generator never
seeded, restored or read.

Usage: ``pytest tests/test_replay_generator.py -q``
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from galaxybench.sweep.replay import bracket_generator, replay, table_scheduler
from galaxybench.sweep.tabular import Table, config_key


def _table(n: int = 24, seed: int = 0) -> Table:
    """n configurations of cgan.lr over a three-rung ladder with random objectives."""
    rng = np.random.default_rng(seed)
    ladder = [0.25, 0.5, 1.0]
    lrs = [1e-4 * (i + 1) for i in range(n)]
    rows = []
    for lr in lrs:
        objs = np.sort(rng.uniform(0.2, 0.8, size=3))
        for rung, (fraction, obj) in enumerate(zip(ladder, objs, strict=True), start=1):
            rows.append(
                {
                    "config_id": config_key({"cgan.lr": lr}),
                    "cgan.lr": lr,
                    "rung": rung,
                    "budget_fraction": fraction,
                    "status": "ok",
                    "val_objective": float(obj),
                    "minority_f1": float(obj) - 0.1,
                    "compute_srgan": 0.0,
                    "compute_cgan": 0.5,
                    "compute_classifier": 0.25,
                    "compute_other": 0.25,
                    "compute_seconds": 1.0,
                    "measured_seconds": 1.0,
                    "gan_epochs_trained": 1,
                }
            )
    from galaxybench.sweep.space import load_search_space

    meta = {
        "space": load_search_space("smoke").to_dict(),
        "space_source": "smoke.yaml",
        "ladder": ladder,
        "discretisation": {"cgan.lr": lrs},
    }
    return Table(rows, meta)


def test_the_bracket_generator_draws_what_the_seeded_global_generator_draws() -> None:
    p = np.array([0.6, 0.3, 0.1])
    for seed in (0, 7):
        rng, legacy = bracket_generator(seed), np.random.RandomState(seed)
        assert [rng.choice(3, p=p) for _ in range(50)] == [legacy.choice(3, p=p) for _ in range(50)]


@pytest.mark.parametrize("seed", [0, 3])
def test_hyperband_replay_equals_rays_scheduler_under_a_seeded_global_generator(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table()
    # The reference: Ray's own scheduler drawing from the global generator, seeded as before.
    stock = table_scheduler(table, "hyperband")
    assert len(stock._brackets) == 3
    np.random.seed(seed)
    want = replay(table, "random+hyperband", seed, workers=2, scheduler=stock)
    # The replay under test never seeds, restores or draws from the global generator.
    np.random.seed(12345)
    for name in ("seed", "set_state", "choice"):
        monkeypatch.setattr(np.random, name, _refuse(name))
    got = replay(table, "random+hyperband", seed, workers=2)
    assert got.events == want.events
    assert [e["action"] for e in got.events].count("stop") > 0


def _refuse(name: str) -> Callable[..., None]:
    def call(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the replay used np.random.{name}")

    return call
