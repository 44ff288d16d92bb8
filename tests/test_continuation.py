"""Budget ladder: a GAN continued across rungs equals one uninterrupted run, bit for bit (CPU).

Also the stage cache's continuation (largest cached epoch count below the target is resumed) and
the rounding of a rung's epochs.

Usage: ``pytest tests/test_continuation.py``
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

from galaxybench import budget
from galaxybench.cache import StageCache
from galaxybench.config import CganConfig, Config, SrganConfig
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import ConfigError
from galaxybench.registry import REBALANCERS, UPSCALERS

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors; also one reduction order for bit equality
    yield
    torch.set_num_threads(before)


def _split(n: int = 48, side: int = 8, seed: int = 0) -> SplitArrays:
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, (n, 3, 2 * side, 2 * side), dtype=np.uint8)
    lr = hr.reshape(n, 3, side, 2, side, 2).mean(axis=(3, 5)).round().astype(np.uint8)
    labels = np.arange(n, dtype=np.int64) % 3
    return SplitArrays(lr, hr, labels, np.arange(n, dtype=np.int64))


def _round_trip(state: dict[str, Any]) -> dict[str, Any]:
    """Through torch.save/load(weights_only=True), as the stage cache stores checkpoints."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _assert_identical(a: Any, b: Any, where: str = "") -> None:
    """Every tensor torch.equal, every other leaf ==, the same keys (recursively)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_identical(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _tensors(state: dict[str, Any]) -> int:
    return sum(isinstance(v, torch.Tensor) for v in state["gen"].values())


def test_srgan_continued_across_rungs_equals_one_run():
    # 2 pretrain + 2 adversarial epochs; rungs stop at positions 1 (mid pretrain) and 3
    # (mid adversarial), so both phases and the phase boundary are crossed by a continuation.
    cfg = Config(
        srgan=SrganConfig(
            depth=1, channels=8, pretrain_epochs=2, epochs=2, batch_size=16, lr=1.0e-3
        )
    )
    train = _split()
    up = UPSCALERS.get("srgan")()
    one = up.train_to(cfg, train, None, 4, seed=5, device=CPU)
    state = None
    for target in (1, 3, 4):
        state = _round_trip(up.train_to(cfg, train, state, target, seed=5, device=CPU))
    assert state["epochs"] == one["epochs"] == 4 and _tensors(one) > 4
    _assert_identical(one, state, "srgan")
    _assert_identical(
        up.weights_of(one), UPSCALERS.get("srgan")().fit(cfg, train, seed=5, device=CPU)
    )
    # A different split point must still differ from a different seed (the test can fail).
    other = up.train_to(cfg, train, None, 4, seed=6, device=CPU)
    assert not torch.equal(next(iter(other["gen"].values())), next(iter(one["gen"].values())))


def test_cgan_continued_across_rungs_equals_one_run():
    cfg = Config(cgan=CganConfig(epochs=5, batch_size=16, latent_dim=8, width=8, lr=2.0e-4))
    train = _split()
    gan = REBALANCERS.get("cgan")()
    one = gan.train_to(cfg, train, [0, 1, 2], None, 5, seed=7, device=CPU)
    state = None
    for target in (1, 2, 5):
        state = _round_trip(gan.train_to(cfg, train, [0, 1, 2], state, target, seed=7, device=CPU))
    assert len(one["history"]) == 5
    _assert_identical(one, state, "cgan")  # training state, optimizers, RNGs, weights
    fitted = gan.fit(cfg, train, [0, 1, 2], seed=7, device=CPU)
    _assert_identical(gan.weights_of(one), fitted)


def test_cache_continues_from_the_largest_shorter_checkpoint(tmp_path):
    cache = StageCache(tmp_path)
    calls: list[tuple[int, int]] = []

    def build_to(target: int):
        def build(state, start):
            assert (state or {"epochs": 0})["epochs"] == start
            calls.append((start, target))
            return {"epochs": target, "w": torch.full((2,), float(target))}

        return build

    parts = {"stage_cfg": {"lr": 0.1}}
    for target in (1, 3):
        cache.get_or_continue("gan", parts, epochs=target, build=build_to(target))
    state, start = cache.get_or_continue("gan", parts, epochs=9, build=build_to(9))
    assert start == 3 and calls == [(0, 1), (1, 3), (3, 9)]
    state, start = cache.get_or_continue("gan", parts, epochs=9, build=build_to(9))
    assert start == 9 and len(calls) == 3 and torch.equal(state["w"], torch.full((2,), 9.0))
    # A shorter target never resumes from a longer checkpoint: trained from 3, not from 9.
    cache.get_or_continue("gan", parts, epochs=5, build=build_to(5))
    assert calls[-1] == (3, 5)
    # Another config shares nothing.
    cache.get_or_continue("gan", {"stage_cfg": {"lr": 0.2}}, epochs=9, build=build_to(9))
    assert calls[-1] == (0, 9)


def test_rung_epochs_round_up_and_the_ladder_is_checked():
    assert budget.make_ladder(3, 3) == pytest.approx((1 / 9, 1 / 3, 1.0))
    assert [budget.epochs_at(30, f) for f in budget.make_ladder(3, 3)] == [4, 10, 30]
    assert [budget.epochs_at(9, f) for f in budget.make_ladder(3, 3)] == [1, 3, 9]  # exact
    assert budget.epochs_at(2, 0.01) == 1 and budget.epochs_at(0, 0.5) == 0
    assert budget.epochs_at(4, 1.0) == 4
    assert budget.check_ladder([0.25, 0.5, 1]) == (0.25, 0.5, 1.0)
    for bad in ([0.5], [0.5, 0.25, 1.0], [0, 1.0], [1.5], []):
        with pytest.raises(ConfigError):
            budget.check_ladder(bad)
    assert budget.budget_units((1 / 9, 1 / 3, 1.0), 2) == 9.0


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import write_galaxy10_h5

    from galaxybench.config import DataConfig
    from galaxybench.data import prepare

    folder = tmp_path_factory.mktemp("data")
    path = write_galaxy10_h5(folder / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    return prepare(path, DataConfig(hr_size=16))


def test_trial_promoted_through_rungs_pays_only_the_increment(tiny_data, tmp_path):
    from galaxybench import results
    from galaxybench.config import from_flat, load_profile
    from galaxybench.trial import evaluate_trial

    cfg = from_flat(
        {
            "upscale.method": "srgan",
            "rebalance.method": "cgan",
            "srgan.pretrain_epochs": 1,
            "srgan.epochs": 2,
            "cgan.epochs": 3,
            "classifier.epochs": 3,
        },
        load_profile("smoke"),
    )
    cache = tmp_path / "cache"
    low = evaluate_trial(cfg, tiny_data, cache_dir=cache, baseline=False, budget_fraction=1 / 3)
    assert (
        low.ok and results.MINORITY_F1 not in low.metrics
    )  # no test metrics below the full budget
    assert results.OBJECTIVE in low.metrics and len(low.history) == 1  # ceil(3/3) classifier epochs
    assert {k: (v["start"], v["reached"]) for k, v in low.metrics[results.GAN_EPOCHS].items()} == {
        "srgan": (0, 1),
        "cgan": (0, 1),
    }
    high = evaluate_trial(cfg, tiny_data, cache_dir=cache, baseline=False)
    assert {k: (v["start"], v["reached"]) for k, v in high.metrics[results.GAN_EPOCHS].items()} == {
        "srgan": (1, 3),
        "cgan": (1, 3),
    }
    assert high.metrics[results.GAN_EPOCHS_TRAINED] == 4 and set(
        high.metrics[results.COMPUTE_SECONDS]
    ) == {"srgan", "cgan", "classifier", "other"}
    # The promoted trial scores exactly what a fresh full-budget run scores.
    fresh = evaluate_trial(cfg, tiny_data, cache_dir=tmp_path / "fresh", baseline=False)
    assert fresh.metrics[results.GAN_EPOCHS_TRAINED] == 6
    assert high.predictions == fresh.predictions and high.history == fresh.history
    again = evaluate_trial(cfg, tiny_data, cache_dir=cache, baseline=False)
    assert again.metrics[results.GAN_EPOCHS_TRAINED] == 0
    assert "srgan" not in again.metrics[results.COMPUTE_SECONDS]  # cache hits cost nothing


def test_search_space_reads_a_ladder_or_rungs():
    from galaxybench.sweep.space import parse_search_space

    base = {
        "base": {"profile": "smoke", "set": {"upscale.method": "srgan"}},
        "params": {"srgan.depth": {"grid": [1, 2]}},
    }
    space = parse_search_space({**base, "search": {"ladder": [0.25, 0.5, 1.0]}})
    assert space.search.ladder == (0.25, 0.5, 1.0)
    assert parse_search_space(space.to_dict()).search.ladder == (0.25, 0.5, 1.0)  # sweep.yaml
    rungs = parse_search_space({**base, "search": {"rungs": 3, "reduction_factor": 3}})
    assert rungs.search.ladder == pytest.approx((1 / 9, 1 / 3, 1.0))
    assert parse_search_space(base).search.ladder == ()
    for bad in ({"ladder": [0.5]}, {"ladder": [0.5, 1.0], "rungs": 2}, {"rungs": 0}):
        with pytest.raises(ConfigError):
            parse_search_space({**base, "search": bad})


def test_compute_summary_counts_rungs_and_the_exhaustive_cost_by_hand():
    from galaxybench import results
    from galaxybench.sweep.plan import compute_summary

    def rung(fraction, compute, gans):
        return {
            results.BUDGET_FRACTION: fraction,
            results.COMPUTE_SECONDS: compute,
            results.GAN_EPOCHS_TRAINED: sum(r - s for _, s, r, _ in gans),
            results.GAN_EPOCHS: {
                st: {"key": k, "start": s, "reached": r, "full": f} for (st, k), s, r, f in gans
            },
        }

    # Trial A climbs both rungs of a 1/3 ladder; trial B (same SRGAN, another cGAN) is pruned.
    a = {
        results.RUNGS: [
            rung(
                1 / 3,
                {"srgan": 2.0, "cgan": 1.0, "classifier": 0.5, "other": 0.5},
                [(("srgan", "s"), 0, 1, 3), (("cgan", "c1"), 0, 2, 6)],
            ),
            rung(
                1.0,
                {"srgan": 4.0, "cgan": 2.0, "classifier": 1.0, "other": 1.0},
                [(("srgan", "s"), 1, 3, 3), (("cgan", "c1"), 2, 6, 6)],
            ),
        ]
    }
    b = {
        results.RUNGS: [
            rung(
                1 / 3,
                {"cgan": 1.0, "classifier": 0.5, "other": 0.5},
                [(("srgan", "s"), 1, 1, 3), (("cgan", "c2"), 0, 2, 6)],
            )
        ]
    }
    out = compute_summary([a, b, {"status": "failed"}])
    assert out[results.COMPUTE_SECONDS] == {
        "srgan": 6.0,
        "cgan": 4.0,
        "classifier": 2.0,
        "other": 2.0,
    }
    assert out[results.COMPUTE_SECONDS_TOTAL] == 14.0
    assert out[results.GAN_EPOCHS_TRAINED] == 3 + 6 + 2  # srgan 1+2, cgan 2+4, cgan2 2
    assert out["gan_epochs_full_budget"] == 3 + 6 + 6 and out["gan_epochs_saved"] == 4
    # srgan 6 s / 3 epochs, cgan 4 s / 8 epochs; one full pass (classifier + other) = 2 s.
    assert out["gan_seconds_per_epoch"] == {"srgan": 2.0, "cgan": 0.5}
    assert out["exhaustive_full_budget_seconds"] == pytest.approx(3 * 2.0 + 12 * 0.5 + 3 * 2.0)


def test_a_low_rung_checkpoint_is_checked_for_collapse_when_used_at_full_budget():
    cfg = Config(cgan=CganConfig(epochs=2, batch_size=16, latent_dim=8, width=8, lr=2.0e-4))
    gan = REBALANCERS.get("cgan")()
    low = gan.train_to(cfg, _split(), [0, 1, 2], None, 1, seed=7, device=CPU, check_collapse=False)
    assert low["collapse_checked"] is False
    again = gan.train_to(cfg, _split(), [0, 1, 2], _round_trip(low), 1, seed=7, device=CPU)
    assert again["collapse_checked"] is True and len(again["history"]) == 1  # no epoch added
    _assert_identical(again["weights"], low["weights"])
