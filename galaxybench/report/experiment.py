"""Read a sweep's experiment directory: resolved sweep YAML, summary and per-phase results.

Usage: ``exp = load_experiment("~/galaxybench/runs/default"); exp.confirmed, exp.records``.

The layout (written by the sweep): ``sweep.yaml``, ``summary.json``, ``search/optuna.journal``
(optional) and ``results/<phase>.jsonl`` with one ``TrialResult.to_dict()`` per line plus
``phase``, ``row``, ``trial_id``, ``config_id`` and ``time_total_s``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from galaxybench import protocol, results
from galaxybench.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class Experiment:
    """Everything a report reads; built once by ``load_experiment`` and never written back.

    Attributes:
        name: the experiment name (the directory's name).
        path: the experiment directory.
        sweep_text: the resolved sweep YAML as written, or None if absent.
        sweep: that YAML parsed (``yaml.safe_load``), {} if absent.
        summary: ``summary.json``, {} if absent.
        records: every trial of every phase, in file order, each with ``phase`` set.
        journal: the Optuna journal of the search phase, None if absent.
    """

    name: str
    path: Path
    sweep_text: str | None = None
    sweep: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    journal: Path | None = None

    def phase(self, phase: str) -> list[dict[str, Any]]:
        """The records of one phase, in file order."""
        return [r for r in self.records if r.get(results.PHASE) == phase]

    @property
    def confirmed(self) -> list[dict[str, Any]]:
        """Confirmed runs: the confirm phase plus the baseline on the confirmation seeds.

        Baseline records on seeds the confirm phase never used (e.g. search seeds) are left out so
        that every leaderboard row is measured on the same seeds; they stay in trials.csv.
        """
        confirm = self.phase(results.PHASE_CONFIRM)
        seeds = {r.get("seed") for r in confirm}
        have = {(r.get(results.ROW), r.get("seed")) for r in confirm}
        baseline = [
            r
            for r in self.phase(results.PHASE_BASELINE)
            if (r.get(results.ROW), r.get("seed")) not in have
        ]
        if any(r.get("seed") in seeds for r in baseline):
            baseline = [r for r in baseline if r.get("seed") in seeds]
        return baseline + confirm


def _read_text(path: Path) -> str:
    """A file's UTF-8 text; InputError naming the file when it is binary."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (binary, or not UTF-8)") from None


def _read_jsonl(path: Path, phase: str) -> list[dict[str, Any]]:
    """Records of one ``results/<phase>.jsonl``; a malformed line is an InputError naming it."""
    out = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{lineno}: expected a JSON object per line")
        record.setdefault(results.PHASE, phase)
        record.setdefault(
            results.ROW, protocol.ROW_BASELINE if phase == results.PHASE_BASELINE else phase
        )
        record.setdefault(results.STATUS, results.STATUS_FAILED)
        record["config"] = record.get("config") or {}
        out.append(record)
    return out


def _read_yaml(path: Path) -> tuple[str | None, dict[str, Any]]:
    if not path.is_file():
        return None, {}
    text = _read_text(path)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    return text, parsed if isinstance(parsed, dict) else {}


def _read_summary(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        parsed = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg})") from None
    return parsed if isinstance(parsed, dict) else {}


def _not_a_directory(path: Path) -> str:
    """The message for a file given where an experiment directory was expected."""
    if (path.parent / "sweep.yaml").is_file():  # a file inside an experiment: name its folder
        return f"{path} is a file, not an experiment directory; pass its folder {path.parent}"
    return (
        f"{path} is a file, not an experiment directory; pass the folder a sweep wrote "
        "(<storage>/<name>, e.g. experiments/sweep-smoke-<date-time>)"
    )


def load_experiment(experiment_dir: str | Path) -> Experiment:
    """Read an experiment directory written by ``galaxybench sweep``.

    Raises:
        InputError: the directory is missing or empty, a results file is malformed, or
            ``results/confirm.jsonl`` holds no trial (no confirmed result).
    """
    path = Path(experiment_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(_not_a_directory(path))
    if not path.is_dir():
        raise InputError(f"experiment directory not found: {path}")
    if not any(path.iterdir()):
        raise InputError(f"experiment directory is empty: {path}")
    sweep_text, sweep = _read_yaml(path / "sweep.yaml")
    exp = Experiment(
        name=path.resolve().name,
        path=path,
        sweep_text=sweep_text,
        sweep=sweep,
        summary=_read_summary(path / "summary.json"),
    )
    for phase in results.PHASES:
        file = path / "results" / f"{phase}.jsonl"
        if file.is_file():
            exp.records.extend(_read_jsonl(file, phase))
    if not exp.phase(results.PHASE_CONFIRM):
        confirm_file = path / "results" / f"{results.PHASE_CONFIRM}.jsonl"
        raise InputError(
            f"no confirmed results: {confirm_file} is missing "
            "or empty (has the sweep's confirm phase run?)"
        )
    journal = path / results.PHASE_SEARCH / results.OPTUNA_JOURNAL
    exp.journal = journal if journal.is_file() else None
    log.info("read %d trials of %s", len(exp.records), path)
    return exp
