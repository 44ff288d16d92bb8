"""Self-contained HTML: inline CSS, figures embedded as base64 PNG, every string escaped.

Usage: ``page("Report: default", [section("Leaderboard", table(df, "leaderboard"))])``.

Nothing here loads an external resource, and every piece of text that reaches the page (table
cells, headers, captions, YAML, names) goes through ``html.escape``: a config value such as
``<script>`` is shown as text and never becomes markup.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f0f0f0}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}
figure{display:inline-block;margin:1em;vertical-align:top}
figure img{max-width:640px}figcaption{font-size:12px;color:#555}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}
.note{color:#a15c00}.scroll{overflow-x:auto}.finding{font-weight:600}
details{margin:.5em 0}summary{cursor:pointer}
"""


def esc(text: object) -> str:
    """``html.escape`` of ``str(text)``, quotes included (safe in attributes too)."""
    return html.escape(str(text), quote=True)


def table(df: pd.DataFrame, table_id: str) -> str:
    """An HTML table of ``df`` (all cells and headers escaped); a note when it has no rows."""
    if df.empty:
        return '<p class="note">(none)</p>'
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>\n"
        for row in df.itertuples(index=False)
    )
    # The wrapper scrolls a wide leaderboard sideways instead of widening the page.
    return (
        f'<div class="scroll"><table id="{esc(table_id)}">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}</tbody>\n</table></div>"
    )


def figure(path: Path, caption: str) -> str:
    """A PNG embedded as a data URI with its escaped caption."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def paragraph(text: str, cls: str = "") -> str:
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


def preformatted(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def section(title: str, *parts: str, section_id: str = "") -> str:
    """An ``<h2>`` titled section of already-rendered (escaped) parts."""
    attr = f' id="{esc(section_id)}"' if section_id else ""
    return f"<section{attr}>\n<h2>{esc(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def page(title: str, sections: list[str], subtitle: str = "") -> str:
    """A complete HTML document; ``sections`` are already rendered by the helpers above."""
    sub = paragraph(subtitle) if subtitle else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{sub}\n" + "\n".join(sections) + "\n</body></html>\n"
    )
