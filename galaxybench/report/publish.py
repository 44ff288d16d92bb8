"""The index of published reports: ``reports/index.html`` and the terminal leaderboard.

Usage: ``publish_experiment("experiments/default")`` -> ``reports/default/`` and the index;
``publish("reports")`` -> ``reports/index.html``; ``collect_reports("reports").head(10)``.

Each report directory holds ``leaderboard.csv`` and ``provenance.json`` (written by
``build_report``); the index shows one row per report, newest first, then best gain first.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from galaxybench import paths, results
from galaxybench.errors import InputError
from galaxybench.io import atomic_write_text
from galaxybench.report import display, html

log = logging.getLogger(__name__)

HOW_TO_MAKE_ONE = (
    "run `galaxybench sweep --space smoke` to make one, or "
    "`galaxybench report EXPERIMENT_DIR` for an existing experiment"
)
INDEX_TITLE = "galaxybench leaderboards"  # the index page's title: how publish knows its own file

INDEX_COLUMNS = [
    "name",
    "date",
    "data",
    "best_row",
    "gain_mean",
    "gain_ci_low",
    "gain_ci_high",
    "minority_f1_mean",
    "n",
    "finding",
]


def _report_entry(report: Path) -> dict[str, Any] | None:
    """Headline numbers of one report directory, or None when it is not a report."""
    board_csv, prov_json = report / "leaderboard.csv", report / "provenance.json"
    if not (board_csv.is_file() and prov_json.is_file()):
        return None
    try:
        prov = json.loads(prov_json.read_text(encoding="utf-8"))
        board = pd.read_csv(board_csv)
    except (
        json.JSONDecodeError,
        UnicodeDecodeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as exc:
        log.warning("skipping %s: unreadable (%s)", report, exc)
        return None
    if board.empty or results.ROW not in board.columns:
        return None
    board = board.sort_values("rank")
    # The headline is the best method: the baseline and the oracle (an upper bound) are references.
    methods = board[board.get("role", pd.Series("", index=board.index)).fillna("") == ""]
    top = (methods if len(methods) else board).iloc[0]
    fingerprints = prov.get("data_fingerprints") or []
    # The data by name; an older report without one shows its fingerprint, marked as such.
    data = (
        prov.get("data")
        or prov.get("data_source")
        or (f"unnamed ({str(fingerprints[0])[:12]})" if fingerprints else None)
    )
    finding = (prov.get("headline") or {}).get("finding") or ""
    return {
        "name": report.name,
        "date": str(prov.get("generated_at") or ""),
        "data": data,
        "best_row": str(top[results.ROW]),
        **{k: top.get(k, math.nan) for k in INDEX_COLUMNS[4:-1]},
        "finding": finding.removeprefix("Finding: "),
    }


def collect_reports(reports_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per report under ``reports_dir``, newest first, then highest gain first.

    ``reports_dir`` None: the project's ``reports/`` (``galaxybench.paths.reports_dir``).

    Raises:
        InputError: ``reports_dir`` does not exist or holds no report.
    """
    root = paths.reports_dir() if reports_dir is None else Path(reports_dir)
    if root.exists() and not root.is_dir():
        raise InputError(
            f"{root} is a file, not a reports folder; pass the folder reports are published in"
        )
    if not root.is_dir():
        raise InputError(f"no reports yet in {root} (no such folder); {HOW_TO_MAKE_ONE}")
    entries = [
        e
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith(".") and (e := _report_entry(d)) is not None
    ]
    if not entries:
        raise InputError(f"no reports yet in {root}; {HOW_TO_MAKE_ONE}")
    df = pd.DataFrame(entries, columns=INDEX_COLUMNS)
    # ISO-8601 UTC timestamps sort as text; NaN gains sort last.
    df = df.sort_values(
        ["date", "gain_mean"], ascending=[False, False], na_position="last", kind="mergesort"
    )
    return df.reset_index(drop=True)


def display_index(df: pd.DataFrame, digits: int = 4, *, terminal: bool = False) -> pd.DataFrame:
    """The index as strings: name, date, data, best row, gain with its interval, n.

    ``terminal`` drops the date and the minority F1 so that the table fits 80 columns.
    """
    out = []
    for _, r in df.iterrows():
        entry = {
            "Report": str(r["name"]),
            "Date": str(r["date"])[:10],
            "Data": display.value(r["data"]),
            "Best row": str(r["best_row"]),
            "Minority F1": display.number(r["minority_f1_mean"], digits),
            "Δ vs baseline": display.number(r["gain_mean"], digits, sign=True),
            "Δ 95% t-CI": display.interval(
                r["gain_ci_low"], r["gain_ci_high"], r["n"], digits=digits, sign=True
            ),
            "n": display.value(r["n"]),
            "Finding": str(r["finding"] or ""),
        }
        if terminal:
            entry = {k: v for k, v in entry.items() if k not in ("Date", "Minority F1", "Finding")}
            entry["Δ"] = entry.pop("Δ vs baseline")
            entry["95% t-CI"] = entry.pop("Δ 95% t-CI")
            entry["n"] = entry.pop("n")
        out.append(entry)
    return pd.DataFrame(out)


def publish_experiment(
    exp_dir: str | Path, reports_dir: str | Path | None = None, name: str | None = None
) -> Path:
    """Build the report of ``exp_dir`` into ``<reports_dir>/<name>/`` and refresh the index.

    ``name`` defaults to the experiment's directory name and must be one path component. Returns
    the report directory; ``<reports_dir>/index.html`` then lists it.

    Raises:
        InputError: a bad name, or whatever ``build_report`` refuses.
    """
    from galaxybench.report.build import build_report

    name = Path(exp_dir).expanduser().resolve().name if name is None else name
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise InputError(f"report name must be one plain path component, got {name!r}")
    root = paths.reports_dir() if reports_dir is None else Path(reports_dir)
    out = build_report(exp_dir, root / name)
    publish(root)
    return out


def _check_index(index: Path) -> None:
    """Refuse to overwrite an ``index.html`` that is not galaxybench's own index page."""
    if index.is_symlink() or index.is_dir():
        raise InputError(f"{index} is not a file galaxybench wrote; move it away to publish here")
    if index.is_file():
        head = index.read_bytes()[:4096].decode("utf-8", "replace")
        if f"<title>{INDEX_TITLE}</title>" not in head:
            raise InputError(
                f"{index} exists and is not a galaxybench index; move it away, or choose "
                "another reports folder (--reports DIR)"
            )


def publish(reports_dir: str | Path | None = None) -> Path:
    """Write ``<reports_dir>/index.html`` listing every report; returns its path.

    ``reports_dir`` None: the project's ``reports/``. An ``index.html`` there that galaxybench did
    not write is refused (InputError), never overwritten.
    """
    root = paths.reports_dir() if reports_dir is None else Path(reports_dir)
    df = collect_reports(root)
    shown = display_index(df)
    links = "".join(
        f'<li><a href="{html.esc(quote(name))}/index.html">{html.esc(name)}</a></li>'
        for name in df["name"]
    )
    body = [
        html.section(
            "Published leaderboards",
            html.paragraph(
                "One row per report: its best confirmed row and that row's minority-F1 gain "
                "over the baseline (paired by seed and split, 95% t-interval over n seeds). "
                "Newest first, then best first."
            ),
            html.table(shown, "reports"),
            f"<ul>{links}</ul>",
        )
    ]
    out = root / "index.html"
    _check_index(out)
    atomic_write_text(out, html.page(INDEX_TITLE, body))
    log.info("index of %d reports written to %s", len(df), out)
    return out
