"""A simulated GPU cluster: 4 nodes x 1 declared GPU here, the paper's packing, a lost node.

``ray.cluster_utils.Cluster`` starts four Ray nodes, each declaring one GPU (none exists). Trials
ask for the ``paper`` space's share of a GPU, 0.25, and its CPUs scaled to fit (4 -> 0.5), and run
on the CPU through the documented device override ``GALAXYBENCH_DEVICE=cpu``. The trial function
is a trivial stand-in (a wait and a fake result): it is the scheduler that is tested. It records
its node, device, stage-cache path and start/end time. The test shows 4 trials per GPU on every
node, one stage cache on the common storage path, and that removing a node mid-trial retries the
trials it held with no result lost. It prints the packing (trials per node over time).

Usage: ``pytest -m ray tests/test_sim_cluster.py -s``.
"""

from __future__ import annotations

import os

os.environ["RAY_AUTH_MODE"] = "disabled"  # before anything imports Ray

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import ray
from conftest import write_galaxy10_h5
from ray import tune

from galaxybench import results
from galaxybench.config import DataConfig, to_flat
from galaxybench.sweep import experiment
from galaxybench.sweep.space import load_search_space, parse_search_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]
NODES, GPU_SHARE, CPU_SHARE, NUM_SAMPLES = 4, 0.25, 0.5, 16  # paper: {cpu: 4, gpu: 0.25}
HOLD_S = 3.0  # how long a search trial stays running once all of them have started


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # Every node's workers inherit this: trials run on the CPU although the nodes declare GPUs.
    # Set here, not at import, so other test modules collected with this one do not inherit it.
    previous = os.environ.get("GALAXYBENCH_DEVICE")
    os.environ["GALAXYBENCH_DEVICE"] = "cpu"
    # Two CPUs per node hold 4 trials of 0.5 CPU: the GPU share is what limits a node to 4.
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 1})
    workers = [c.add_node(num_cpus=2, num_gpus=1) for _ in range(NODES - 1)]
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)  # run_experiment joins this session
    try:
        yield c, workers
    finally:
        ray.shutdown()
        c.shutdown()
        if previous is None:
            os.environ.pop("GALAXYBENCH_DEVICE", None)
        else:
            os.environ["GALAXYBENCH_DEVICE"] = previous


def _recording_trial(log_dir: str):
    """A stand-in trial that records where and when it ran (cloudpickled by value)."""

    def trial(cfg, data, report=None, **kwargs):
        import uuid

        ctx = tune.get_context()
        phase, trial_id = ctx.get_experiment_name(), ctx.get_trial_id()
        start = time.time()
        node = ray.get_runtime_context().get_node_id()
        started = Path(log_dir) / "started"
        started.mkdir(exist_ok=True)
        (started / f"{trial_id}-{uuid.uuid4().hex[:6]}").write_text(
            json.dumps({"phase": phase, "trial_id": trial_id, "node": node, "start": start})
        )
        cache = Path(kwargs["cache_dir"])
        cache.mkdir(parents=True, exist_ok=True)
        (cache / f"from-{node}").touch()  # what a stage would write to the shared cache
        if phase == "search":  # hold until every search trial runs, so the packing is visible
            deadline = time.time() + 120
            while len(list(started.glob("*"))) < NUM_SAMPLES + 1 and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(HOLD_S)
        report({results.EPOCH: 1, results.OBJECTIVE: 0.5})
        record = {
            "phase": phase,
            "trial_id": trial_id,
            "node": node,
            "start": start,
            "end": time.time(),
            "device": kwargs["device"],
            "cache_dir": str(cache),
        }
        (Path(log_dir) / f"{phase}-{trial_id}-{uuid.uuid4().hex[:6]}.json").write_text(
            json.dumps(record)
        )
        return results.TrialResult(
            status=results.STATUS_OK,
            config=to_flat(cfg),
            seed=cfg.seed,
            metrics={results.OBJECTIVE: 0.5, results.MINORITY_F1: 0.4},
        )

    return trial


class RemoveNodeMidTrial(tune.Callback):
    """Removes one worker node once every search trial is running (they then hold HOLD_S)."""

    def __init__(self, cluster, node, started: Path) -> None:
        self.cluster, self.node, self.started = cluster, node, started
        self.removed_at: float | None = None

    def on_step_end(self, iteration, trials, **info):
        if (
            self.removed_at is None
            and self.started.exists()
            and len(list(self.started.glob("*"))) >= NUM_SAMPLES + 1
        ):  # baseline + search
            time.sleep(0.5)  # every trial is inside its hold
            self.cluster.remove_node(self.node)
            self.removed_at = time.time()

    def __getstate__(self):  # Tune saves its callbacks with the experiment; the cluster stays
        return {"cluster": None, "node": None, "started": self.started, "removed_at": None}


