"""The one text-table formatter and the one regret plot, shared by the command line and
:mod:`regretless.experiment` (neither needs pyarrow; the plot needs matplotlib)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Curve", "format_table", "plot_curves"]

PLOT_HINT = "plots need matplotlib: pip install 'regretless[plot]'"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """Aligned columns under a rule: the first ``left`` columns are left-aligned (labels),
    the others right-aligned (numbers).

    >>> print(format_table(("policy", "regret"), [("UCB1", "12.5"), ("TS", "3.0")]))
    policy  regret
    ------  ------
    UCB1      12.5
    TS         3.0
    """
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        cells = [
            c.ljust(w) if j < left else c.rjust(w)
            for j, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@dataclass(frozen=True)
class Curve:
    """One policy's mean cumulative regret and its standard error at ``steps``."""

    label: str
    steps: np.ndarray
    mean: np.ndarray
    se: np.ndarray


# Tableau's ten colours, then darker or distinct ones, each with its own marker and line
# style, so that neighbouring curves differ in three ways (and in greyscale). 28 colours
# against 18 markers: no two of the first 252 curves share both.
_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#000080",
    "#808000",
    "#800000",
    "#008080",
    "#4b0082",
    "#ff1493",
    "#b8860b",
    "#2f4f4f",
    "#ff4500",
    "#4682b4",
    "#9acd32",
    "#c71585",
    "#a0522d",
    "#6a5acd",
    "#20b2aa",
    "#daa520",
    "#556b2f",
    "#1e90ff",
)
_MARKERS = (
    "o",
    "s",
    "^",
    "v",
    "D",
    "P",
    "X",
    "*",
    "<",
    ">",
    "h",
    "p",
    "d",
    "8",
    "H",
    "x",
    "+",
    "1",
)
_LINESTYLES = ("-", "--", "-.", ":")


def plot_curves(
    panels: Mapping[str, Sequence[Curve]],
    path: str | os.PathLike[str] | None = None,
    *,
    log_scale: bool = False,
    ylabel: str = "cumulative regret (band: +-2 standard errors)",
    reference_lines: Sequence[tuple[str, np.ndarray, np.ndarray]] = (),
) -> Any:
    """Regret curves, one panel per key of ``panels`` (the panel's title), each curve
    with a band of +-2 standard errors and its own colour, marker and line style; the
    legend sits to the right of the axes. ``reference_lines`` are ``(label, steps,
    values)`` drawn in black in every panel (for example a theoretical bound). Saves a PNG
    to ``path`` if given (and closes the figure); returns the figure. Raises ImportError
    without matplotlib."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(PLOT_HINT) from e
    n = max(len(panels), 1)
    fig, axes = plt.subplots(1, n, figsize=(8 * n + 4, 5.5), squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items(), strict=False):
        for i, c in enumerate(curves):
            color = _COLORS[i % len(_COLORS)]
            ax.plot(
                c.steps,
                c.mean,
                label=c.label,
                lw=1.6,
                color=color,
                ls=_LINESTYLES[i % len(_LINESTYLES)],
                marker=_MARKERS[i % len(_MARKERS)],
                markersize=5,
                # A fraction of the axes' diagonal: evenly spaced on log axes too, and
                # offset per curve so that markers of overlapping curves do not coincide.
                markevery=(0.02 + 0.07 * i / max(len(curves), 1), 0.1),
            )
            lo, hi = c.mean - 2 * c.se, c.mean + 2 * c.se
            ax.fill_between(c.steps, lo, hi, color=color, alpha=0.12, lw=0)
        for label, steps, values in reference_lines:
            ax.plot(steps, values, label=label, color="black", lw=2.2, ls=(0, (6, 2)))
        if log_scale:
            # Log-log: logarithmic regret shows as a flattening curve, linear regret as
            # slope 1.
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    if path is not None:
        # bbox_inches="tight" keeps the legends outside the axes inside the image.
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig
