"""Horizontal fusion: K networks of one shape trained as one batched network (``torch.func``).

The confirm phase trains the same networks again and again: every confirmation seed of a row, and
the baseline on every seed. At the paper's batch of 16 each of those steps is launch-bound on a
GPU. Fused, the K members' parameters are stacked along a new leading dimension
(``torch.func.stack_module_state``) and one ``vmap`` of ``functional_call`` runs all K forward and
backward passes with the kernels of one: K times the work per launch.

What stays per member, so that each member's result equals its unfused run (to float tolerance):

- its parameters and buffers (BatchNorm running statistics are stacked buffers, updated in place
  per member inside ``vmap``), and its weight initialisation (each member's network is built under
  its own seed before stacking);
- its optimizer state: Adam is elementwise, so one Adam over the stacked tensors is K Adams (the
  step count is shared, which is right while every member steps together; ``select`` drops a
  member that stops);
- its data, shuffles and noise: the caller draws each member's batch from that member's own
  generator, in the unfused order, and stacks the K batches;
- its loss: the summed loss of K independent members has, for each member, the gradient of that
  member's own loss.

Float tolerance, not bit identity: a batched convolution adds in another order. One family of
parameters differs more than that: a bias feeding straight into BatchNorm has a true gradient of 0,
so what it gets is rounding noise, which Adam's first steps scale up to +-lr either way. Those
biases do not change what the network computes (BatchNorm subtracts them), so tests compare the
networks' outputs, and the weights that have a gradient.

Usage::

    fused = FusedModules([build(seed) for seed in seeds])    # K same-shape modules
    opt = fused.adam(lr=1e-4, betas=(0.9, 0.999))
    out = fused(x)                                           # x: (K, B, ...) -> (K, ...)
    sum(loss_k(out[k]) for k in range(fused.k)).backward(); opt.step()
    fused.state_dict(k)                                      # member k, as model.state_dict()
    fused.optimizer_state(opt, k)                            # member k's Adam, as opt.state_dict()
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from galaxybench.stages._common import adam

__all__ = ["FusedModules"]


class FusedModules:
    """K modules of one architecture as stacked parameters and buffers, run with ``vmap``.

    ``models`` must share their architecture (same state-dict keys and shapes); they are not used
    after construction (their weights are copied). ``parameter_names`` keeps the order of
    ``model.parameters()``, which is the order an unfused optimizer's state indexes by.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        if not models:
            raise ValueError("FusedModules needs at least one module")
        shapes = [[(n, tuple(t.shape)) for n, t in m.state_dict().items()] for m in models]
        if any(s != shapes[0] for s in shapes[1:]):
            raise ValueError("fused modules must share one architecture")
        params, buffers = stack_module_state(list(models))
        self.params: dict[str, torch.Tensor] = {
            n: p.detach().clone().requires_grad_(True) for n, p in params.items()
        }
        self.buffers: dict[str, torch.Tensor] = {n: b.clone() for n, b in buffers.items()}
        self.parameter_names = [n for n, _ in models[0].named_parameters()]
        self._keys = list(models[0].state_dict().keys())
        # The architecture without storage: functional_call supplies every tensor.
        self.base = copy.deepcopy(models[0]).to("meta")
        self.training = True

    @property
    def k(self) -> int:
        """The number of members."""
        return next(iter(self.params.values())).shape[0]

    def train(self, mode: bool = True) -> FusedModules:
        """Train or eval mode for every member (BatchNorm batch vs running statistics)."""
        self.base.train(mode)
        self.training = mode
        return self

    def eval(self) -> FusedModules:
        return self.train(False)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Every member on its own inputs: each input is (K, ...) and member k reads index k."""

        def one(params: dict, buffers: dict, *args: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), args)

        return vmap(one)(self.params, self.buffers, *inputs)

    def member(self, k: int) -> FusedMember:
        """Member ``k`` as a callable on unbatched inputs (validation, inference), sharing the
        stacked tensors (no copy)."""
        return FusedMember(self, k)

    def parameters(self) -> list[torch.Tensor]:
        """The stacked parameters, in ``model.parameters()`` order."""
        return [self.params[n] for n in self.parameter_names]

    def adam(self, **kwargs: Any) -> torch.optim.Adam:
        """One Adam over the stacked parameters: per member, the unfused Adam (elementwise).

        On CUDA the fused kernel (one launch for every tensor) unless ``fused`` is given."""
        params = self.parameters()
        return adam(params, params[0].device, **kwargs)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s state dict (same keys and order as the unfused module's), CPU copies."""
        tensors = {**self.params, **self.buffers}
        return {n: tensors[n][k].detach().to("cpu", copy=True) for n in self._keys}

    def load_into(self, k: int, model: nn.Module) -> nn.Module:
        """Member ``k``'s weights loaded into an unfused ``model`` (returned)."""
        model.load_state_dict(self.state_dict(k))
        return model

    def optimizer_state(self, optimizer: torch.optim.Optimizer, k: int) -> dict[str, Any]:
        """Member ``k``'s slice of ``optimizer``'s state, in the format of an unfused optimizer
        over ``model.parameters()`` (``optimizer.state_dict()``): what a checkpoint stores."""
        full = optimizer.state_dict()
        state: dict[int, dict[str, Any]] = {}
        for i, per_param in full["state"].items():
            state[i] = {
                name: value.to("cpu", copy=True)
                if name == "step" or value.dim() == 0
                else value[k].detach().to("cpu", copy=True)
                for name, value in per_param.items()
            }
        return {"state": state, "param_groups": [dict(g) for g in full["param_groups"]]}

    def select(
        self, keep: Sequence[int], optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.Optimizer | None:
        """Keep only the members ``keep`` (in that order): a member that stopped training leaves
        the group, and the others go on exactly as before. Returns ``optimizer`` rebuilt over the
        kept slices with their Adam state, or None."""
        index = torch.as_tensor(list(keep), dtype=torch.long)
        saved = optimizer.state_dict() if optimizer is not None else None
        for n, p in self.params.items():
            self.params[n] = p.detach()[index.to(p.device)].clone().requires_grad_(True)
        for n, b in self.buffers.items():
            self.buffers[n] = b[index.to(b.device)].clone()
        if optimizer is None or saved is None:
            return None
        defaults = {
            key: value for key, value in saved["param_groups"][0].items() if key != "params"
        }
        rebuilt = type(optimizer)(self.parameters(), **defaults)
        for i, per_param in saved["state"].items():
            rebuilt.state[self.parameters()[i]] = {
                name: value.clone()
                if name == "step" or value.dim() == 0
                else value[index.to(value.device)].clone()
                for name, value in per_param.items()
            }
        return rebuilt


class FusedMember:
    """One member of a ``FusedModules``, called on unbatched inputs with the stacked tensors'
    slice ``k`` (no copy); it follows the group's train/eval mode."""

    def __init__(self, group: FusedModules, k: int) -> None:
        self.group, self.k = group, k

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        g = self.group
        params = {n: p[self.k] for n, p in g.params.items()}
        buffers = {n: b[self.k] for n, b in g.buffers.items()}
        return functional_call(g.base, (params, buffers), inputs)