def _attempts(log: Path, removed_at: float) -> list[dict]:
    """Every start of a trial function, with its end (the removal for those on the lost node)."""
    ends = {
        (r["trial_id"], r["node"]): r["end"]
        for r in (json.loads(p.read_text()) for p in log.glob("*.json"))
    }
    out = []
    for p in (log / "started").iterdir():
        a = json.loads(p.read_text())
        a["end"] = ends.get((a["trial_id"], a["node"]), removed_at)
        out.append(a)
    return out


def _packing(records: list[dict], nodes: list[str], t0: float) -> str:
    """Trials running per node, per second: the table the test prints."""
    end = max(r["end"] for r in records)
    lines = ["t(s)  " + "  ".join(f"node{i}" for i in range(len(nodes)))]
    t = t0
    while t <= end:
        running = Counter(r["node"] for r in records if r["start"] <= t < r["end"])
        if running:  # idle seconds (Ray starting workers, phases changing) are left out
            lines.append(f"{t - t0:4.0f}  " + "  ".join(f"{running[n]:5d}" for n in nodes))
        t += 1.0
    return "\n".join(lines)


def test_four_trials_per_gpu_on_every_node_and_a_lost_node_is_retried(cluster, tmp_path: Path):
    from galaxybench.data import prepare

    c, workers = cluster
    data = prepare(
        write_galaxy10_h5(tmp_path / "tiny.h5", counts=(24, 16, 30, 26, 8, 26, 16, 28, 14, 16)),
        DataConfig(hr_size=16),
    )
    tree = load_search_space("smoke").to_dict()
    tree["search"] = {
        "algorithm": "random",
        "num_samples": NUM_SAMPLES,
        "scheduler": "fifo",
        "max_concurrent": NUM_SAMPLES,
        "max_failures": 3,
    }
    tree["resources"] = {"cpu": CPU_SHARE, "gpu": GPU_SHARE}
    space = parse_search_space(tree, source="simulated paper resources")
    log = tmp_path / "log"
    log.mkdir()
    victim = workers[-1]
    remover = RemoveNodeMidTrial(c, victim, log / "started")
    storage = tmp_path / "shared"  # the storage path every node sees
    summary = experiment.run_experiment(
        space,
        name="sim",
        storage=storage,
        data=data,
        trial_fn=_recording_trial(str(log)),
        callbacks=[remover],
    )

    assert remover.removed_at is not None
    records = [json.loads(p.read_text()) for p in log.glob("*.json")]  # finished calls
    attempts = _attempts(log, remover.removed_at)  # every start, the lost node's included
    nodes = [n["NodeID"] for n in sorted(ray.nodes(), key=lambda n: n["NodeManagerPort"])]
    t0 = min(a["start"] for a in attempts)
    print(
        "\ntrials running per node (node ids "
        + ", ".join(n[:8] for n in nodes)
        + f"; node {nodes.index(victim.node_id)} removed at "
        f"{remover.removed_at - t0:.1f} s)"
    )
    print(_packing(attempts, nodes, t0))

    # No result lost: every search trial has its ok line, and the summary counts them all.
    rows = [
        json.loads(x)
        for x in (storage / "sim" / "results" / "search.jsonl").read_text().splitlines()
    ]
    assert len(rows) == NUM_SAMPLES and all(r["status"] == "ok" for r in rows)
    assert summary["phases"]["search"]["ok"] == NUM_SAMPLES and summary["exit_code"] == 0
    search = [a for a in attempts if a["phase"] == "search"]
    assert {a["trial_id"] for a in search} == {r["trial_id"] for r in rows}
    # Packing: the first attempts all ran at once (each holds until all have started), 4 on each
    # node: 1 GPU / 0.25 per trial, with CPUs to spare, so the GPU share is what packs them.
    first = [a for a in search if a["start"] < remover.removed_at]
    assert len(first) == NUM_SAMPLES
    assert max(a["start"] for a in first) < min(a["end"] for a in first)  # all overlap
    per_node = Counter(a["node"] for a in first)
    assert per_node == dict.fromkeys(nodes, 4), per_node
    # The node removed mid-trial: its 4 trials never finished there and were retried elsewhere
    # (Ray Tune's FailureConfig), each exactly once more.
    lost = {a["trial_id"] for a in first if a["node"] == victim.node_id}
    retries = [a for a in search if a["start"] >= remover.removed_at]
    assert len(lost) == 4 and sorted(a["trial_id"] for a in retries) == sorted(lost)
    assert all(a["node"] != victim.node_id for a in retries)
    assert not any(r["node"] == victim.node_id for r in records if r["phase"] == "search")
    # Trials ran on the CPU through the override, and shared one stage cache on the storage.
    assert {r["device"] for r in records} == {"cpu"}
    assert {r["cache_dir"] for r in records} == {str(storage / "sim" / "cache")}
    writers = {p.name.removeprefix("from-") for p in (storage / "sim" / "cache").glob("from-*")}
    assert writers == set(nodes)
