"""``galaxybench report``, ``publish`` and ``leaderboard``: reports from stored results.

Usage: ``galaxybench report runs/default --out reports/default``; ``galaxybench publish``;
``galaxybench leaderboard --top 5``.
"""

from __future__ import annotations

import argparse
import json

from galaxybench import paths
from galaxybench.errors import InputError
from galaxybench.io import strict_json_dumps

REPORTS_HELP = (
    "folder of published reports (default: reports/ in the project folder: $GALAXYBENCH_PROJECT, "
    "else the nearest folder upward with .git, pyproject.toml or galaxybench results, else "
    "the current one; where `galaxybench sweep` publishes)"
)


def _report(args: argparse.Namespace) -> int:
    from galaxybench.report import build_report

    out = build_report(args.experiment_dir, args.out)
    if args.json:
        import pandas as pd

        prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
        board = pd.read_csv(out / "leaderboard.csv").to_json(orient="records")
        print(
            strict_json_dumps(
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

    out = publish(args.reports)  # None: the project's reports/
    print(f"index written to {out}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    from galaxybench.report import collect_reports
    from galaxybench.report.publish import display_index

    if args.top < 1:
        raise InputError(f"--top must be at least 1, got {args.top}")
    reports = paths.reports_dir() if args.reports is None else args.reports
    df = collect_reports(reports).head(args.top)
    if args.json:
        print(df.to_json(orient="records", indent=2))
        return 0
    shown = display_index(df, digits=3, terminal=True)
    # Text, not str, everywhere: names, rows and paths are user text, never rich markup.
    table = Table(
        title=Text(f"galaxybench leaderboards ({reports})"),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    longest = max((len(str(v)) for v in shown["Report"]), default=0)
    for column in shown.columns:
        text = column in ("Data", "Best row")
        # The report's name stays on one line, whole, to be copied into `galaxybench report`;
        # data and row names fold onto a second line rather than being cut.
        table.add_column(
            column,
            justify="left" if text or column == "Report" else "right",
            overflow="ignore" if column == "Report" else "fold",
            no_wrap=not text,
            ratio=1 if text else None,
            min_width=longest if column == "Report" else None,
        )
    for row in shown.itertuples(index=False):
        table.add_row(*(Text(str(v)) for v in row))
    console = Console()
    # A name longer than the terminal allows: the table's natural width rather than a cut name or
    # a dropped column (the terminal wraps the long lines; a name copied from them is whole).
    wide = Measurement.get(console, console.options.update_width(10_000), table)
    if wide.minimum > console.width:
        console = Console(width=wide.maximum)
    console.print(table)
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
        "(default: reports/<experiment name> in the project folder, where `leaderboard` looks)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the report path, headline and leaderboard rows as JSON",
    )
    p.set_defaults(func=_report)

    p = subparsers.add_parser("publish", help="write reports/index.html listing every report")
    p.add_argument("--reports", metavar="DIR", default=None, help=REPORTS_HELP)
    p.set_defaults(func=_publish)

    p = subparsers.add_parser("leaderboard", help="print the top of the published reports")
    p.add_argument("--reports", metavar="DIR", default=None, help=REPORTS_HELP)
    p.add_argument("--top", metavar="N", type=int, default=10, help="rows to show (default 10)")
    p.add_argument(
        "--json", action="store_true", help="print the rows as JSON (all columns, machine-readable)"
    )
    p.set_defaults(func=_leaderboard)
