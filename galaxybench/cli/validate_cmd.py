"""``galaxybench validate``: the positive and negative controls and the minimum detectable effect.

A thin shell over ``galaxybench.api.run_validation``; registered by ``cli.sweep_cmd``.

Usage::

    galaxybench validate --space smoke --effect 0.05 --json
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``validate`` command."""
    p = subparsers.add_parser(
        "validate",
        help="positive and negative controls and the minimum detectable effect",
        description="Run the baseline and the controls (baseline against itself and on another "
        "seed; oracle upscaler and oracle rebalancer against the baseline) on the space's "
        "confirmation seeds, and print each paired difference, the minimum detectable effect "
        "and the seeds needed for --effect.",
    )
    p.add_argument("--data", default=None, help="Galaxy10-format file or name (default: embedded)")
    p.add_argument("--space", default="default", help="search space name or YAML path")
    p.add_argument(
        "--effect",
        type=float,
        default=0.05,
        help="minority-F1 difference to give the seeds needed for (default 0.05)",
    )
    p.add_argument("--name", default=None, help="experiment name (default validate-SPACE-TIME)")
    p.add_argument("--storage", default=None, help="where experiments live (default experiments/)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a private local Ray")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="force the device")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    from galaxybench.api import run_validation
    from galaxybench.io import strict_json_dumps
    from galaxybench.report.controls import control_lines

    out = run_validation(
        args.space,
        args.data,
        effect=args.effect,
        name=args.name,
        storage=args.storage,
        num_cpus=args.num_cpus,
        device=args.device,
    )
    if args.json:
        print(strict_json_dumps(out, indent=2, sort_keys=True, default=str))
    else:
        print(f"experiment: {out['experiment_dir']} ({out['seconds']:.0f} s)")
        for line in control_lines(out):
            print(line)
    if not out["negative_exact"]:
        print("error: the baseline against itself is not exactly 0", file=sys.stderr)
    elif out["exit_code"]:
        print("error: a phase produced no usable result", file=sys.stderr)
    return int(out["exit_code"])
