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


def plot_curves(
    panels: Mapping[str, Sequence[Curve]],
    path: str | os.PathLike[str] | None = None,
    *,
    log_scale: bool = False,
    ylabel: str = "cumulative regret (band: +-2 standard errors)",
) -> Any:
    """Regret curves, one panel per key of ``panels`` (the panel's title), each curve
    with a band of +-2 standard errors. Saves a PNG to ``path`` if given (and closes the
    figure); returns the figure. Raises ImportError without matplotlib."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(PLOT_HINT) from e
    n = max(len(panels), 1)
    fig, axes = plt.subplots(1, n, figsize=(max(6 * n, 8), 5), squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items(), strict=False):
        colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(curves), 2)))
        for i, c in enumerate(curves):
            (line,) = ax.plot(
                c.steps, c.mean, label=c.label, lw=1.5, color=colors[i], ls="--" if i % 2 else "-"
            )
            lo, hi = c.mean - 2 * c.se, c.mean + 2 * c.se
            ax.fill_between(c.steps, lo, hi, color=line.get_color(), alpha=0.15)
        if log_scale:
            # Log-log: logarithmic regret shows as a flattening curve, linear regret as
            # slope 1.
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2 if len(curves) > 8 else 1)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
