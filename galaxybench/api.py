"""The notebook face of galaxybench: ``galaxybench.sweep(space, ...)`` and what it returns.

It sits at the top of the layers, beside the CLI: it runs the sweep and publishes its report.

The CLI's ``galaxybench sweep`` and this function run the same ``run_experiment``; this one
returns a ``SweepResult`` with the leaderboard as a pandas DataFrame, the report's path and the
handles a Ray Tune or Optuna user expects (``tune.ExperimentAnalysis`` per phase, the Optuna study).

Usage::

    import galaxybench as gb
    result = gb.sweep("smoke", name="demo", storage="experiments", cgan__lr=2.0e-4)
    result.leaderboard.head(), result.report_path, result.study().best_trial
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from galaxybench import config, paths, results
from galaxybench.errors import ConfigError
from galaxybench.report.publish import publish_experiment
from galaxybench.sweep.experiment import run_experiment
from galaxybench.sweep.space import SearchSpace, load_search_space, unread_settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import optuna
    import pandas as pd


@dataclass
class SweepResult:
    """One finished (or stopped) sweep, read back from its experiment directory."""

    experiment_dir: Path
    summary: dict[str, Any]
    report_path: Path | None = None
    _board: Any = field(default=None, repr=False)

    @property
    def exit_code(self) -> int:
        """0 when every phase produced a usable result (see ``run_experiment``)."""
        return int(self.summary.get("exit_code", 1))

    @property
    def leaderboard(self) -> pd.DataFrame:
        """The confirmed rows: mean, interval and paired gain over the baseline (one row each)."""
        if self._board is None:
            from galaxybench.report.experiment import load_experiment
            from galaxybench.report.tables import leaderboard_table

            self._board = leaderboard_table(load_experiment(self.experiment_dir))
        return self._board

    def study(self) -> optuna.Study:
        """The search phase's Optuna study (the journal optuna-dashboard opens)."""
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        journal = self.experiment_dir / results.PHASE_SEARCH / results.OPTUNA_JOURNAL
        storage = JournalStorage(JournalFileBackend(str(journal)))
        return optuna.load_study(study_name=results.STUDY_NAME, storage=storage)

    def tune_analysis(self, phase: str = results.PHASE_SEARCH) -> Any:
        """``ray.tune.ExperimentAnalysis`` of one phase (Ray's own view of its trials)."""
        from galaxybench.sweep.ray_backend import experiment_analysis

        return experiment_analysis(self.experiment_dir / phase)


# How error messages name the keyword arguments of ``run_sweep`` (``galaxybench.sweep``).
KEYWORDS = "the keyword arguments of galaxybench.sweep()"


def _overrides(overrides: dict[str, Any]) -> list[str]:
    """``cgan__lr=2e-5`` -> ``["cgan.lr=2.0e-05"]``, the ``--set`` form.

    Values go through ``yaml.safe_dump``, which writes floats in a form PyYAML reads back as
    floats (``str(2e-5)`` would come back as the string "2e-05"). An unknown key is a
    ConfigError spelt as it was given (``cgan__learning_rate``), with the likely key.
    """
    import inspect

    import yaml

    keys = config.flat_keys()
    for key in overrides:
        if key.replace("__", ".") not in keys:
            # A mistyped option of run_sweep itself (num_sample) lands here too.
            options = [p for p in inspect.signature(run_sweep).parameters if p != "overrides"]
            message = config.unknown_key_message(
                key.replace("__", "."),
                KEYWORDS,
                known=[*keys, *options],
                show=lambda k: k.replace(".", "__"),
            )
            raise ConfigError(message)
    out = []
    for key, value in overrides.items():
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        out.append(f"{key.replace('__', '.')}={text}")
    return out


