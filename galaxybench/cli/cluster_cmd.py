"""``galaxybench cluster slurm``: a Slurm batch script for a sweep; ``cluster wait``: its helper.

Usage::

    galaxybench cluster slurm --nodes 2 --gpus-per-node 4 --storage /shared/exp > sweep.sbatch
    sbatch sweep.sbatch
    galaxybench cluster wait --address 10.0.0.1:6379 --nodes 2     # inside the job
"""

from __future__ import annotations

import argparse
from typing import Any

from galaxybench.errors import InputError


def register(subparsers: Any) -> None:
    """Add ``cluster slurm`` and ``cluster wait``."""
    p = subparsers.add_parser(
        "cluster",
        help="run a sweep on a Slurm cluster (a batch script that starts Ray in the job)",
        description="Clusters that are not Ray's own.",
    )
    sub = p.add_subparsers(dest="cluster_command", metavar="COMMAND", parser_class=type(p))
    s = sub.add_parser(
        "slurm",
        help="print a batch script: Ray head and workers in the allocation, then the sweep",
        description="Print a Slurm batch script (submit it with sbatch). Arguments after -- "
        "are passed to `galaxybench sweep`.",
    )
    s.add_argument("--nodes", type=int, default=1, help="nodes (default: 1)")
    s.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per node (default: 0)")
    s.add_argument("--cpus", type=int, default=8, help="CPUs per node (default: 8)")
    s.add_argument("--time", default="12:00:00", help="time limit (default: 12:00:00)")
    s.add_argument("--partition", default=None, help="Slurm partition")
    s.add_argument("--account", default=None, help="Slurm account")
    s.add_argument("--space", default="default", help="search space (default: default)")
    s.add_argument("--data", default=None, help="Galaxy10 file or name (default: the sweep's)")
    s.add_argument(
        "--storage",
        default="experiments",
        help="experiments directory on storage every node sees (default: ./experiments, "
        "made absolute)",
    )
    s.add_argument("--name", default=None, help="experiment name (default: sweep-<space>-<job id>)")
    s.add_argument("--job-name", default="galaxybench", help="Slurm job name")
    s.add_argument("--port", type=int, default=6379, help="the Ray head's port (default: 6379)")
    s.add_argument(
        "--setup",
        default=None,
        help="shell line run first, e.g. 'module load cuda; . ~/venv/bin/activate' "
        "(default: activate the venv that runs this)",
    )
    s.add_argument("sweep_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    s.set_defaults(func=_slurm)
    w = sub.add_parser(
        "wait",
        help="wait until a Ray cluster has N nodes (used by the batch script)",
        description="Join the Ray cluster at --address and wait until --nodes nodes are alive.",
    )
    w.add_argument("--address", required=True, help="host:port of the Ray head")
    w.add_argument("--nodes", type=int, default=1, help="nodes to wait for (default: 1)")
    w.add_argument("--timeout", type=float, default=300.0, help="seconds (default: 300)")
    w.set_defaults(func=_wait)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _slurm(args: argparse.Namespace) -> int:
    from galaxybench.cluster.slurm import SlurmOptions, render_slurm

    extra = list(args.sweep_args)
    if extra and extra[0] != "--":
        raise InputError(f"unexpected argument {extra[0]!r}: put sweep options after --")
    extra = extra[1:]
    options = SlurmOptions(
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        cpus_per_node=args.cpus,
        time=args.time,
        partition=args.partition,
        account=args.account,
        space=args.space,
        data=args.data,
        storage=args.storage,
        name=args.name,
        job_name=args.job_name,
        port=args.port,
        setup=args.setup,
        sweep_args=tuple(extra),
    )
    print(render_slurm(options), end="")
    return 0


def _wait(args: argparse.Namespace) -> int:
    from galaxybench.cluster.slurm import wait_for_nodes

    alive = wait_for_nodes(args.address, args.nodes, args.timeout)
    print(f"{alive} Ray node(s) at {args.address}")
    return 0
