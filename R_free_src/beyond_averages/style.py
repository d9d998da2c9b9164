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

# The book's text column is about 765 px wide and notebooks draw at 110 dpi, so a figure 7.0 in wide is shown at its
# drawn size: its 9-pt text stays 9 pt on a laptop. A wider figure is scaled down, and its text with it, so no
# figure may be wider, and no text smaller than MIN_FONT_PT (legibility_problems; the test suite audits every figure).
PAGE_WIDTH_IN = 7.0
MIN_FONT_PT = 9.0
SMALL_FONT_PT = 9.0   # tick labels, legends and annotations: the smallest size used

_RC = {
    "figure.figsize": (PAGE_WIDTH_IN, 4.2),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": SMALL_FONT_PT,
    "ytick.labelsize": SMALL_FONT_PT,
    "legend.fontsize": SMALL_FONT_PT,
    "legend.title_fontsize": SMALL_FONT_PT,
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


def legibility_problems(fig) -> list[str]:
    """Why a finished figure would be hard to read in the book: wider than the page (so shown scaled down) or with
    visible text smaller than :data:`MIN_FONT_PT`. Empty when the figure is legible."""
    from matplotlib.text import Text

    problems = []
    if fig.get_figwidth() > PAGE_WIDTH_IN + 1e-9:
        problems.append(f"figure is {fig.get_figwidth():.2f} in wide (page: {PAGE_WIDTH_IN} in)")
    small = sorted({(t.get_fontsize(), t.get_text()[:30]) for t in fig.findobj(Text)
                    if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT - 1e-9})
    problems += [f"text {text!r} at {size:g} pt (minimum {MIN_FONT_PT:g} pt)" for size, text in small]
    return problems


def year_axis(ax, step: int = 1) -> None:
    """Label a monthly time axis with years only (every ``step`` years), unrotated: the panels of a page-wide
    grid are about 2 in wide, too narrow for month labels at a legible size."""
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.YearLocator(step))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.tick_params(axis="x", labelrotation=0)


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
