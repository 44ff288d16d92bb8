"""The one matplotlib style of every galaxybench figure, and its atomic PNG writer.

Figures are built on matplotlib's object API (``Figure``, no pyplot state, no display), and text
is never parsed as mathtext: class names and row names come from user data, and a stray ``$``
must print as itself instead of crashing the report.

Usage::

    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    save_figure(fig, out_dir / "plot.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.figure import Figure

from galaxybench.io import atomic_write

# Data-derived text is literal: no mathtext, no TeX.
RC = {"text.parse_math": False, "text.usetex": False, "font.size": 9, "axes.titlesize": 9}
DPI = 90


def new_figure(**kwargs: Any) -> Figure:
    """A Figure with constrained layout (no pyplot state)."""
    kwargs.setdefault("layout", "constrained")
    with rc_context(RC):
        return Figure(**kwargs)


def setup_matplotlib() -> Any:
    """The pyplot module on the Agg backend, for code that needs ``plt.subplots``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(RC)
    return plt


def save_figure(fig: Figure, path: str | Path, *, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG atomically, then release it."""
    with rc_context(RC):
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Path(path)
