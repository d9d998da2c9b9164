"""The PRISMA 2020 flow diagram of a review's screening log, drawn from the box content of
:mod:`beyond_averages.review.flow`.

The figure is built with :class:`matplotlib.figure.Figure`, not pyplot, so a notebook cell that ends with the figure
shows it exactly once and nothing accumulates in pyplot's registry. Save it with
:func:`beyond_averages.report.review_figures.save_figure`.
"""

from __future__ import annotations

import re

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch
from matplotlib.textpath import TextToPath

from ..review.flow import COLUMNS, prisma_arrows, prisma_boxes, prisma_headers
from ..review.screening_log import ScreeningLog
from ..style import figure_style

# PRISMA layout in abstract units; the figure is then scaled to PRISMA_WIDTH inches whatever the number of
# columns, and text is PRISMA_FONT points at that size. A chapter shows a figure about 765 px wide, and notebooks
# draw at 110 dpi, so a figure of style.PAGE_WIDTH_IN (7.0 in, 770 px) is shown at its drawn size and 9 pt stays 9 pt.
_WIDTH = {"previous": 2.6, "main": 3.0, "main_side": 2.8, "other": 3.0, "other_side": 2.6}
_GAP = 0.3
PRISMA_WIDTH, PRISMA_FONT = 7.0, 9.0
_LINESPACING, _PAD_IN = 1.2, 0.07
PHASE_COLOUR, MAIN_HEADER, OTHER_HEADER = "#a9c4eb", "#f7d774", "#d9d9d9"

def _text_width_in(text: str, size: float, weight: str = "normal") -> float:
    """Width of one line of text in inches, measured with the font matplotlib will draw it in."""
    width, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(size=size, weight=weight),
                                                             ismath=False)
    return width / 72


def _wrap(text: str, width_in: float, size: float = PRISMA_FONT, weight: str = "normal") -> list[str]:
    """Greedy word wrap of ``text`` to lines no wider than ``width_in`` inches at ``size`` points, measured, not
    guessed. A line indented two spaces is a sub-item: it and its continuation lines stay indented."""
    out = []
    for raw in text.split("\n"):
        indent = "    " if raw.startswith("  ") else ""
        # Keep "(n = 1,234)" on one line: a non-breaking space is not a break point.
        words = re.sub(r"\(n = ([\d,]+)\)", "(n\u00a0=\u00a0\\1)", raw.strip()).split(" ")
        line = indent + words[0]
        for word in words[1:]:
            if _text_width_in(f"{line} {word}", size, weight) <= width_in:
                line = f"{line} {word}"
            else:
                out.append(line)
                line = f"{indent}  {word}"
        out.append(line)
    return [line.replace("\u00a0", " ") for line in out]


def prisma_flow_figure(log: ScreeningLog):
    """The PRISMA 2020 flow diagram of ``log`` (see :mod:`beyond_averages.review.flow` for the layout), :data:`PRISMA_WIDTH` inches wide
    with :data:`PRISMA_FONT`-point text; boxes grow downwards to hold their wrapped text."""
    boxes = prisma_boxes(log)
    columns = [c for c in COLUMNS if c in set(boxes["column"])]
    x_left, x = {}, 0.65
    for col in columns:
        x_left[col] = x
        x += _WIDTH[col] + _GAP
    total_w = x - _GAP + 0.05
    scale = PRISMA_WIDTH / total_w                      # inches per layout unit
    line, pad = PRISMA_FONT * _LINESPACING / 72 / scale, _PAD_IN / scale
    boxes["lines"] = [_wrap(t, (_WIDTH[c] - 2 * pad) * scale) for t, c in zip(boxes["text"], boxes["column"])]
    boxes["height"] = boxes["lines"].map(len) * line + 2 * pad
    row_h = boxes.groupby("row")["height"].max().reindex(range(5), fill_value=0.5).clip(lower=2 * line + 2 * pad)
    # A one-row phase must be tall enough for its rotated label.
    for row, label in ((0, "Identification"), (4, "Included")):
        row_h[row] = max(row_h[row], _text_width_in(label, PRISMA_FONT, "bold") / scale + 2 * pad)
    header_lines = {text: _wrap(text, (sum(_WIDTH[c] + _GAP for c in spanned if c in x_left) - _GAP - 2 * pad)
                                * scale, weight="bold") for text, spanned in prisma_headers(log)}
    header_h = max(len(v) for v in header_lines.values()) * line + 2 * pad
    y, row_top = -(header_h + _GAP), {}
    for r in range(5):
        row_top[r] = y
        y -= row_h[r] + _GAP
    total_h = -y - _GAP + 0.05
    geom = {}
    for b in boxes.itertuples():
        centre_y = row_top[b.row] - row_h[b.row] / 2
        geom[b.box] = (x_left[b.column], centre_y - b.height / 2, _WIDTH[b.column], b.height)

    with figure_style():
        fig = Figure(figsize=(PRISMA_WIDTH, total_h * scale))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, total_w)
        ax.set_ylim(-total_h, 0)
        ax.axis("off")

        def draw_box(x0, y0, w, h, face, lines, align="left", weight="normal", rotate=0):
            ax.add_patch(FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                        facecolor=face, edgecolor="#222222", linewidth=0.8))
            tx = x0 + (pad if align == "left" else w / 2)
            ax.text(tx, y0 + h / 2, "\n".join(lines), ha=align, va="center", fontsize=PRISMA_FONT,
                    fontweight=weight, rotation=rotate, linespacing=_LINESPACING)

        for text, spanned in prisma_headers(log):
            x0 = x_left[spanned[0]]
            x1 = x_left[spanned[-1]] + _WIDTH[spanned[-1]] if spanned[-1] in x_left else x0 + _WIDTH[spanned[0]]
            face = MAIN_HEADER if spanned[0] == "main" else OTHER_HEADER
            draw_box(x0, -header_h, x1 - x0, header_h - 0.05, face, header_lines[text], align="center",
                     weight="bold")
        phases = (("Identification", 0, 0), ("Screening", 1, 3), ("Included", 4, 4))
        for label, first, last in phases:
            top, bottom = row_top[first], row_top[last] - row_h[last]
            draw_box(0.05, bottom, 0.45, top - bottom, PHASE_COLOUR, [label], align="center", weight="bold",
                     rotate=90)
        for b in boxes.itertuples():
            draw_box(*geom[b.box], "white", b.lines)

        arrow = dict(arrowstyle="-|>", color="#222222", linewidth=0.8, mutation_scale=9, shrinkA=0, shrinkB=0)
        for a, b in prisma_arrows(boxes):
            ax0, ay0, aw, ah = geom[a]
            bx0, by0, bw, bh = geom[b]
            if a == "other_assessed" and b == "included":
                cx, cy = ax0 + aw / 2, by0 + bh / 2
                ax.plot([cx, cx], [ay0, cy], color="#222222", linewidth=0.8)
                ax.annotate("", xy=(bx0 + bw, cy), xytext=(cx, cy), arrowprops=arrow)
            elif a == "included" and b == "total":
                ax.annotate("", xy=(bx0 + bw, by0 + bh / 2), xytext=(ax0, ay0 + ah / 2), arrowprops=arrow)
            elif abs((ay0 + ah / 2) - (by0 + bh / 2)) < 1e-9:
                ax.annotate("", xy=(bx0, by0 + bh / 2), xytext=(ax0 + aw, ay0 + ah / 2), arrowprops=arrow)
            else:
                ax.annotate("", xy=(bx0 + bw / 2, by0 + bh), xytext=(ax0 + aw / 2, ay0), arrowprops=arrow)
    return fig, ax

