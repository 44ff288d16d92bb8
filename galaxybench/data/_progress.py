"""A rich progress bar that costs nothing when disabled (library code never prints otherwise).

Usage::

    with progress_bar(total_bytes, "sha256", enabled=progress, unit="bytes") as advance:
        advance(len(block))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(
    total: int | None, description: str, *, enabled: bool, unit: str = "items"
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; shows a transient rich bar on stderr when ``enabled``.

    Args:
        total: the amount of work (bytes or items); None when unknown.
        description: the label shown left of the bar.
        enabled: False gives a no-op ``advance``.
        unit: "bytes" shows sizes and transfer speed; anything else shows counts.
    """
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn()]
    if unit == "bytes":
        columns += [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns += [MofNCompleteColumn()]
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
