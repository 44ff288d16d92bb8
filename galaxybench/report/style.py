"""The one way galaxybench writes a figure: text kept literal, PNG written atomically.

Labels carry data-derived strings (class and row names), in which a ``$`` would otherwise start
mathtext and can crash the render, so every text of a figure is made literal right before it is
saved (``plain_text``): that covers labels set by any code, matplotlib's or Optuna's.

Usage::

    save_figure(fig, out_dir / "plot.png")              # report figures
    save_figure(fig, out_dir / "grid.png", tight=True)  # image grids, trimmed to their content
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.text import Text

from galaxybench.io import atomic_write

DPI = 90


def plain_text(fig: Figure) -> Figure:
    """Turn off mathtext on every text of ``fig``; returns ``fig``."""
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig


def setup_matplotlib() -> Any:
    """The pyplot module on the Agg backend, for code that needs ``plt.subplots``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | Path, *, dpi: int = DPI, tight: bool = False) -> Path:
    """Write ``fig`` as a PNG atomically with literal text, then release a pyplot figure."""
    plain_text(fig)
    kwargs = {"bbox_inches": "tight"} if tight else {}
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, **kwargs))
    import matplotlib.pyplot as plt

    plt.close(fig)  # a no-op for a Figure pyplot does not manage
    return Path(path)
