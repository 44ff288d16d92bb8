"""A damaged stage-cache entry is deleted and rebuilt, never fatal (truncated, bad bytes, empty).

Usage: ``pytest tests/test_cache_healing.py``.
"""

from __future__ import annotations

import logging

import pytest
import torch

from galaxybench.cache import StageCache, load_weights, save_weights

DAMAGE = {
    "truncated": lambda b: b[: len(b) // 2],
    "bad bytes": lambda b: b[:64] + bytes(x ^ 0xFF for x in b[64:200]) + b[200:],
    "empty": lambda b: b"",
}


def _damage(folder, how: str) -> None:
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != "entry.json"]
    assert files, f"nothing to damage in {folder}"
    for path in files:
        path.write_bytes(DAMAGE[how](path.read_bytes()))


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_damaged_weights_entry_is_rebuilt(tmp_path, caplog, how):
    cache = StageCache(tmp_path)
    builds = []

    def build():
        builds.append(1)
        return {"w": torch.arange(64, dtype=torch.float32)}

    parts = {"seed": 0}
    first, hit = cache.get_or_create(
        "upscale_x", parts, build=build, save=save_weights, load=load_weights
    )
    assert not hit and len(builds) == 1
    (folder,) = [p for p in (tmp_path / "upscale_x").iterdir() if p.is_dir()]
    _damage(folder, how)
    with caplog.at_level(logging.WARNING, logger="galaxybench.cache"):
        again, hit = cache.get_or_create(
            "upscale_x", parts, build=build, save=save_weights, load=load_weights
        )
    assert not hit and len(builds) == 2  # rebuilt, not raised
    assert torch.equal(again["w"], first["w"])
    assert sum("damaged entry" in r.getMessage() for r in caplog.records) == 1
    third, hit = cache.get_or_create(
        "upscale_x", parts, build=build, save=save_weights, load=load_weights
    )
    assert hit and len(builds) == 2  # the rebuilt entry is good
    assert torch.equal(third["w"], first["w"])


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_damaged_checkpoint_is_dropped_and_training_restarts(tmp_path, how):
    cache = StageCache(tmp_path)
    calls = []

    def build(state, start, epochs):
        calls.append(start)
        value = 0 if state is None else int(state["epochs"].item())
        assert value == start
        return {"epochs": torch.tensor(epochs)}

    parts = {"seed": 1}
    cache.get_or_continue("rebalance_x", parts, epochs=2, build=lambda s, e: build(s, e, 2))
    (folder,) = [p for p in (tmp_path / "rebalance_x").iterdir() if p.is_dir()]
    _damage(folder, how)
    state, start = cache.get_or_continue(
        "rebalance_x", parts, epochs=6, build=lambda s, e: build(s, e, 6)
    )
    assert start == 0 and calls == [0, 0]  # the damaged epoch-2 checkpoint was not continued
    assert int(state["epochs"].item()) == 6
    again, start = cache.get_or_continue(
        "rebalance_x", parts, epochs=6, build=lambda s, e: build(s, e, 6)
    )
    assert start == 6 and calls == [0, 0]  # exact hit
    assert int(again["epochs"].item()) == 6
