"""GitHub-flavoured Markdown tables (no ``tabulate`` dependency).

Usage: ``md_table(display_leaderboard(board))`` -> "| Rank | Row | ... |" lines.
"""

from __future__ import annotations

import pandas as pd


def inline(text: object) -> str:
    """Text for a Markdown heading or paragraph, with HTML-looking characters escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: object) -> str:
    # A pipe or a newline would end the cell; HTML-looking text is escaped so that a renderer
    # that allows inline HTML in Markdown shows it as text.
    return inline(str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " "))


def md_table(df: pd.DataFrame) -> str:
    """A Markdown table of ``df`` (cells as text), or "_(none)_" when it has no rows."""
    if df.empty:
        return "_(none)_\n"
    lines = [
        "| " + " | ".join(_cell(c) for c in df.columns) + " |",
        "|" + "|".join("---" for _ in df.columns) + "|",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"
