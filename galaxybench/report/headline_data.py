"""The headline's data line: the data by name, N after dedupe, the split, image sizes, epochs.

Usage::

    data_line(exp)   # "Data: embedded synthetic Galaxy10-format set; N = ..."

A fact the experiment did not store is written "n/a", never guessed.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from galaxybench.report.experiment import Experiment
from galaxybench.report.headline_words import NA

# Keys of the data's preparation facts (PreparedData.info), looked for in these places.
DATA_INFO_KEYS = ("data_info",)


def _data_info(exp: Experiment) -> dict[str, Any]:
    for source in (exp.summary, exp.sweep):
        for key in DATA_INFO_KEYS:
            if isinstance(source.get(key), dict):
                return source[key]
    for r in exp.records:
        if isinstance(r.get("data_info"), dict):
            return r["data_info"]
    return {}


def data_name(exp: Experiment) -> str:
    """The data by name: the embedded synthetic set or the file's basename, never a path."""
    for value in (exp.summary.get("data"), exp.sweep.get("data")):
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if "embedded" in text.lower():
                return "embedded synthetic Galaxy10-format set"
            if "(" in text:  # "downloaded Galaxy10 DECaLS (/path/file.h5; name)": keep the words
                return text.split("(", 1)[0].strip() + f" ({PurePath(_path_in(text)).name})"
            return PurePath(text).name if "/" in text else text
    fingerprints = {r.get("data_fingerprint") for r in exp.records} - {None, ""}
    if fingerprints:
        return f"unnamed data (not recorded; fingerprint {sorted(fingerprints)[0][:12]})"
    return NA


def _path_in(text: str) -> str:
    inner = text.split("(", 1)[1].rstrip(")")
    return inner.split(";", 1)[0].strip()


def _values(exp: Experiment, key: str) -> list[Any]:
    base = exp.sweep.get("resolved_base_config")
    found = [r["config"].get(key) for r in exp.confirmed if key in r["config"]]
    if not found and isinstance(base, dict):
        found = [base.get(key)]
    return sorted({v for v in found if v is not None}, key=repr)


def _join(values: list[Any]) -> str:
    return "/".join(str(v) for v in values) if values else NA


def data_line(exp: Experiment) -> str:
    """ "Data: <name>; N = ... after dedupe; HR/LR px; epochs of each stage; seeds; splits."""
    info = _data_info(exp)
    counts = info.get("counts")
    n = sum(counts) if isinstance(counts, list) else None
    if n is None and isinstance(info.get("n_read"), int):
        n = info["n_read"] - int(info.get("n_duplicates_dropped") or 0)
    dropped = info.get("n_duplicates_dropped")
    n_text = (
        NA
        if n is None
        else f"{n}" + (f" ({dropped} duplicates dropped)" if dropped is not None else "")
    )
    split = info.get("split_counts")
    split_text = (
        "/".join(str(split.get(k, NA)) for k in ("train", "val", "test"))
        if isinstance(split, dict)
        else NA
    )
    hr = _values(exp, "data.hr_size")
    lr = _values(exp, "data.lr_size") or [int(v) // 2 for v in hr if isinstance(v, int)]
    epochs = (
        f"SRGAN {_join(_values(exp, 'srgan.pretrain_epochs'))} pre-train + "
        f"{_join(_values(exp, 'srgan.epochs'))}, cGAN {_join(_values(exp, 'cgan.epochs'))}, "
        f"classifier {_join(_values(exp, 'classifier.epochs'))}"
    )
    seeds = sorted({r.get("seed") for r in exp.confirmed} - {None}, key=repr)
    splits = _values(exp, "data.split_seed")
    return (
        f"Data: {data_name(exp)}; N = {n_text} after dedupe; train/val/test {split_text}; "
        f"HR {_join(hr)} px, LR {_join(lr)} px; epochs: {epochs}; "
        f"confirmation seeds {_join(seeds)} (n = {len(seeds)}); "
        f"split seed{'s' if len(splits) > 1 else ''} {_join(splits)}."
    )
