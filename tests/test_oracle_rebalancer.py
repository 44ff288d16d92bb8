"""The reserve and the oracle rebalancer: withheld from every row, counts = min(plan, reserve)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import load_profile
from galaxybench.data.preparation import prepare
from galaxybench.protocol import RESERVE_FRACTION, RESERVE_SPLIT, minority_classes
from galaxybench.stages.rebalance_plan import plan_counts
from galaxybench.trial import evaluate, evaluate_trial
from galaxybench.trial.reserve import withhold_reserve

COUNTS = (40, 40, 36, 30, 10, 34, 28, 24, 14, 12)
ROWS = {  # every kind of row of a sweep: baseline, classical, GAN, oracle upscaler, oracle
    "baseline": [],
    "oversample": ["rebalance.method=oversample"],
    "weighted_ce": ["classifier.loss=weighted_ce"],
    "cgan": ["rebalance.method=cgan"],
    "srgan": ["upscale.method=srgan"],
    "oracle upscaler": ["upscale.method=oracle"],
    "oracle rebalancer": ["rebalance.method=oracle"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = write_galaxy10_h5(tmp_path_factory.mktemp("d") / "g.h5", counts=COUNTS, size=32)
    return prepare(path, load_profile("smoke").data, use_cache=False)


def _minority(data) -> list[int]:
    return minority_classes(np.bincount(data.labels), load_profile("smoke").eval.minority_fraction)


def test_reserve_is_a_quarter_of_each_minority_class_drawn_from_train(data) -> None:
    minority = _minority(data)
    held = withhold_reserve(data, minority, split_seed=3)
    train, reserve = held.splits["train"], held.splits[RESERVE_SPLIT]
    assert not set(train.tolist()) & set(reserve.tolist())
    assert sorted([*train.tolist(), *reserve.tolist()]) == sorted(data.splits["train"].tolist())
    before = np.bincount(data.labels[data.splits["train"]], minlength=10)
    got = np.bincount(data.labels[reserve], minlength=10)
    want = [
        int(np.floor(RESERVE_FRACTION * n)) if c in minority else 0 for c, n in enumerate(before)
    ]
    assert got.tolist() == want and sum(want) > 0
    # same split seed, same reserve; another split seed draws another one
    assert np.array_equal(withhold_reserve(data, minority, 3).splits[RESERVE_SPLIT], reserve)
    assert not np.array_equal(withhold_reserve(data, minority, 4).splits[RESERVE_SPLIT], reserve)
    assert withhold_reserve(held, minority, 3) is held  # never withheld twice


def test_reserve_never_reaches_another_rows_training(data, tmp_path, monkeypatch) -> None:
    seen: dict[str, dict[str, np.ndarray]] = {}
    check = evaluate.check_reserve_withheld

    def spy(held, consumed, allowed):
        seen[row] = {k: np.asarray(v).copy() for k, v in consumed.items()}
        seen[row][RESERVE_SPLIT] = held.splits[RESERVE_SPLIT]
        check(held, consumed, allowed)

    monkeypatch.setattr(evaluate, "check_reserve_withheld", spy)
    for row, overrides in ROWS.items():
        cfg = load_profile("smoke", ["cgan.epochs=1", *overrides])
        result = evaluate_trial(cfg, data, cache_dir=tmp_path, baseline=False)
        assert result.ok, (row, result.reason)
    for row, consumed in seen.items():
        reserve = set(consumed.pop(RESERVE_SPLIT).tolist())
        assert reserve, row
        uses = {k: v for k, v in consumed.items() if k != evaluate.RESERVE_USE}
        assert "classifier_train" in uses, row
        for stage, index in uses.items():  # indices, not counts
            assert not reserve & set(index.tolist()), (row, stage)
    # only the oracle rebalancer read the reserve, and only the reserve
    readers = [row for row, c in seen.items() if evaluate.RESERVE_USE in c]
    assert readers == ["oracle rebalancer"]


def test_oracle_rebalancer_adds_min_of_plan_and_reserve(data, tmp_path) -> None:
    cfg = load_profile("smoke", ["rebalance.method=oracle"])
    result = evaluate_trial(cfg, data, cache_dir=tmp_path, baseline=False)
    m = result.metrics
    held = withhold_reserve(data, _minority(data), cfg.data.split_seed)
    counts = np.bincount(data.labels[held.splits["train"]], minlength=10)
    reserve = np.bincount(data.labels[held.splits[RESERVE_SPLIT]], minlength=10)
    plan = plan_counts(counts, cfg.rebalance.threshold, cfg.rebalance.target)
    names = data.class_names
    assert m[results.PLANNED_PER_CLASS] == {names[c]: n for c, n in plan.items()}
    want = {names[c]: min(n, int(reserve[c])) for c, n in plan.items() if min(n, reserve[c]) > 0}
    assert m[results.ADDED_PER_CLASS] == want and want
    assert any(plan[c] > reserve[c] for c in plan)  # the cap bites on this data
    assert m[results.N_SYNTHETIC] == sum(want.values())
    assert m[results.RESERVE_PER_CLASS] == {
        names[c]: int(reserve[c]) for c in np.flatnonzero(reserve)
    }


def test_the_trial_refuses_a_reserve_index_anywhere_but_the_oracles_use(data) -> None:
    from galaxybench.trial.reserve import check_reserve_withheld

    held = withhold_reserve(data, _minority(data), split_seed=3)
    reserve, train = held.splits[RESERVE_SPLIT], held.splits["train"]
    check_reserve_withheld(held, {"classifier_train": train, "mine": reserve}, allowed="mine")
    leaked = np.concatenate([train, reserve[:1]])
    with pytest.raises(AssertionError, match="1 reserve images reached classifier_train"):
        check_reserve_withheld(held, {"classifier_train": leaked}, allowed="mine")
