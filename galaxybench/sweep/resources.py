"""What one sweep trial holds, resolved against the Ray cluster the sweep joined (free of Ray).

A space fixes its GPU share (``resources: {gpu: 0.25}``, or ``--gpus-per-trial``), or leaves it to
the sweep: ``gpu: auto`` (or no ``gpu`` key). ``auto`` resolves against ``ray.cluster_resources()``,
never against the driver alone: Ray keeps a GPU request on a GPU-less cluster pending forever.

- No GPU in the cluster, ``--device cpu``, or (a private local Ray only) a torch without CUDA:
  ``gpu: 0``, every trial on the CPU.
- Otherwise each trial gets ``1 / trials_per_gpu`` of a GPU. ``trials_per_gpu`` is a space key
  (``resources: {cpu: 1, gpu: auto, trials_per_gpu: 4}``); without it, the trials that run at
  once (``search.max_concurrent``) are spread over the cluster's GPUs:
  ``trials_per_gpu = ceil(max_concurrent / GPUs)`` (2 trials on 1 GPU: 0.5 each; on 4 GPUs: 1).

The number of trials at once stays ``search.max_concurrent`` (``--max-concurrent``): the search's
outcome depends on it (TPE sees fewer finished trials when more run at once), so the hardware does
not change it; the line reports fewer when the cluster cannot hold that many.

Usage::

    resolved, used = resolve_resources(space, ray.cluster_resources(), device=None)
    print(used.line())   # resources: 2 trials at once x (1 CPU, 0.5 GPU) on 1 GPU
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from galaxybench.errors import InputError

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Resources:
    """What each trial holds and how many run at once, with the cluster's totals."""

    cpu: float
    gpu: float
    concurrent: int
    cluster_cpus: float
    cluster_gpus: float
    why_cpu: str = ""  # why the trials hold no GPU ("" when they hold some)

    def line(self) -> str:
        """One line: ``resources: 2 trials at once x (1 CPU, 0.5 GPU) on 1 GPU``."""
        head = f"resources: {self.concurrent} trial{'s' * (self.concurrent != 1)} at once"
        if self.gpu > 0:
            gpus = f"{self.cluster_gpus:g} GPU{'s' * (self.cluster_gpus != 1)}"
            return f"{head} x ({self.cpu:g} CPU, {self.gpu:g} GPU) on {gpus}"
        return f"{head} x {self.cpu:g} CPU; CPU only: {self.why_cpu}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _auto_share(space: Any, gpus: float) -> float:
    per_gpu = space.trials_per_gpu or math.ceil(space.search.max_concurrent / gpus)
    return 1.0 / max(1, per_gpu)


def _gpu_share(
    space: Any, gpus: float, device: str | None, driver_cuda: bool | None
) -> tuple[float, str]:
    """The GPU share of a trial and, when it is 0, why."""
    if device == "cpu":
        return 0.0, "--device cpu"
    if not space.gpu_auto and (space.gpu > 0 or device is None):
        return space.gpu, "the space asks for gpu: 0"
    # gpu: auto, or --device cuda on a space that asks for gpu: 0.
    if gpus <= 0 or driver_cuda is False:
        why = "this torch has no CUDA" if gpus > 0 else "the Ray cluster has no GPU"
        if device == "cuda":
            raise InputError(f"--device cuda requested but {why}: use --device cpu")
        why = f"no CUDA ({why})"
        return 0.0, why
    return _auto_share(space, gpus), ""


def resolve_resources(
    space: Any,
    cluster: Mapping[str, float],
    device: str | None = None,
    driver_cuda: bool | None = None,
) -> tuple[Any, Resources]:
    """The space with a fixed GPU share, and what the trials use.

    Args:
        space: a ``SearchSpace`` (``gpu_auto`` True when it leaves the share to the sweep).
        cluster: ``ray.cluster_resources()`` of the cluster the sweep joined.
        device: ``cpu`` forces the CPU; ``cuda`` asks for a GPU share even when the space says
            ``gpu: 0`` (InputError when the cluster has none); None: the space decides.
        driver_cuda: ``torch.cuda.is_available()`` when the sweep started its own local Ray
            (Ray may see a GPU that this torch cannot use); None on a cluster.
    """
    if device is not None and device not in DEVICES:
        raise InputError(f"--device {device!r}: use one of {', '.join(DEVICES)}")
    cpus, gpus = float(cluster.get("CPU", 0)), float(cluster.get("GPU", 0))
    share, why = _gpu_share(space, gpus, device, driver_cuda)
    resolved = dataclasses.replace(space, gpu=share, gpu_auto=False)
    fits = [space.search.max_concurrent]
    if space.cpu > 0 and cpus >= space.cpu:
        fits.append(int(cpus // space.cpu))
    if share > 0 and gpus >= share:
        fits.append(math.floor(round(gpus / share, 6)))
    used = Resources(space.cpu, share, max(1, min(fits)), cpus, gpus, "" if share else why)
    return resolved, used
