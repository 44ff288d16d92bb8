"""``galaxybench report``, ``publish`` and ``leaderboard``: reports from stored results.

Usage: ``galaxybench report runs/default --out reports/default``; ``galaxybench publish``;
``galaxybench leaderboard --top 5``.
"""

from __future__ import annotations

import argparse

from galaxybench.errors import InputError


def _report(args: argparse.Namespace) -> int:
    from galaxybench.report import build_report

    out = build_report(args.experiment_dir, args.out)
    print(f"report written to {out}/index.html")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from galaxybench.report import publish

    out = publish(args.reports)
    print(f"index written to {out}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from galaxybench.report import collect_reports
    from galaxybench.report.publish import display_index

    if args.top < 1:
        raise InputError(f"--top must be at least 1, got {args.top}")
    shown = display_index(collect_reports(args.reports).head(args.top))
    table = Table(title=f"galaxybench leaderboards ({args.reports})")
    for column in shown.columns:
        table.add_column(column, justify="left" if column in ("Report", "Best row") else "right")
    for row in shown.itertuples(index=False):
        # Text, not str: names and rows are user text, never rich markup
        table.add_row(*(Text(str(v)) for v in row))
    Console().print(table)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report``, ``publish`` and ``leaderboard`` commands."""
    p = subparsers.add_parser("report", help="build a leaderboard report from stored results")
    p.add_argument("experiment_dir", metavar="EXPERIMENT_DIR",
                   help="a sweep's experiment directory (<storage>/<name>)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="report directory (default: reports/<experiment name>)")
    p.set_defaults(func=_report)

    p = subparsers.add_parser("publish", help="write reports/index.html listing every report")
    p.add_argument("--reports", metavar="DIR", default="reports", help="default: reports")
    p.set_defaults(func=_publish)

    p = subparsers.add_parser("leaderboard", help="print the top of the published reports")
    p.add_argument("--reports", metavar="DIR", default="reports", help="default: reports")
    p.add_argument("--top", metavar="N", type=int, default=10, help="rows to show (default 10)")
    p.set_defaults(func=_leaderboard)
