"""One prepared dataset per split seed: the search's fixed split and each confirmation's own.

The search compares configurations on one fixed split (``data.split_seed`` of the base config).
Baseline and confirmation runs draw a fresh stratified split per confirmation seed
(``data.split_seed = seed``, the baseline paired on the same split and seed), so their intervals
cover test-set sampling as well as training noise (``docs/protocol.md``). The driver prepares
each split once; trials pick theirs by ``data.split_seed`` (``sweep.ray_backend.trainable``).

Usage::

    datasets = datasets_by_split(None, cfg.data, split_seeds=(1, 2, 3, 4, 5))
    datasets[cfg.data.split_seed], datasets[3].splits["test"]
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from galaxybench.config import DataConfig
from galaxybench.errors import InputError

log = logging.getLogger(__name__)


def _config_of(data: Any, fallback: DataConfig) -> DataConfig:
    """The DataConfig ``data`` was prepared with (from its recorded settings), else ``fallback``."""
    settings = (getattr(data, "info", None) or {}).get("settings") or {}
    known = {f.name for f in dataclasses.fields(DataConfig)}
    return dataclasses.replace(fallback, **{k: v for k, v in settings.items() if k in known})


def _file_of(data: Any) -> str | None:
    """The SHA256 of the file the data were prepared from."""
    return (getattr(data, "info", None) or {}).get("file_fingerprint")


def _share_arrays(base: Any, other: Any) -> Any:
    """``other`` holding ``base``'s image arrays when they are the same images.

    Splits differ only in their index lists; sharing the arrays keeps one copy of the images in
    memory and in Ray's object store (pickle writes an object referenced twice once).
    """
    same = (
        base.hr.shape == other.hr.shape
        and base.lr.shape == other.lr.shape
        and np.array_equal(base.labels, other.labels)
        and np.array_equal(base.hr, other.hr)
    )
    if not same:
        return other
    return dataclasses.replace(other, lr=base.lr, hr=base.hr, labels=base.labels)


def datasets_by_split(
    data_source: str | None, data_cfg: DataConfig, split_seeds: Iterable[int], data: Any = None
) -> dict[int, Any]:
    """``{split seed: PreparedData}`` for the base split and every seed in ``split_seeds``.

    Args:
        data_source: a Galaxy10 file or data name for ``galaxybench.data.load_data`` (None: the
            default data). Unused when ``data`` is given.
        data_cfg: the base config's data settings; its ``split_seed`` is the search's split.
        split_seeds: the split seeds of the baseline and confirmation runs.
        data: already prepared data (tests, notebooks), or already a ``{split seed: data}``
            dict. Other splits of prepared data are drawn from its source file (else from
            ``data_source``) with the settings it was prepared with.

    Raises:
        InputError: other splits are needed but cannot be drawn from the file ``data`` came from.
    """
    from galaxybench.data import load_data
    from galaxybench.data.preparation import prepare

    wanted = list(dict.fromkeys([data_cfg.split_seed, *split_seeds]))
    if isinstance(data, dict):
        missing = [s for s in wanted if s not in data]
        if missing:
            raise InputError(
                f"prepared data given for split seeds {sorted(data)}, but the sweep "
                f"also needs split seeds {missing}"
            )
        return {s: data[s] for s in wanted}
    if data is None:
        base, cfg, source = load_data(data_source, data_cfg), data_cfg, None
    else:
        base, cfg = data, _config_of(data, data_cfg)
        source = Path(str(getattr(data, "source", "")))
        source = source if source.is_file() else None  # e.g. "embedded ...": data_source names it

    def load(seed: int) -> Any:
        split_cfg = dataclasses.replace(cfg, split_seed=seed)
        return (
            prepare(source, split_cfg) if source is not None else load_data(data_source, split_cfg)
        )

    # Prepared data given: its own split is one of the splits; the rest are drawn from its file.
    out = {
        (_config_of(base, data_cfg).split_seed if data is not None else data_cfg.split_seed): base
    }
    for seed in wanted:
        if seed not in out:
            other = load(seed)
            if _file_of(other) != _file_of(base):  # never another file's images as a "split"
                raise InputError(
                    f"cannot draw split seed {seed} of the prepared data: its file "
                    f"is not {data_source or 'the default data'}; pass "
                    "{split seed: data} for every split seed"
                )
            out[seed] = _share_arrays(base, other)
            log.info(
                "prepared split seed %d: %s", seed, {k: len(v) for k, v in out[seed].splits.items()}
            )
    return {s: out[s] for s in wanted}
