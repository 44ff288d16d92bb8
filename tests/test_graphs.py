"""Graphed training steps (``stages/_graphs.py``) train exactly what eager steps train.

A CUDA graph cannot run on a CPU, so a stand-in with the same three calls runs here: its capture
executes the step once (a real capture records it without running it; ``GraphedStep`` puts the
state back either way) and its replay re-runs the recorded step into the captured output tensor,
as a real replay rewrites it. What is checked is ``GraphedStep``'s own part: the warm-up and the
capture leave weights, BatchNorm buffers and Adam state as they found them, replays read the
copied indices, another shape runs eagerly, a failed capture falls back with the state restored.
On a GPU, ``tests/test_gpu_sync.py`` runs the real graphs.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from galaxybench.config import Config, SrganConfig
from galaxybench.data.arrays import SplitArrays
from galaxybench.errors import TrialDiverged
from galaxybench.stages import _common, rebalance_cgan, upscale_srgan
from galaxybench.stages._graphs import GRAPHS_ENV, GraphedStep, graphs_wanted


class StandInGraph:
    """The calls ``GraphedStep`` makes of a CUDA graph, on a CPU."""

    captures = 0

    def warm_up(self, run, steps):
        for _ in range(steps):
            run()

    def capture(self, run):
        type(self).captures += 1
        self.run = run
        self.out = run().clone()
        return self.out

    def replay(self):
        self.out.copy_(self.run())


class FailingGraph(StandInGraph):
    def capture(self, run):
        raise RuntimeError("operation not permitted when stream is capturing")


def _train(n: int = 40, hr: int = 16) -> SplitArrays:
    rng = np.random.default_rng(0)
    hr_images = rng.integers(0, 256, (n, 3, hr, hr), dtype=np.uint8)
    lr = hr_images.reshape(n, 3, hr // 2, 2, hr // 2, 2).mean((3, 5)).astype(np.uint8)
    return SplitArrays(lr, hr_images, np.arange(n) % 3, np.arange(n, dtype=np.int64))


def _trainer(graph_factory=None) -> upscale_srgan._Trainer:
    cfg = Config(srgan=SrganConfig(depth=1, channels=8, batch_size=8, pretrain_epochs=1, epochs=2))
    trainer = upscale_srgan._Trainer(cfg, _train(), seed=3, device=torch.device("cpu"))
    if graph_factory is not None:
        nets = dict(
            modules=[trainer.gen, trainer.disc],
            optimizers=[trainer.opt_g, trainer.opt_d],
            also=trainer.watch.tensors(),
        )
        for name in ("pretrain_step", "adversarial_step"):
            step = getattr(trainer, f"_{name}")
            setattr(
                trainer, name, GraphedStep(step, enabled=True, graph_factory=graph_factory, **nets)
            )
    return trainer


def _state(trainer: upscale_srgan._Trainer) -> dict[str, torch.Tensor]:
    out = {f"gen.{k}": v for k, v in trainer.gen.state_dict().items()}
    out |= {f"disc.{k}": v for k, v in trainer.disc.state_dict().items()}
    for name in ("opt_g", "opt_d"):
        for i, state in getattr(trainer, name).state_dict()["state"].items():
            out |= {f"{name}.{i}.{k}": torch.as_tensor(v) for k, v in state.items()}
    return out


def _assert_same(a: upscale_srgan._Trainer, b: upscale_srgan._Trainer) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert a.history == b.history


def test_graphed_steps_train_what_eager_steps_train():
    torch.set_num_threads(1)
    eager, graphed = _trainer(), _trainer(StandInGraph)
    StandInGraph.captures = 0
    for trainer in (eager, graphed):
        trainer.train_to(0, 1)  # 1 pretraining epoch (5 steps): the generator's alone
    # the optimizers' state dicts hold what the eager run's hold, no empty entries added
    assert graphed.opt_d.state_dict()["state"] == eager.opt_d.state_dict()["state"] == {}
    for trainer in (eager, graphed):
        trainer.train_to(1, 3)  # then 2 adversarial epochs
    assert StandInGraph.captures == 2  # one graph per step kind, replayed from then on
    assert graphed.adversarial_step.graph is not None
    _assert_same(eager, graphed)
    assert eager.history["content_mse"][0] != eager.history["content_mse"][1]  # it trained


def test_a_graphed_cgan_trains_what_the_eager_one_trains(monkeypatch):
    """Its latent vectors are drawn outside the step, so graphs leave the noise stream alone."""
    torch.set_num_threads(1)
    data = _train(48)
    images, labels, ids = rebalance_cgan._training_images(data, [0, 1, 2], torch.device("cpu"))
    cfg = Config().replace(**{"cgan.batch_size": 8, "cgan.width": 8, "data.hr_size": 16})
    monkeypatch.setattr(
        rebalance_cgan, "GraphedStep", functools.partial(GraphedStep, graph_factory=StandInGraph)
    )
    runs = []
    for graphed in (False, True):
        side = int(images.shape[-1])
        run = rebalance_cgan._Training(cfg, len(ids), side, seed=5, device=torch.device("cpu"))
        run.graphed = graphed
        run.train_to(images, labels, 2)
        runs.append(run)
    eager, graphed = runs
    assert graphed._graphed[2].graph is not None and eager._graphed[2].graph is None
    for a, b in zip(eager.checkpoint().values(), graphed.checkpoint().values(), strict=True):
        flat_a, flat_b = _flatten(a), _flatten(b)
        assert len(flat_a) == len(flat_b)
        for x, y in zip(flat_a, flat_b, strict=True):
            assert torch.equal(x, y) if torch.is_tensor(x) else x == y


def _flatten(obj) -> list:
    if isinstance(obj, dict):
        return [x for k in sorted(obj, key=str) for x in _flatten(obj[k])]
    if isinstance(obj, (list, tuple)):
        return [x for v in obj for x in _flatten(v)]
    return [obj]


def test_a_capture_that_fails_trains_on_eagerly_from_the_restored_state():
    eager, fallback = _trainer(), _trainer(FailingGraph)
    for trainer in (eager, fallback):
        trainer.train_to(0, 3)
    assert "operation not permitted" in fallback.adversarial_step.failed
    assert fallback.adversarial_step.graph is None
    _assert_same(eager, fallback)


def test_another_shape_runs_eagerly_and_replays_read_the_copied_indices():
    calls = []

    def step(idx):
        calls.append(idx.clone())
        return idx.float().sum()

    graphed = GraphedStep(step, modules=[], optimizers=[], enabled=True, graph_factory=StandInGraph)
    assert float(graphed(torch.tensor([1, 2]))) == 3.0  # captured (after the warm-up)
    assert float(graphed(torch.tensor([5, 7]))) == 12.0  # replayed on the new indices
    assert float(graphed(torch.tensor([4]))) == 4.0  # a ragged batch: eagerly
    assert graphed.static_inputs[0].tolist() == [5, 7]  # which the graph never saw
    off = GraphedStep(step, modules=[], optimizers=[], enabled=False)
    assert float(off(torch.tensor([1, 1]))) == 2.0 and off.graph is None


def test_a_deferred_watch_updates_its_tensors_in_place_so_a_replay_still_catches_nan():
    watch = _common.FiniteWatch("srgan", torch.device("cpu"), deferred=True)
    finite, first = watch._finite, watch._first
    losses = iter(
        [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(float("nan"))] + [torch.tensor(3.0)] * 8
    )

    def step(idx):
        loss = next(losses)
        watch.observe(loss)
        return loss

    graphed = GraphedStep(
        step,
        modules=[],
        optimizers=[],
        also=watch.tensors(),
        enabled=True,
        graph_factory=StandInGraph,
    )
    graphed(torch.tensor([0]))  # warm-up (3 steps, the NaN among them), capture, replay
    watch.check()  # the warm-up's steps were undone, and what the watch saw of them too
    for _ in range(3):
        graphed(torch.tensor([0]))
    watch.check()  # finite so far
    assert watch._finite is finite and watch._first is first
    losses = iter([torch.tensor(float("inf"))] * 4)
    graphed(torch.tensor([0]))
    with pytest.raises(TrialDiverged, match="inf"):
        watch.check()


def test_graphs_are_for_cuda_only_and_can_be_turned_off(monkeypatch):
    assert not graphs_wanted("cpu")
    assert graphs_wanted("cuda")
    monkeypatch.setenv(GRAPHS_ENV, "0")
    assert not graphs_wanted("cuda")


def _cuda_fit(stage: str, graphs: str, monkeypatch) -> dict[str, torch.Tensor]:
    """Two epochs of one GAN on CUDA with real CUDA graphs on ("1") or off ("0")."""
    monkeypatch.setenv(GRAPHS_ENV, graphs)
    cuda = torch.device("cuda")
    data = _train(64, 32)
    if stage == "srgan":
        cfg = Config(
            srgan=SrganConfig(depth=2, channels=16, batch_size=16, pretrain_epochs=1, epochs=1)
        )
        trainer = upscale_srgan._Trainer(cfg, data, seed=3, device=cuda)
        trainer.train_to(0, 2)
        assert trainer.adversarial_step.graph is not None or graphs == "0"
        return {k: v.float().cpu() for k, v in _state(trainer).items()}
    images, labels, ids = rebalance_cgan._training_images(data, [0, 1, 2], cuda)
    cfg = Config().replace(**{"cgan.batch_size": 16, "data.hr_size": 32})
    run = rebalance_cgan._Training(cfg, len(ids), int(images.shape[-1]), seed=5, device=cuda)
    run.train_to(images, labels, 2)
    assert run._graphed[2].graph is not None or graphs == "0", run._graphed[2].failed
    state = run.checkpoint()
    return {
        f"{part}.{k}": v.float()
        for part in ("gen", "disc")
        for k, v in state[part].items()
        if torch.is_floating_point(v)
    }


@pytest.mark.parametrize("stage", ["srgan", "cgan"])
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_graphs_train_what_eager_cuda_steps_train(stage, monkeypatch):
    """The same kernels replayed: the weights after two epochs agree with the eager run's to
    within bf16 rounding (cuDNN may pick other kernels for the two runs)."""
    eager = _cuda_fit(stage, "0", monkeypatch)
    graphed = _cuda_fit(stage, "1", monkeypatch)
    assert eager.keys() == graphed.keys()
    for k in eager:
        torch.testing.assert_close(graphed[k], eager[k], rtol=2e-2, atol=2e-3, msg=k)
