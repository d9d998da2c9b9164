"""The one plotting style of the compendium, applied by context, never at import.

Use ``with figure_style(): fig, ax = plt.subplots()`` inside plot functions. Colours for IMD quintiles run from the
most deprived (dark) to the least deprived (light), the same in every figure.
"""

from __future__ import annotations

from contextlib import contextmanager

import matplotlib as mpl

# Viridis hues, ordered Q1 (most deprived) -> Q5 (least deprived), with the two light ends (viridis' #5ec962 and
# #fde725 side) darkened so every line contrasts at least 3:1 with the white background (WCAG 2.1, 1.4.11 non-text
# contrast; tests/test_style.py checks it).
QUINTILE_COLOURS = {1: "#440154", 2: "#3b528b", 3: "#21918c", 4: "#52892a", 5: "#b06a00"}
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


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of an sRGB hex colour ('#rrggbb')."""
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str = "#ffffff") -> float:
    """WCAG contrast ratio of two colours, from 1 (none) to 21 (black on white)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


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
