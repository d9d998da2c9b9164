"""The one plotting style of the compendium, applied by context, never at import.

Use ``with figure_style(): fig, ax = plt.subplots()`` inside plot functions. Colours for IMD quintiles run from the
most deprived (dark) to the least deprived (light), the same in every figure.
"""

from __future__ import annotations

from contextlib import contextmanager

import matplotlib as mpl

# Viridis-derived, colour-blind safe, ordered Q1 (most deprived) -> Q5 (least deprived).
QUINTILE_COLOURS = {1: "#440154", 2: "#3b528b", 3: "#21918c", 4: "#5ec962", 5: "#c9a900"}
OVERALL_COLOUR = "#333333"
TREATED_COLOUR = "#b2182b"
COMPARISON_COLOUR = "#2166ac"

_RC = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "svg.hashsalt": "beyond-averages",  # byte-stable SVG output
    "path.simplify": True,
}


def figure_and_axes(ax=None, **subplots_kw):
    """The axes to draw on and their figure: ``ax`` when given (to add to a caller's panel), else new ones."""
    import matplotlib.pyplot as plt

    if ax is None:
        return plt.subplots(**subplots_kw)
    return ax.figure, ax


def finish(fig):
    """Detach a finished figure from pyplot, so a notebook shows it once (as the cell's value), not twice."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


@contextmanager
def figure_style():
    with mpl.rc_context(_RC):
        yield
