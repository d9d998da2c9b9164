"""Drawing of a segmented regression's ``plot_data()`` frame: observed points, fitted line and counterfactual with
its band, one panel (:func:`plot_counterfactual`) or one panel per IMD quintile (:func:`quintile_panels`, two rows
of three with the legend in the sixth, readable at page width).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from beyond_averages import labels
from beyond_averages.style import (
    OVERALL_COLOUR,
    PAGE_WIDTH_IN,
    QUINTILE_COLOURS,
    figure_style,
    finish,
    year_axis,
)


def plot_counterfactual(cf: pd.DataFrame, interruption, ax=None, title: str | None = None,
                        colour: str = OVERALL_COLOUR, ylabel: str = "Indicator"):
    """Observed points (open: not fitted), fitted line, dashed counterfactual with its band, interruption line ->
    ``(fig, ax)``. The fitted line is drawn over the fitted months only, so excluded months do not look fitted."""
    with figure_style():
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        used = cf["in_fit"].to_numpy() if "in_fit" in cf else np.ones(len(cf), bool)
        months = pd.to_datetime(cf["month"])
        ax.scatter(months[used], cf["observed"][used], s=8, color=colour, alpha=0.7, label="Observed (fitted)")
        if (~used).any():
            ax.scatter(months[~used], cf["observed"][~used], s=8, facecolors="none", edgecolors=colour,
                       alpha=0.7, label="Observed (not fitted)")
        ax.plot(months, cf["fitted"].where(used), color=colour, lw=1.5, label="Fitted")
        post = months >= pd.Timestamp(interruption)
        ax.plot(months[post], cf["counterfactual"][post], color=colour, lw=1.2, ls="--",
                label="Counterfactual (95% CI)")
        ax.fill_between(months[post], cf["counterfactual_lower"][post], cf["counterfactual_upper"][post],
                        color=colour, alpha=0.15, lw=0)
        ax.axvline(pd.Timestamp(interruption), color="grey", lw=0.8, ls=":", label="Programme start")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
    return fig, ax


def quintile_panels(frames: dict, interruption, ylabel: str, zero_line: bool = False):
    """Two rows of three panels, one per quintile (``frames``: quintile -> plot_data frame), the sixth holding the
    legend -> the figure, closed with :func:`beyond_averages.style.finish`."""
    with figure_style():
        fig, grid = plt.subplots(2, 3, figsize=(PAGE_WIDTH_IN, 5.2), sharey=True, sharex=True)
        axes = grid.ravel()
        for ax, (q, cf) in zip(axes, frames.items()):
            plot_counterfactual(cf, interruption, ax=ax, title=labels.QUINTILES[q],
                                colour=QUINTILE_COLOURS[q], ylabel="")
            if zero_line:
                ax.axhline(0, color="grey", lw=0.6)
            ax.title.set_fontsize(10)
            year_axis(ax, step=2)
        for ax in grid[:, 0]:
            ax.set_ylabel(ylabel)
        # The legend shows the line and marker styles in a neutral colour (each panel has its quintile's colour).
        k = dict(color=OVERALL_COLOUR)
        handles = [plt.Line2D([], [], marker="o", ls="none", ms=4, **k),
                   plt.Line2D([], [], marker="o", ls="none", ms=4, markerfacecolor="none", **k),
                   plt.Line2D([], [], lw=1.5, **k), plt.Line2D([], [], lw=1.2, ls="--", **k),
                   plt.Line2D([], [], color="grey", lw=0.8, ls=":")]
        names = ["Observed (fitted)", "Observed (not fitted)", "Fitted", "Counterfactual (95% CI band)",
                 "Programme start"]
        if all(bool(np.all(cf["in_fit"])) for cf in frames.values() if "in_fit" in cf):
            handles, names = handles[:1] + handles[2:], names[:1] + names[2:]
            names[0] = "Observed"
        axes[5].axis("off")
        axes[5].legend(handles, names, loc="center")
        fig.tight_layout()
    return finish(fig)
