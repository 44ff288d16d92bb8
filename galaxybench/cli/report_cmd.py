"""``galaxybench report``, ``publish`` and ``leaderboard``: reports from stored results.

Usage: ``galaxybench report runs/default --out reports/default``; ``galaxybench publish``;
``galaxybench leaderboard --top 5``.
"""

from __future__ import annotations

import argparse
import json

from galaxybench.errors import InputError


def _report(args: argparse.Namespace) -> int:
    from galaxybench.report import build_report

    out = build_report(args.experiment_dir, args.out)
    if args.json:
        import pandas as pd

        prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
        board = pd.read_csv(out / "leaderboard.csv").to_json(orient="records")
        print(
            json.dumps(
                {
                    "report": str(out),
                    "index": str(out / "index.html"),
                    "headline": prov.get("headline"),
                    "leaderboard": json.loads(board),
                },
                indent=2,
            )
        )
        return 0
    print(f"report written to {out}/index.html")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from galaxybench.report import publish

    out = publish(args.reports)
    print(f"index written to {out}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from galaxybench.report import collect_reports
    from galaxybench.report.publish import display_index

    if args.top < 1:
        raise InputError(f"--top must be at least 1, got {args.top}")
    df = collect_reports(args.reports).head(args.top)
    if args.json:
        print(df.to_json(orient="records", indent=2))
        return 0
    shown = display_index(df, digits=3, terminal=True)
    # Text, not str, everywhere: names, rows and paths are user text, never rich markup.
    table = Table(
        title=Text(f"galaxybench leaderboards ({args.reports})"),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in shown.columns:
        text = column in ("Report", "Data", "Best row")
        # Names fold onto a second line rather than being cut: an 80-column terminal shows all.
        table.add_column(
            column,
            justify="left" if text else "right",
            overflow="fold",
            no_wrap=not text,
            ratio=1 if text else None,
        )
    for row in shown.itertuples(index=False):
        table.add_row(*(Text(str(v)) for v in row))
    Console().print(table)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report``, ``publish`` and ``leaderboard`` commands."""
    p = subparsers.add_parser("report", help="build a leaderboard report from stored results")
    p.add_argument(
        "experiment_dir",
        metavar="EXPERIMENT_DIR",
        help="a sweep's experiment directory (<storage>/<name>)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="report directory: new, empty or an earlier galaxybench report "
        "(default: reports/<experiment name>)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the report path, headline and leaderboard rows as JSON",
    )
    p.set_defaults(func=_report)

    p = subparsers.add_parser("publish", help="write reports/index.html listing every report")
    p.add_argument(
        "--reports",
        metavar="DIR",
        default="reports",
        help="folder of published reports (default: reports)",
    )
    p.set_defaults(func=_publish)

    p = subparsers.add_parser("leaderboard", help="print the top of the published reports")
    p.add_argument(
        "--reports",
        metavar="DIR",
        default="reports",
        help="folder of published reports (default: reports)",
    )
    p.add_argument("--top", metavar="N", type=int, default=10, help="rows to show (default 10)")
    p.add_argument(
        "--json", action="store_true", help="print the rows as JSON (all columns, machine-readable)"
    )
    p.set_defaults(func=_leaderboard)
