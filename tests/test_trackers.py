"""Experiment trackers through Ray Tune's callbacks, and the sweep's Python API, on a local Ray.

MLflow is read back with ``mlflow.search_runs`` from a file store, W&B runs offline and its run
directories are counted, TensorBoard event files are parsed record by record, and the Optuna
journal is opened the way optuna-dashboard opens it (``optuna.load_study`` on a JournalStorage).

Usage: ``pytest -m ray tests/test_trackers.py``.
"""

from __future__ import annotations

import os

# Ray reads its auth mode once, at import: fix it before anything imports Ray.
os.environ["RAY_AUTH_MODE"] = "disabled"

import struct
from pathlib import Path

import pytest
import ray
from conftest import write_galaxy10_h5

from galaxybench import results
from galaxybench.config import DataConfig
from galaxybench.errors import InputError
from galaxybench.sweep import load_search_space, run_experiment

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from galaxybench.data import prepare

    folder = tmp_path_factory.mktemp("data")
    path = write_galaxy10_h5(folder / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16))
    return prepare(path, DataConfig(hr_size=16))


def _tfrecords(path: Path) -> list[bytes]:
    """The records of a TFRecord file (TensorBoard's event format): length, crc, data, crc."""
    out, blob, pos = [], path.read_bytes(), 0
    while pos < len(blob):
        (length,) = struct.unpack("<Q", blob[pos : pos + 8])
        out.append(blob[pos + 12 : pos + 12 + length])
        pos += 12 + length + 4
    return out


def _scalar_tags(event_file: Path) -> set[str]:
    from tensorboardX.proto.event_pb2 import Event

    tags = set()
    for record in _tfrecords(event_file):
        event = Event.FromString(record)
        tags |= {value.tag for value in event.summary.value}
    return tags


def test_trackers_log_every_trial(tmp_path, data, monkeypatch):
    import mlflow
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    space = load_search_space("smoke")
    summary = run_experiment(
        space,
        name="tracked",
        storage=tmp_path,
        data=data,
        report=False,
        trackers=("mlflow", "wandb", "tensorboard"),
    )
    exp = tmp_path / "tracked"
    trials = sum(s["trials"] for s in summary["phases"].values())
    assert trials >= 4  # baseline, 2 search, confirm rows

    mlflow.set_tracking_uri(f"sqlite:///{exp / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert len(runs) == trials  # one MLflow run per trial of every phase
    assert "params.cgan.lr" in runs.columns  # the flat config is logged as params
    finished = runs[runs["metrics.minority_f1"].notna()]
    assert len(finished) >= 1
    assert f"metrics.{results.MINORITY_F1}" in runs.columns
    # The confirmed top-1 trial's sample images are among its artifacts.
    top1 = runs[runs["params.row"] == "top-1"]
    assert len(top1) >= 1
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(top1.iloc[0]["run_id"])}
    assert "samples.npz" in artifacts

    wandb_runs = list((exp / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == trials

    event_files = list(exp.glob("*/trial_*/events.out.tfevents.*"))
    assert len(event_files) == trials
    assert any(
        any(tag.endswith(results.MINORITY_F1) for tag in _scalar_tags(f)) for f in event_files
    )

    assert summary["trackers"]["tensorboard"] == f"tensorboard --logdir {exp}"

    # optuna-dashboard opens the journal like this.
    storage = JournalStorage(JournalFileBackend(str(exp / "search" / results.OPTUNA_JOURNAL)))
    study = optuna.load_study(study_name=results.STUDY_NAME, storage=storage)
    assert len(study.trials) == summary["phases"]["search"]["trials"]


def test_unknown_tracker_is_refused_before_launch(tmp_path, data):
    with pytest.raises(InputError, match="unknown tracker 'neptune'"):
        run_experiment(
            load_search_space("smoke"), name="x", storage=tmp_path, data=data, trackers=("neptune",)
        )
