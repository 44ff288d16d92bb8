"""Ray Tune behind the sweep: the only package that imports Ray.

It connects to (or starts) Ray (``session``), runs one trial per Tune trial (``trainable``),
draws the progress view and feeds the experiment trackers (``callbacks``), builds a phase's search
algorithm and scheduler (``search``), and runs or restores one Tuner per phase, turning Tune's
results into the rows of ``results/<phase>.jsonl`` (``tuner``). The orchestration of the phases
is ``sweep.experiment``; the layout of an experiment directory is in ``docs/architecture.md``.
Importing this package imports Ray, never at the import of ``galaxybench`` or ``galaxybench.sweep``.

Usage::

    owns = connect(address=None)
    rows = run_phase(spec, wrapped_trainable(space, exp_dir, data, None), exp_dir, space,
                     resume=False)
"""

from __future__ import annotations

from galaxybench.sweep.ray_backend.callbacks import (
    TRACKERS,
    ProgressCallback,
    mlflow_uri,
    tracker_callbacks,
)
from galaxybench.sweep.ray_backend.search import (
    BracketGeneratorScheduler,
    FinishedOnlyOptunaSearch,
    hyperband_brackets,
    phase_scheduler,
    search_alg,
    search_scheduler,
)
from galaxybench.sweep.ray_backend.session import (
    check_resources,
    cluster_resources,
    connect,
    default_auth_mode,
    ray_logging_to,
    resources,
    shutdown,
    wait_for_nodes,
)
from galaxybench.sweep.ray_backend.trainable import (
    DEVICE_ENV,
    trainable,
    trial_device,
    wrapped_trainable,
)
from galaxybench.sweep.ray_backend.tuner import (
    experiment_analysis,
    make_tuner,
    restore_tuner,
    run_phase,
    trial_dirname,
)

__all__ = [
    "DEVICE_ENV",
    "TRACKERS",
    "BracketGeneratorScheduler",
    "FinishedOnlyOptunaSearch",
    "ProgressCallback",
    "check_resources",
    "cluster_resources",
    "connect",
    "default_auth_mode",
    "experiment_analysis",
    "hyperband_brackets",
    "make_tuner",
    "mlflow_uri",
    "phase_scheduler",
    "ray_logging_to",
    "resources",
    "restore_tuner",
    "run_phase",
    "search_alg",
    "search_scheduler",
    "shutdown",
    "tracker_callbacks",
    "trainable",
    "trial_device",
    "trial_dirname",
    "wait_for_nodes",
    "wrapped_trainable",
]
