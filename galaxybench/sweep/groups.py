"""Fused groups (``confirm.fuse``) in a sweep's plan and in its results lines, free of Ray.

A fused group is one preset point of the baseline or confirm phase that stands for a row's seeds
(``fuse_points``: the config carries ``results.FUSE_SEEDS``, JSON [[seed, split seed], ...]); its
one Tune trial trains them together (``trial.group``) and ``rows_of`` turns its result back into
one results line per member, each as an unfused trial's.

Usage::

    points = fuse_points(confirm_points(...)) if fuses(space) else points
    rows = collect_rows(result_grid, "confirm")
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from galaxybench import results
from galaxybench.sweep.plan import SPLIT_SEED, _trial_id, config_id, row_of
from galaxybench.sweep.space import SearchSpace

# Environment variable that overrides the torch device of every trial: with "cpu", trials that Ray
# schedules on (real or declared) GPUs run on the CPU, e.g. a simulated GPU cluster in tests.
DEVICE_ENV = "GALAXYBENCH_DEVICE"


def fuses(space: SearchSpace) -> bool:
    """Whether the baseline and confirm phases run fused groups (``confirm.fuse``): ``on``, or
    ``auto`` when trials run on CUDA (``$GALAXYBENCH_DEVICE``, else trials that hold GPUs)."""
    if space.fuse != "auto":
        return space.fuse == "on"
    device = os.environ.get(DEVICE_ENV) or ("cuda" if space.gpu > 0 else "cpu")
    return device.startswith("cuda")


def fuse_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per row and configuration, its seeds fused: the first point's config with
    ``results.FUSE_SEEDS`` = JSON [[seed, split seed], ...] in the order given (every point gets
    the key, a lone one too: Tune's preset points share their keys)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in points:
        groups.setdefault((str(p.get(results.ROW)), config_id(p)), []).append(p)
    out = []
    for members in groups.values():
        seeds = [[int(p["seed"]), int(p.get(SPLIT_SEED, p["seed"]))] for p in members]
        out.append({**members[0], results.FUSE_SEEDS: json.dumps(seeds)})
    return out


def group_members(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The member configs of a fused point (``fuse_points``): seed and split seed set, the
    group key gone."""
    flat = {k: v for k, v in config.items() if k != results.FUSE_SEEDS}
    return [
        {**flat, "seed": seed, SPLIT_SEED: split}
        for seed, split in json.loads(config[results.FUSE_SEEDS])
    ]


@dataclass
class _MemberResult:
    """One member of a fused group's Tune result, shaped like a ``ray.tune.Result``."""

    metrics: dict[str, Any]
    config: dict[str, Any]
    error: Any
    path: str


def rows_of(result: Any, phase: str) -> list[dict[str, Any]]:
    """The results lines of one Tune result: one, or one per member of a fused group (its trial
    id with ``-s<seed>``; Tune's wall seconds shared equally)."""
    config = dict(result.config or {})
    if results.FUSE_SEEDS not in config:
        return [row_of(result, phase)]
    metrics = dict(result.metrics or {})
    members = group_members(config)
    finals = json.loads(metrics.get(results.RESULT_JSONS) or "[]")
    tid = _trial_id(result)
    wall = float(metrics.get(results.TIME_TOTAL_S, 0.0) or 0.0) / max(len(members), 1)
    rows = []
    for k, member in enumerate(members):
        metrics_k: dict[str, Any] = {results.TRIAL_ID: f"{tid}-s{member['seed']}"}
        if k < len(finals):
            metrics_k.update(finals[k], **{results.TIME_TOTAL_S: wall})
        # A group that crashed (or ended without its members' results): a failed line each.
        error = result.error if k >= len(finals) else None
        rows.append(row_of(_MemberResult(metrics_k, member, error, str(result.path)), phase))
    return rows


def collect_rows(grid: Any, phase: str) -> list[dict[str, Any]]:
    """The results/<phase>.jsonl lines of a finished ResultGrid, ordered by trial id."""
    rows = [row for i in range(len(grid)) for row in rows_of(grid[i], phase)]
    return sorted(rows, key=lambda r: r[results.TRIAL_ID])