def run_sweep(
    space: str | Path | SearchSpace = "default",
    data: str | Path | None = None,
    name: str | None = None,
    storage: str | Path | None = None,
    address: str | None = None,
    *,
    trackers: Sequence[str] = (),
    callbacks: Sequence[Any] = (),
    progress: Callable[[dict], None] | None = None,
    num_samples: int | None = None,
    max_concurrent: int | None = None,
    num_cpus: int | None = None,
    resume: bool = False,
    report: bool = True,
    reports_dir: str | Path | None = None,
    device: str | None = None,
    **overrides: Any,
) -> SweepResult:
    """Run (or resume) a whole sweep: baseline -> search -> confirm -> report.

    Args:
        space: a built-in space name (``default``, ``paper``, ``smoke``...), a YAML path or a
            ``SearchSpace``.
        data: a Galaxy10 file or name; None: a downloaded file, else the embedded set.
        name: the experiment's name (one path component); default ``sweep-<space>-<time>``.
        storage: where experiments live (a shared path on a cluster); None: the project's
            ``experiments/`` (``galaxybench.paths.project_dir``).
        address: a Ray cluster (``auto``); None: ``$RAY_ADDRESS`` or a private local Ray.
        trackers: ``mlflow``, ``wandb`` and/or ``tensorboard`` (Ray Tune's logger callbacks).
        callbacks: more ``ray.tune.Callback`` objects.
        reports_dir: where the report is published (``<reports_dir>/<name>/``); None: the
            project's ``reports/``, where ``galaxybench leaderboard`` looks.
        device: ``cpu`` runs every trial on the CPU; None: the space's ``resources`` (``gpu:
            auto`` takes a GPU share when the Ray cluster has GPUs).
        **overrides: base-config keys with ``__`` for the dot: ``cgan__lr=2.0e-4``.

    Returns:
        A ``SweepResult``; ``exit_code`` is non-zero when a phase produced no usable result.
    """
    space_name = space.source if isinstance(space, SearchSpace) else str(space)
    if not resume:
        if not isinstance(space, SearchSpace):
            space = load_search_space(str(space))
        space = space.with_options(
            overrides=_overrides(overrides),
            num_samples=num_samples,
            max_concurrent=max_concurrent,
            where=KEYWORDS,
        )
        for line in unread_settings(space, [key.replace("__", ".") for key in overrides]):
            log.warning(line)
    stem = Path(space_name).name.removesuffix(".yaml")
    name = name or f"sweep-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    summary = run_experiment(
        None if resume else space,
        name=name,
        storage=paths.experiments_dir() if storage is None else storage,
        data_source=None if data is None else str(data),
        address=address,
        resume=resume,
        num_cpus=num_cpus,
        progress=progress,
        report=report,
        trackers=tuple(trackers),
        callbacks=tuple(callbacks),
        publish=functools.partial(
            publish_experiment,
            reports_dir=paths.reports_dir() if reports_dir is None else reports_dir,
        ),
        device=device,
    )
    report_path = Path(summary["report"]).resolve() if summary.get("report") else None
    return SweepResult(Path(summary["experiment_dir"]), summary, report_path)


def run_validation(
    space: str | Path | SearchSpace = "default",
    data: str | Path | None = None,
    *,
    effect: float = 0.05,
    name: str | None = None,
    storage: str | Path | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    device: str | None = None,
    progress: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """The positive and negative controls of a space on a data set (``galaxybench validate``).

    Runs the space's baseline phase and a controls phase (``sweep.plan.control_points``) through
    the sweep's own ``run_experiment``: Ray Tune, the trainable, the stage cache and the space's
    concurrency, on the space's confirmation seeds, each on its own split. No search, no report.

    Args:
        space: a built-in space name, a YAML path or a ``SearchSpace``.
        data: a Galaxy10 file or name; None: the default data.
        effect: the effect in minority F1 to give the seeds needed for, > 0.
        name, storage: the experiment is ``<storage>/<name>/`` (default
            ``validate-<space>-<time>`` in the project's ``experiments/``).

    Returns:
        ``report.controls.controls``'s dict plus ``experiment_dir``, ``seconds``, ``space`` and
        ``exit_code``: 0, or 1 when a phase had no usable result or the same-seed negative
        control is not exactly 0 (``negative_exact`` False).
    """
    from galaxybench.errors import InputError
    from galaxybench.protocol import MODE_VALIDATE
    from galaxybench.report.controls import controls
    from galaxybench.sweep import plan

    if not (isinstance(effect, (int, float)) and effect > 0):
        raise InputError(f"--effect must be a minority-F1 difference > 0, got {effect}")
    space_name = space.source if isinstance(space, SearchSpace) else str(space)
    if not isinstance(space, SearchSpace):
        space = load_search_space(str(space))
    stem = Path(space_name).name.removesuffix(".yaml")
    name = name or f"validate-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    summary = run_experiment(
        space,
        name=name,
        storage=paths.experiments_dir() if storage is None else storage,
        mode=MODE_VALIDATE,
        data_source=None if data is None else str(data),
        address=address,
        num_cpus=num_cpus,
        progress=progress,
        report=False,
        device=device,
    )
    exp_dir = Path(summary["experiment_dir"])
    rows = {
        p: plan.read_rows(exp_dir / "results" / f"{p}.jsonl")
        for p in (results.PHASE_BASELINE, results.PHASE_CONFIRM)
    }
    out = controls(
        rows[results.PHASE_BASELINE],
        rows[results.PHASE_CONFIRM],
        effect=float(effect),
        n_seeds=len(space.confirm_seeds),
    )
    code = int(summary["exit_code"]) or (0 if out["negative_exact"] else 1)
    return {
        **out,
        "space": space.source,
        "data": summary.get("data"),
        "experiment_dir": str(exp_dir),
        "seconds": summary.get("seconds"),
        "exit_code": code,
    }
