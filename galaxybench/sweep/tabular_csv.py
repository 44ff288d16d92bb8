"""A tabular benchmark as CSV: a ``# provenance: {json}`` line, an optional note, then the rows.

Usage::

    write_table(table, "table.csv"); table = read_table("table.csv")
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from galaxybench import results
from galaxybench.errors import DataError
from galaxybench.io import atomic_write_text
from galaxybench.sweep.tabular_table import Table

_PREFIX = "# provenance: "


def write_table(table: Table, path: str | Path, note: str = "") -> None:
    """The CSV: a ``# provenance:`` JSON line, an optional ``# note:`` line, then the rows.
    Parameter cells are JSON (an int stays an int, a float reads back bit-for-bit)."""
    buf = io.StringIO()
    buf.write(_PREFIX + json.dumps(table.meta, default=str, sort_keys=True) + "\n")
    if note:
        buf.write("# note: " + " ".join(note.split()) + "\n")
    fields = list(table.rows[0])
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        writer.writerow({k: json.dumps(row[k]) if k in table.keys else row[k] for k in fields})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buf.getvalue())


_INT = ("rung", "gan_epochs_trained")
_TEXT = (results.CONFIG_ID, results.STATUS)


def read_table(path: str | Path) -> Table:
    """A table written by ``write_table``; DataError when it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a galaxybench table (binary, not UTF-8 text)") from None
    lines = text.splitlines()
    if not lines or not lines[0].startswith(_PREFIX):
        raise DataError(f"{path}: not a galaxybench table (no '# provenance:' first line)")
    meta = json.loads(lines[0][len(_PREFIX) :])
    body = [line for line in lines[1:] if not line.startswith("#")]
    rows = []
    for raw in csv.DictReader(body):
        row: dict[str, Any] = {}
        for k, v in raw.items():
            if k in meta["discretisation"]:
                row[k] = json.loads(v)
            elif k in _INT:
                row[k] = int(v)
            elif k in _TEXT:
                row[k] = v
            else:
                row[k] = float(v)
        rows.append(row)
    return Table(rows, meta)
