"""Figures of the qualitative strand: a code co-occurrence heatmap and a saturation curve.

Each function takes the tidy table from :mod:`beyond_averages.qual.summaries` and returns ``(fig, ax)``; the style
is applied by context (:func:`beyond_averages.style.figure_style`), never at import.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm
from matplotlib.ticker import MaxNLocator

from ..style import OVERALL_COLOUR, TREATED_COLOUR, figure_style


def _wrap(label: str, width: int = 24) -> str:
    return "\n".join(textwrap.wrap(str(label), width)) or str(label)


def plot_co_occurrence(matrix: pd.DataFrame, *, title: str | None = None, show_diagonal: bool = False):
    """Heatmap of :func:`~beyond_averages.qual.summaries.co_occurrence`, each cell annotated with its count.

    The table is symmetric, so only its lower triangle is drawn. Without ``show_diagonal`` (the default) the
    diagonal (segments per code) is left out, being on another scale that would wash out the pairs, which are the
    point of the figure: rows are then the 2nd..last code and columns the 1st..second-to-last, so no row or column
    is empty. With ``show_diagonal`` all codes are rows and columns and the diagonal is drawn. Colours are one step
    per count; the colour bar sits against the heatmap.
    """
    values = matrix.to_numpy(dtype=float)
    n = values.shape[0]
    offset = 0 if show_diagonal else 1
    rows, cols = list(matrix.index[offset:]), list(matrix.columns[: n - offset])
    shown = values[offset:, : n - offset].copy()
    m = len(rows)
    lower = np.tril(np.ones((m, m), dtype=bool))  # row i (code i + offset) against columns 0..i + offset - offset
    shown[~lower] = np.nan
    top = int(np.nanmax(shown)) if m and np.isfinite(shown).any() else 0
    cmap = plt.get_cmap("Blues", max(top, 1) + 1)
    norm = BoundaryNorm(np.arange(-0.5, max(top, 1) + 1.5), cmap.N)
    with figure_style():
        size = max(3.5, 0.32 * m + 2.2)
        fig, ax = plt.subplots(figsize=(size + 0.8, size))
        image = ax.imshow(shown, cmap=cmap, norm=norm)
        ax.grid(False)
        for (i, j), value in np.ndenumerate(shown):
            if lower[i, j]:
                ax.text(j, i, str(int(value)), ha="center", va="center", fontsize=7,
                        color="white" if value > 0.6 * max(top, 1) else ("#999999" if value == 0 else OVERALL_COLOUR))
        ax.set_xticks(range(m), [_wrap(c) for c in cols], rotation=90, fontsize=8)
        ax.set_yticks(range(m), [_wrap(c) for c in rows], fontsize=8)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        # The colour bar in the empty upper-right triangle, against the heatmap rather than at the figure's edge
        # (beside it when the triangle is too small to hold it).
        cax = ax.inset_axes((0.72, 0.55, 0.04, 0.4) if m >= 3 else (1.05, 0.1, 0.05, 0.8))
        bar = fig.colorbar(image, cax=cax, ticks=MaxNLocator(integer=True, nbins=6))
        bar.set_label("Segments coded with both" + (" (diagonal: with the code)" if show_diagonal else ""),
                      fontsize=7)
        bar.ax.tick_params(labelsize=7)
        if title:
            ax.set_title(title)
    return fig, ax


def plot_saturation(curve: pd.DataFrame, *, title: str | None = None):
    """Cumulative codes (line) and new codes (bars) by data-collection event, with the event's method as tick
    label; the last event that added a code is marked."""
    with figure_style():
        fig, ax = plt.subplots()
        x = curve["event"].to_numpy()
        ax.bar(x, curve["new_codes"], color="#9ecae1", label="New codes at this event")
        ax.plot(x, curve["cumulative_codes"], marker="o", color=OVERALL_COLOUR, label="Codes so far")
        new = curve.loc[curve["new_codes"] > 0, "event"]
        if len(new):
            ax.axvline(new.max() + 0.5, color=TREATED_COLOUR, linestyle="--", linewidth=1,
                       label="After this, no new code")
        ticks = [f"{e}\n{p}" for e, p in zip(curve["event"], curve["participants"].str.replace("; ", "\n"))]
        ax.set_xticks(x, ticks, fontsize=7)
        ax.set_xlabel("Data-collection event (participants), in collection order")
        ax.set_ylabel("Codes")
        ax.set_ylim(0, max(1, int(curve["cumulative_codes"].max())) * 1.1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="lower right")
        if title:
            ax.set_title(title)
    return fig, ax
