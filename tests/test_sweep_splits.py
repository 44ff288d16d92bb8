"""One prepared dataset per split seed: fresh stratified splits, shared image arrays.

Usage: ``pytest tests/test_sweep_splits.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import write_galaxy10_h5

from galaxybench.config import DataConfig
from galaxybench.errors import InputError
from galaxybench.sweep.splits import datasets_by_split

COUNTS = (24, 16, 30, 26, 8, 26, 16, 28, 14, 16)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from galaxybench.data import prepare

    path = write_galaxy10_h5(tmp_path_factory.mktemp("splits") / "tiny.h5", counts=COUNTS)
    return prepare(path, DataConfig(hr_size=16, split_seed=0))


def test_each_split_seed_draws_its_own_stratified_split(prepared):
    cfg = DataConfig(hr_size=16, split_seed=0)
    out = datasets_by_split(None, cfg, (1, 2, 3), data=prepared)
    assert list(out) == [0, 1, 2, 3] and out[0] is prepared  # the search's split as given
    tests = [tuple(out[s].splits["test"]) for s in out]
    assert len(set(tests)) == 4  # four different test sets
    assert len({out[s].fingerprint for s in out}) == 4  # the stage cache keys them apart
    for s, d in out.items():
        parts = [set(d.splits[k].tolist()) for k in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert set().union(*parts) == set(range(len(d.labels)))
        # Stratified: every class in every split, the same split sizes as the base split.
        for k in ("train", "val", "test"):
            assert (np.bincount(d.labels[d.splits[k]], minlength=10) > 0).all(), (s, k)
            assert len(d.splits[k]) == len(prepared.splits[k])
        # One copy of the images: the same arrays, only the index lists differ.
        assert d.hr is prepared.hr and d.lr is prepared.lr and d.labels is prepared.labels
    # Drawn with the settings the data were prepared with, the seed aside.
    from galaxybench.data import prepare

    again = prepare(prepared.source, dataclasses.replace(cfg, split_seed=2))
    assert all(np.array_equal(again.splits[k], out[2].splits[k]) for k in again.splits)


def test_a_given_dict_must_hold_every_split(prepared):
    cfg = DataConfig(hr_size=16, split_seed=0)
    assert datasets_by_split(None, cfg, (0,), data={0: prepared}) == {0: prepared}
    with pytest.raises(InputError, match=r"split seeds \[1\]"):
        datasets_by_split(None, cfg, (0, 1), data={0: prepared})
