"""A fixed-shape training step replayed as a CUDA graph: one launch per step instead of hundreds.

At the paper's batch of 16 a GAN step is launch-bound: the GPU finishes each kernel before the CPU
has queued the next. A CUDA graph records the step's kernels once (forward, backward, the fused
Adam update, the finiteness watch) and replays them with one launch; each step then only copies
its batch indices into the graph's input buffer. ``torch.cuda.make_graphed_callables`` graphs a
module's forward and backward but not the optimizer step, and ``torch.compile(mode=
"reduce-overhead")`` recompiles on every new shape and cannot see our explicit generators, so
the whole step is captured here, following the "whole network capture" recipe of the CUDA graphs
section of the PyTorch docs.

Semantics (tested on a CPU with a stand-in graph, ``tests/test_graphs.py``): capturing needs a
few warm-up steps on a side stream, which train. Every tensor the step changes (weights, buffers,
optimizer state) is copied before the warm-up and put back after the capture, and optimizer state
the warm-up created is zeroed (a fresh Adam state is zeros), so the graphed run trains exactly the
steps the eager run trains. A step whose inputs have another shape runs eagerly (the same
weights and optimizer). When capturing fails the trainer goes on eagerly and says why, once.

Usage::

    step = GraphedStep(self._step, modules=[gen, disc], optimizers=[opt_g, opt_d],
                       also=watch.tensors(), enabled=graphs_wanted(device))
    for idx in batches(...):
        losses = step(idx)            # a tensor the graph rewrites: use it before the next step

Random numbers are drawn outside the step and passed in (``step(idx, z)``): a graph replays the
kernels it recorded, not the host calls that chose a generator's offset.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

# GALAXYBENCH_CUDA_GRAPHS=0 turns graphs off (eager CUDA steps), for comparison and as an escape.
GRAPHS_ENV = "GALAXYBENCH_CUDA_GRAPHS"
WARMUP_STEPS = 3  # side-stream steps before capture (cuDNN autotuning, allocator, lazy state)


def graphs_wanted(device: torch.device | str) -> bool:
    """Whether training steps on ``device`` are graphed: CUDA only, unless the environment says
    ``GALAXYBENCH_CUDA_GRAPHS=0``. CPU steps always run eagerly (and keep their numbers)."""
    return torch.device(device).type == "cuda" and os.environ.get(GRAPHS_ENV, "1") != "0"


class _CudaGraph:
    """``torch.cuda.CUDAGraph`` behind the two calls ``GraphedStep`` makes."""

    def __init__(self) -> None:
        self.graph = torch.cuda.CUDAGraph()

    def warm_up(self, run: Callable[[], Any], steps: int) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), warnings.catch_warnings():
            # A capturable Adam warns once when it steps outside a capture: here it must.
            warnings.filterwarnings("ignore", message=".*capturable=True.*")
            for _ in range(steps):
                run()
        torch.cuda.current_stream().wait_stream(side)

    def capture(self, run: Callable[[], torch.Tensor]) -> torch.Tensor:
        # thread_local: CUDA calls of other threads (a Ray worker's) do not break the capture.
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            return run()

    def replay(self) -> None:
        self.graph.replay()


def _mutable_state(
    modules: Sequence[nn.Module], optimizers: Sequence[torch.optim.Optimizer]
) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Every tensor a training step changes in place, and the optimizers' per-parameter states
    (empty for a parameter not stepped yet; read with ``get``: indexing the optimizer's
    defaultdict would add empty entries to its state dict)."""
    tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
    states = [
        opt.state.get(p, {}) for opt in optimizers for g in opt.param_groups for p in g["params"]
    ]
    return tensors, states


class GraphedStep:
    """Call ``step(idx)`` for every batch; on CUDA the full-size batches replay one graph.

    Args:
        step: one training step of its input tensors (a batch's device indices, its latent
            vectors); returns a tensor (the step's detached losses). It must read no host value,
            make no host decision and draw no random numbers.
        modules, optimizers: what the step trains; their tensors are restored after the warm-up.
        also: other tensors the step changes in place (a ``FiniteWatch``'s), restored likewise.
        enabled: False runs ``step`` eagerly always (a CPU).
        graph_factory: makes the graph (tests pass a CPU stand-in).
    """

    def __init__(
        self,
        step: Callable[..., torch.Tensor],
        *,
        modules: Sequence[nn.Module],
        optimizers: Sequence[torch.optim.Optimizer],
        also: Sequence[torch.Tensor] = (),
        enabled: bool,
        graph_factory: Callable[[], Any] = _CudaGraph,
    ) -> None:
        self.step, self.modules, self.optimizers = step, modules, optimizers
        self.also = list(also)
        self.enabled, self.graph_factory = enabled, graph_factory
        self.graph: Any = None
        self.static_inputs: list[torch.Tensor] = []
        self.static_out: torch.Tensor | None = None
        self.failed: str | None = None

    def _capture(self, inputs: tuple[torch.Tensor, ...]) -> None:
        tensors, states = _mutable_state(self.modules, self.optimizers)
        tensors += self.also
        saved = [t.detach().clone() for t in tensors]
        had_state = [bool(s) for s in states]
        saved_states = [{k: v.clone() for k, v in s.items() if torch.is_tensor(v)} for s in states]
        static = [t.clone() for t in inputs]
        graph = self.graph_factory()
        try:
            graph.warm_up(lambda: self.step(*static), WARMUP_STEPS)
            static_out = graph.capture(lambda: self.step(*static))
        finally:  # the warm-up trained: put back what it changed, captured or not
            with torch.no_grad():
                for t, v in zip(tensors, saved, strict=True):
                    t.copy_(v)
                _, states = _mutable_state(self.modules, self.optimizers)
                for state, had, old in zip(states, had_state, saved_states, strict=True):
                    for k, v in state.items():
                        if torch.is_tensor(v):
                            v.copy_(old[k]) if had else v.zero_()
        self.graph, self.static_inputs, self.static_out = graph, static, static_out

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.enabled and self.graph is None and self.failed is None:
            try:
                self._capture(inputs)
            except Exception as exc:  # a capture failure costs speed, not the run
                self.failed = f"{type(exc).__name__}: {exc}"
                log.warning("CUDA graph capture failed; training eagerly: %s", self.failed)
        if self.graph is None or any(
            t.shape != static.shape for t, static in zip(inputs, self.static_inputs, strict=True)
        ):
            return self.step(*inputs)  # a CPU, a failed capture, or another shape (ragged)
        for static, t in zip(self.static_inputs, inputs, strict=True):
            static.copy_(t)
        self.graph.replay()
        return self.static_out
