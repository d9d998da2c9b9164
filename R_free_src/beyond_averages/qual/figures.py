"""Figures of the qualitative strand: a code co-occurrence heatmap and a saturation curve.

Each function takes the tidy table from :mod:`beyond_averages.qual.summaries` and returns ``(fig, ax)``; the style
is applied by context (:func:`beyond_averages.style.figure_style`), never at import.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ..style import OVERALL_COLOUR, TREATED_COLOUR, figure_style


def _wrap(label: str, width: int = 24) -> str:
    return "\n".join(textwrap.wrap(str(label), width)) or str(label)


def plot_co_occurrence(matrix: pd.DataFrame, *, title: str | None = None, show_diagonal: bool = False):
    """Heatmap of :func:`~beyond_averages.qual.summaries.co_occurrence`, each cell annotated with its count.

    The diagonal (segments per code) is blanked unless ``show_diagonal``: it is on another scale and would wash
    out the pairs, which are the point of the figure. Only the lower triangle is drawn (the table is symmetric).
    """
    values = matrix.to_numpy(dtype=float).copy()
    n = values.shape[0]
    mask = np.triu(np.ones((n, n), dtype=bool), k=0 if not show_diagonal else 1)
    shown = np.where(mask, np.nan, values)
    with figure_style():
        size = max(4.5, 0.3 * n + 2.5)
        fig, ax = plt.subplots(figsize=(size + 1.0, size))
        image = ax.imshow(shown, cmap="Blues", vmin=0,
                          vmax=max(1.0, np.nanmax(shown) if np.isfinite(shown).any() else 1.0))
        ax.grid(False)
        for i in range(n):
            for j in range(n):
                if not mask[i, j]:
                    value = int(values[i, j])
                    ax.text(j, i, str(value), ha="center", va="center", fontsize=7,
                            color="white" if value > 0.6 * np.nanmax(shown) else OVERALL_COLOUR)
        labels = [_wrap(c) for c in matrix.columns]
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), [_wrap(c) for c in matrix.index], fontsize=7)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        bar = fig.colorbar(image, ax=ax, shrink=0.6, label="Segments coded with both")
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
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
