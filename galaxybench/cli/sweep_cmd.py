"""``galaxybench sweep`` and ``galaxybench ablate``: Ray Tune runs with a live progress view.

Usage::

    galaxybench sweep                                   # embedded default space, local Ray
    galaxybench sweep --space paper --address auto --storage /shared/exp --gpus-per-trial 0.25
    galaxybench sweep --name NAME --storage DIR --resume
    galaxybench ablate --space smoke --set cgan.lr=1.0e-3
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import time
from typing import Any

from galaxybench import paths, results
from galaxybench.errors import InputError


def _add_common(p: argparse.ArgumentParser, default_name: str) -> None:
    p.add_argument(
        "--space",
        default=None,
        help="search space: a built-in name (default, paper, paper-grid, smoke) or a "
        "YAML file (default: default)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="PATH_OR_NAME",
        help="Galaxy10 file or name (default: a downloaded file, else the embedded set)",
    )
    p.add_argument(
        "--name",
        default=None,
        help=f"experiment name (default: {default_name}-<space>-<date-time>)",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="where experiments live; a shared path on a cluster (default: experiments/ in "
        "the project folder: $GALAXYBENCH_PROJECT, else the nearest folder upward with .git, "
        "pyproject.toml or galaxybench results, else the current one)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join ('auto' or host:port; default: $RAY_ADDRESS, else a "
        "private local Ray)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a base config key (repeatable)",
    )
    from galaxybench.cli.data_cmd import add_remap_labels_option  # -> data.remap_labels

    add_remap_labels_option(p, "overrides")
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=None,
        help="GPUs per trial; a fraction packs trials on one GPU (default: the space's)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="cpu: every trial on the CPU; cuda: a GPU share even if the space says gpu: 0 "
        "(default: the space's; gpu: auto takes a share when the Ray cluster has GPUs)",
    )
    p.add_argument("--max-concurrent", type=int, default=None, help="trials at once")
    p.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="CPUs of the local Ray (default: all of this machine's)",
    )
    p.add_argument(
        "--tracker",
        dest="trackers",
        action="append",
        default=[],
        choices=("mlflow", "wandb", "tensorboard"),
        help="also log every trial to an experiment tracker (repeatable): mlflow "
        "($MLFLOW_TRACKING_URI, else <experiment>/mlflow.db), wandb ($WANDB_MODE=offline "
        "keeps it local), tensorboard (event files under the experiment)",
    )
    p.add_argument("--no-report", action="store_true", help="skip building the report")
    p.add_argument(
        "--reports",
        default=None,
        metavar="DIR",
        help="publish the report as DIR/<name>/ and refresh DIR/index.html, where "
        "`galaxybench leaderboard` and `publish` look (default: reports/ in the project "
        "folder, beside experiments/)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--log-file",
        default=None,
        metavar="PATH",
        help="also write the progress log (one line per event) to PATH, appended; off a "
        "terminal (nohup, a batch job) these lines go to stderr anyway",
    )
    p.add_argument(
        "--progress-every",
        type=float,
        default=5.0,
        metavar="MIN",
        help="a summary line with an estimate of the time left every MIN minutes in the "
        "progress log (default: 5; 0: none)",
    )


def register(subparsers: Any) -> None:
    """Add the ``sweep`` and ``ablate`` commands."""
    p = subparsers.add_parser(
        "sweep",
        help="baseline -> search -> confirm -> report on Ray Tune",
        description="Run a hyperparameter sweep on Ray Tune.",
    )
    _add_common(p, "sweep")
    p.add_argument("--num-samples", type=int, default=None, help="search trials (default: space's)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the experiment --name in --storage (finished phases skipped)",
    )
    p.set_defaults(func=_sweep)
    a = subparsers.add_parser(
        "ablate",
        help="ablation and classical rows of one config over seeds",
        description="Run the ablation grid of the space's base config "
        "(with --set) on the confirmation seeds.",
    )
    _add_common(a, "ablate")
    a.set_defaults(func=_ablate, resume=False, num_samples=None)


def _space(args: argparse.Namespace, mode: str) -> Any:
    from galaxybench.config import parse_override
    from galaxybench.sweep.space import load_search_space, unread_settings

    if args.device == "cpu" and args.gpus_per_trial:
        raise InputError("--device cpu and --gpus-per-trial > 0 contradict: choose one")
    space = load_search_space(args.space or "default").with_options(
        overrides=args.overrides,
        gpus_per_trial=args.gpus_per_trial,
        num_samples=args.num_samples,
        max_concurrent=args.max_concurrent,
        fix_params=mode == "ablate",
    )
    keys = [parse_override(text)[0] for text in args.overrides]
    for line in unread_settings(space, keys):
        print(f"warning: {line}", file=sys.stderr)
    return space


class _View:
    """A rich live line per phase: done/running/failed, best so far, elapsed."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.phases: dict[str, dict[str, Any]] = {}

    def __call__(self, snap: dict[str, Any]) -> None:
        from rich.table import Table

        self.phases[snap[results.PHASE]] = snap
        table = Table(box=None, header_style="bold")
        for col in (
            results.PHASE,
            "done",
            "running",
            "pending",
            "failed",
            f"best {results.OBJECTIVE}",
            "elapsed",
        ):
            table.add_column(col, justify="right" if col != results.PHASE else "left")
        for phase, s in self.phases.items():
            best = "-" if s.get("best") is None else f"{s['best']:.4f}"
            table.add_row(
                phase,
                str(s["done"]),
                str(s["running"]),
                str(s["pending"]),
                str(s["failed"]),
                best,
                f"{s['elapsed_s']:.0f} s",
            )
        self.live.update(table)


