"""Rich progress for one trial: the current stage, and a bar over classifier epochs.

Usage::

    with TrialProgress(cfg) as progress:
        evaluate_trial(cfg, data, report=progress.epoch, on_stage=progress.stage)
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from galaxybench import results
from galaxybench.config import Config


class TrialProgress:
    """A rich progress display on stderr; quiet when stderr is not a terminal."""

    def __init__(self, cfg: Config) -> None:
        self.epochs = cfg.classifier.epochs
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            disable=not sys.stderr.isatty(),
            transient=True,
        )
        self._task: Any = None
        self.current: str | None = None  # the stage running now (the last one started)

    def __enter__(self) -> TrialProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def stage(self, name: str) -> None:
        """A stage has started."""
        self.current = name
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total)
        total = self.epochs if name == "classify" else 1
        self._task = self._progress.add_task(f"{name:<10}", total=total)

    def epoch(self, scores: dict[str, Any]) -> None:
        """A classifier epoch has ended."""
        if self._task is not None:
            self._progress.update(
                self._task,
                completed=scores[results.EPOCH],
                description=f"classify   val minority F1 {scores[results.VAL_MINORITY_F1]:.3f}",
            )
