"""A Slurm batch script that starts Ray inside the allocation and runs a sweep on it.

The script (``slurm.sbatch`` beside this module, filled in by ``render_slurm``) follows Ray's Slurm
guide: ``ray start --head`` on the first node of ``scontrol show hostnames``, ``ray start
--address`` on the others, each through ``srun ... --block &``, then ``galaxybench sweep
--address HEAD:PORT --storage SHARED``. Every node binds its own IP; the dashboard is off and bound
to 127.0.0.1; the Ray token is read at run time from a file (``RAY_AUTH_TOKEN_PATH``), never
written into the script. ``wait_for_nodes`` is what the script calls (``galaxybench cluster wait``)
before the sweep, so that ``gpu: auto`` sees every node's GPUs.

Usage::

    text = render_slurm(SlurmOptions(nodes=2, gpus_per_node=4, storage="/shared/experiments"))
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from galaxybench.errors import InputError

# Values written into #SBATCH lines, which Slurm reads without shell quoting.
_SBATCH_TOKEN = re.compile(r"[A-Za-z0-9_.,:+-]+")
_TIME = re.compile(r"(\d+-)?\d+(:\d+){0,2}")
_STEM = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class SlurmOptions:
    """What the batch script asks Slurm for and what it sweeps (see ``galaxybench cluster slurm``).

    ``storage`` must be a path every node sees (it is made absolute here); ``name`` None names the
    experiment ``sweep-<space>-<job id>``, so a requeued job (same id) resumes it. ``setup`` runs
    first on the batch node and, inherited through srun, sets the environment of every node (a
    ``module load`` and a venv's ``activate``; None: the venv that runs this, if any).
    """

    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_node: int = 8
    time: str = "12:00:00"
    partition: str | None = None
    account: str | None = None
    space: str = "default"
    data: str | None = None
    storage: str = "experiments"
    name: str | None = None
    job_name: str = "galaxybench"
    port: int = 6379
    setup: str | None = None
    sweep_args: tuple[str, ...] = field(default_factory=tuple)


def _check(options: SlurmOptions) -> None:
    """One InputError per bad option, naming it."""
    o = options
    for flag, value, low in (("--nodes", o.nodes, 1), ("--cpus", o.cpus_per_node, 1)):
        if value < low:
            raise InputError(f"{flag} must be >= {low} (got {value})")
    if o.gpus_per_node < 0:
        raise InputError(f"--gpus-per-node must be >= 0 (got {o.gpus_per_node})")
    if not 1024 <= o.port <= 65535:
        raise InputError(f"--port must be in 1024..65535 (got {o.port})")
    if not _TIME.fullmatch(o.time):
        raise InputError(f"--time {o.time!r} is not a Slurm time: use HH:MM:SS or D-HH:MM:SS")
    for flag, value in (
        ("--partition", o.partition),
        ("--account", o.account),
        ("--job-name", o.job_name),
    ):
        if value is not None and not _SBATCH_TOKEN.fullmatch(value):
            raise InputError(f"{flag} {value!r}: use letters, digits and _ . , : + - only")


def _default_setup() -> str:
    if sys.prefix != sys.base_prefix:  # running from a virtual environment: activate it there
        return f". {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}"
    return "# module load ...; . /path/to/venv/bin/activate   (galaxybench and ray on PATH)"


def _name_expr(options: SlurmOptions) -> str:
    if options.name is not None:
        from galaxybench.sweep.experiment import check_name

        return shlex.quote(check_name(options.name))
    stem = Path(options.space).name.removesuffix(".yaml").removesuffix(".yml")
    return f'"sweep-{_STEM.sub("-", stem) or "space"}-${{SLURM_JOB_ID}}"'


def _sweep_args(options: SlurmOptions) -> str:
    space = options.space
    if Path(space).exists():  # a file: the job may start in another directory
        space = str(Path(space).resolve())
    args = ["--space", space]
    if options.data is not None:
        data = options.data
        args += ["--data", str(Path(data).resolve()) if Path(data).exists() else data]
    return " ".join(shlex.quote(a) for a in [*args, *options.sweep_args])


def render_slurm(options: SlurmOptions) -> str:
    """The batch script's text; InputError (one line) for a bad option."""
    _check(options)
    o = options
    lines = {
        "@GPU_LINE@": f"#SBATCH --gres=gpu:{o.gpus_per_node}" if o.gpus_per_node else "",
        "@PARTITION_LINE@": f"#SBATCH --partition={o.partition}" if o.partition else "",
        "@ACCOUNT_LINE@": f"#SBATCH --account={o.account}" if o.account else "",
    }
    values = {
        "@JOB_NAME@": o.job_name,
        "@NODES@": str(o.nodes),
        "@CPUS@": str(o.cpus_per_node),
        "@TIME@": o.time,
        "@GPUS@": str(o.gpus_per_node),
        "@PORT@": str(o.port),
        "@STORAGE@": shlex.quote(str(Path(o.storage).expanduser().resolve())),
        "@NAME@": _name_expr(o),
        "@SETUP@": o.setup if o.setup is not None else _default_setup(),
        "@SWEEP_ARGS@": _sweep_args(o),
    }
    template = (resources.files("galaxybench") / "cluster" / "slurm.sbatch").read_text()
    out = []
    for line in template.splitlines():
        if line in lines:
            if lines[line]:
                out.append(lines[line])
            continue
        for key, value in values.items():
            line = line.replace(key, value)
        out.append(line)
    return "\n".join(out) + "\n"


def wait_for_nodes(address: str, nodes: int, timeout_s: float = 300.0) -> int:
    """Wait until the Ray cluster at ``address`` has ``nodes`` live nodes; their count.

    InputError (one line) when the head cannot be reached or the nodes do not join in time.
    """
    from galaxybench.sweep import ray_backend

    return ray_backend.wait_for_nodes(address, nodes, timeout_s)