def _row_line(row: str, r: dict[str, Any]) -> str:
    """One confirm row: ok/diverged/failed counts, its score over the ok runs, and the reasons."""
    trials = r.get("trials", r["n"])
    counts = f"ok {r['n']}/{trials}  diverged {r.get('diverged', 0)}  failed {r.get('failed', 0)}"
    score = r.get(results.MINORITY_F1)
    text = f"  {row:12s} {counts}  " + (
        f"test {results.MINORITY_F1} {score:.4f} (n={r['n']})" if score is not None else "no result"
    )
    reasons = r.get("reasons") or {}
    if reasons:
        text += ": " + "; ".join(
            reason + (f" (x{n})" if n > 1 else "") for reason, n in reasons.items()
        )
    return text


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    from galaxybench.io import strict_json_dumps

    if as_json:
        print(strict_json_dumps(summary, indent=2, sort_keys=True, default=str))
        return
    print(f"experiment: {summary['experiment_dir']} ({summary['seconds']:.0f} s)")
    for phase, s in summary["phases"].items():
        print(
            f"  {phase:9s} trials {s['trials']:3d}  ok {s['ok']:3d}  diverged {s['diverged']:2d}"
            f"  failed {s['failed']:2d}  pruned {s['pruned']:2d}  {s['seconds']:.0f} s"
        )
    best = summary.get("best")
    if best:
        print(
            f"best search trial {best['trial_id']}: "
            f"{results.OBJECTIVE} {best[results.OBJECTIVE]:.4f}"
        )
    for row, r in summary.get("rows", {}).items():
        print(_row_line(row, r))
    if summary.get("failed"):
        print(f"{summary['failed']} trial(s) failed: see results/*.jsonl (status, reason)")
    trackers = summary.get("trackers") or {}
    for tracker, where in trackers.items():
        print(f"{tracker}: {where}")
    if summary.get("report"):
        print(f"report: {summary['report']}")
    elif summary.get("report_error"):
        print(f"no report: {summary['report_error']}")
    failed = summary.get("search_failed")
    if failed:  # exit status 4: the report holds the baseline, classical and oracle rows
        why = ", ".join(f"{n} {reason}" for reason, n in failed["reasons"].items())
        print(f"{failed['message']}: {why}", file=sys.stderr)
    elif summary["exit_code"]:
        print("a phase produced no usable result", file=sys.stderr)


def _execute(args: argparse.Namespace, mode: str) -> int:
    from galaxybench.cli.sweep_log import open_sweep_log
    from galaxybench.report import publish_experiment
    from galaxybench.sweep import run_experiment

    if args.resume and not args.name:
        raise InputError("--resume needs the --name of the experiment to continue")
    space = None if args.resume else _space(args, mode)
    stem = (args.space or "default").split("/")[-1].removesuffix(".yaml")
    # An empty --name is refused by run_experiment, not replaced by the default.
    name = args.name if args.name is not None else f"{mode}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    view = _View()
    terminal = view.console.is_terminal
    with contextlib.ExitStack() as stack:
        stack.push(functools.partial(_resume_hint, args, mode, name))  # runs last
        # Off a terminal the progress is the log's lines (cli.sweep_log), not the live table.
        log = open_sweep_log(stack, args.log_file, args.progress_every, terminal, sys.stderr)
        if terminal:
            stack.enter_context(view.live)
        summary = run_experiment(
            space,
            name=name,
            storage=paths.experiments_dir() if args.storage is None else args.storage,
            mode=mode,
            data_source=args.data,
            address=args.address,
            resume=args.resume,
            num_cpus=args.num_cpus,
            progress=view if log is None else log.sink(view if terminal else None),
            events=None if log is None else log.event,
            report=not args.no_report,
            trackers=tuple(args.trackers),
            publish=functools.partial(
                publish_experiment,
                reports_dir=paths.reports_dir() if args.reports is None else args.reports,
            ),
            device=args.device,
            announce=functools.partial(print, file=sys.stderr, flush=True),
        )
        if log is not None:
            log.sweep_end(summary)
    _print_summary(summary, args.json)
    return int(summary["exit_code"])


def resume_command(args: argparse.Namespace, name: str) -> str:
    """The exact command line that continues the sweep ``name`` started with ``args``."""
    import shlex
    from pathlib import Path

    storage = paths.experiments_dir() if args.storage is None else args.storage
    storage = str(Path(storage).expanduser().resolve())
    argv = ["galaxybench", "sweep", "--name", name, "--storage", storage, "--resume"]
    options = (
        ("--address", args.address),
        ("--num-cpus", args.num_cpus),
        ("--device", getattr(args, "device", None)),
        ("--log-file", getattr(args, "log_file", None)),
    )
    for flag, value in options:
        if value is not None:
            argv += [flag, str(Path(value).resolve()) if flag == "--log-file" else str(value)]
    argv += [a for t in args.trackers for a in ("--tracker", t)]
    if args.reports is not None:
        argv += ["--reports", str(Path(args.reports).expanduser().resolve())]
    argv += ["--no-report"] * args.no_report + ["--json"] * args.json
    return shlex.join(argv)


def _resume_hint(args: argparse.Namespace, mode: str, name: str, exc_type: Any, *_: Any) -> bool:
    """After Ctrl-C or SIGTERM: how to continue (a sweep whose sweep.yaml was written)."""
    if mode == "sweep" and exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
        from pathlib import Path

        storage = paths.experiments_dir() if args.storage is None else args.storage
        if (Path(storage).expanduser().resolve() / name / "sweep.yaml").is_file():
            print(f"resume with: {resume_command(args, name)}", file=sys.stderr)
    return False


def _sweep(args: argparse.Namespace) -> int:
    return _execute(args, "sweep")


def _ablate(args: argparse.Namespace) -> int:
    return _execute(args, "ablate")
