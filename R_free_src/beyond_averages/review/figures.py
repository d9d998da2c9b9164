"""Figures of the review: PRISMA 2020 flow diagram, harvest plot, PROGRESS-Plus coverage heatmap, risk of bias.

Each function takes validated data and returns ``(fig, ax)`` (``ax`` is an array for multi-panel figures). Figures
are built with :class:`matplotlib.figure.Figure`, not pyplot, so a notebook cell that ends with the figure shows it
exactly once and nothing accumulates in pyplot's registry. Save with :func:`save_figure` (SVG or PNG, byte-stable).
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch, Patch
from matplotlib.textpath import TextToPath

from ..style import figure_style
from .flow import COLUMNS, prisma_arrows, prisma_boxes, prisma_headers
from .screening_log import ScreeningLog
from .synthesis import HarvestBy, HarvestHeight, coverage_matrix, harvest_data, rob_long, rob_summary
from .vocabulary import (DIRECTION_COLOURS, DIRECTIONS, JUDGEMENT_COLOURS, JUDGEMENT_SYMBOLS, JUDGEMENTS,
                         PROGRESS_PLUS, QI_APPROACHES, ROB_TOOLS)

# PRISMA layout in abstract units; the figure is then scaled to PRISMA_WIDTH inches whatever the number of
# columns, and text is PRISMA_FONT points at that size. A chapter shows a figure about 765 px (8 in at 96 px per
# inch) wide, so 9 pt in a figure of at most 7.6 in stays at least 9 pt on screen.
_WIDTH = {"previous": 2.6, "main": 3.0, "main_side": 2.8, "other": 3.0, "other_side": 2.6}
_GAP = 0.3
PRISMA_WIDTH, PRISMA_FONT = 7.6, 9.0
_LINESPACING, _PAD_IN = 1.2, 0.07
PHASE_COLOUR, MAIN_HEADER, OTHER_HEADER = "#a9c4eb", "#f7d774", "#d9d9d9"


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as SVG or PNG (by suffix), without timestamps, so reruns give identical bytes."""
    from ..files import atomic_path

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise ValueError(f"{path}: save as .svg or .png")
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with figure_style(), atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, metadata=metadata, bbox_inches="tight", dpi=200)
    return path


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
    """The PRISMA 2020 flow diagram of ``log`` (see :mod:`.flow` for the layout), :data:`PRISMA_WIDTH` inches wide
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


def harvest_plot(extraction: pd.DataFrame, by: HarvestBy = "qi_approach", height: HarvestHeight = "quality"):
    """Harvest plot: a row per category, a column per direction of effect on inequalities, a bar per study.

    Bar height shows study quality (3 = low risk of bias, 2 = some concerns/moderate, 1 = higher or unknown) or
    size (``height="size"``); the number above each bar is the study's number in the characteristics table.
    """
    data = harvest_data(extraction, by, height)
    vocab = QI_APPROACHES if by == "qi_approach" else PROGRESS_PLUS
    categories = [c for c in vocab if c in set(data["category"])]
    directions = list(DIRECTIONS)
    widest = max(int(data.groupby(["category", "direction"]).size().max()), 3)
    with figure_style():
        fig = Figure(figsize=(7.2, 0.55 * len(categories) + 1.0), layout="constrained")
        axes = fig.subplots(len(categories), len(directions), sharey=True, squeeze=False,
                            gridspec_kw={"wspace": 0.02, "hspace": 0.02})
        for i, cat in enumerate(categories):
            for j, direction in enumerate(directions):
                ax = axes[i, j]
                cell = data.loc[(data["category"] == cat) & (data["direction"] == direction)]
                pos = np.arange(len(cell))
                ax.bar(pos, cell["height"], width=0.75, color=DIRECTION_COLOURS[direction], edgecolor="#333333",
                       linewidth=0.4)
                for p, h, num in zip(pos, cell["height"], cell["study_number"]):
                    ax.text(p, h + 0.08, str(num), ha="center", va="bottom", fontsize=6)
                ax.set_xlim(-0.6, widest - 0.4)
                ax.set_ylim(0, 3.9)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                for side in ("top", "right", "left"):
                    ax.spines[side].set_visible(False)
                ax.spines["bottom"].set_color("#999999")
                if i == 0:
                    ax.set_title(DIRECTIONS[direction], fontsize=9)
                if j == 0:
                    ax.set_ylabel(vocab[cat], rotation=0, ha="right", va="center", fontsize=8)
    return fig, axes


def coverage_heatmap(extraction: pd.DataFrame, by: str = "qi_approach"):
    """Heatmap of studies considering each PROGRESS-Plus dimension (columns) by QI approach or study (rows)."""
    matrix = coverage_matrix(extraction, by=by)
    rows = [QI_APPROACHES[c] for c in matrix.index] if by == "qi_approach" else [f"Study {n}" for n in matrix.index]
    cols = [PROGRESS_PLUS[c] for c in matrix.columns]
    values = matrix.to_numpy()
    with figure_style():
        fig = Figure(figsize=(7.2, 0.32 * len(rows) + 2.2), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=max(int(values.max()), 1), aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.grid(False)
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > values.max() * 0.6 else ("#999999" if v == 0 else "#222222"))
        fig.colorbar(image, ax=ax, label="Studies", shrink=0.8)
        ax.set_xlabel("PROGRESS-Plus dimension")
    return fig, ax


def _judgement_legend(ax, tool: str) -> None:
    """The judgement scale of one tool, beside its panel: RoB 2 and ROBINS-I share colours for levels with different
    names (some concerns/moderate, high/serious), so one legend for both would list pairs of identical swatches."""
    handles = [Patch(facecolor=JUDGEMENT_COLOURS[j], edgecolor="#333333",
                     label=f"{JUDGEMENTS[j]} ({JUDGEMENT_SYMBOLS[j]})") for j in ROB_TOOLS[tool]["judgements"]]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title_fontsize=8,
              title=f"{ROB_TOOLS[tool]['label']} judgement", alignment="left", borderaxespad=0)


def rob_traffic_light(extraction: pd.DataFrame):
    """robvis-style traffic-light plot: one panel per tool, a row per study, a column per domain and overall."""
    long = rob_long(extraction)
    tools = [t for t in ROB_TOOLS if t in set(long["tool"])]
    if not tools:
        raise ValueError("no study has a risk-of-bias assessment to plot")
    n_rows = [long.loc[long["tool"] == t, "study_number"].nunique() for t in tools]
    with figure_style():
        fig = Figure(figsize=(7.2, 0.24 * sum(n_rows) + 1.6 * len(tools) + 0.6), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(tools), 1, gridspec_kw={"height_ratios": [n + 3 for n in n_rows]}))
        for ax, tool in zip(axes, tools):
            sub = long.loc[long["tool"] == tool]
            studies = sub[["study_number", "key"]].drop_duplicates().sort_values("study_number")
            domains = [f"D{i + 1}" for i in range(len(ROB_TOOLS[tool]["domains"]))] + ["Overall"]
            y_of = {n: i for i, n in enumerate(studies["study_number"])}
            for d_i, domain in enumerate(domains):
                cells = sub.loc[sub["domain"] == domain]
                ys = cells["study_number"].map(y_of)
                ax.scatter(np.full(len(cells), d_i), ys, s=150, c=cells["judgement"].map(JUDGEMENT_COLOURS).tolist(),
                           edgecolors="#333333", linewidths=0.4, zorder=3)
                for y, j in zip(ys, cells["judgement"]):
                    ax.text(d_i, y, JUDGEMENT_SYMBOLS[j], ha="center", va="center", fontsize=7, fontweight="bold",
                            zorder=4)
            ax.set_xticks(range(len(domains)), domains, fontsize=8)
            ax.xaxis.set_ticks_position("top")
            ax.set_yticks(range(len(studies)), [f"{n}. {k}" for n, k in zip(studies["study_number"], studies["key"])],
                          fontsize=7)
            ax.set_xlim(-0.6, len(domains) - 0.4)
            ax.set_ylim(len(studies) - 0.5, -0.5)
            ax.grid(False)
            for side in ("top", "right", "left", "bottom"):
                ax.spines[side].set_visible(False)
            ax.tick_params(length=0)
            key = "; ".join(f"D{i + 1} {d.lower()}" for i, d in enumerate(ROB_TOOLS[tool]["domains"]))
            ax.set_xlabel(textwrap.fill(f"{ROB_TOOLS[tool]['label']} domains: {key}.", 95), fontsize=7)
            ax.set_title(ROB_TOOLS[tool]["label"], fontsize=9, loc="left", fontweight="bold")
            _judgement_legend(ax, tool)
    return fig, axes


def rob_summary_plot(extraction: pd.DataFrame, weighted: bool = False):
    """robvis-style summary: per tool, a stacked bar per domain of the share of studies (or of participants,
    ``weighted=True``) at each judgement."""
    summary = rob_summary(extraction, weighted)
    tools = [t for t in ROB_TOOLS if t in set(summary["tool"])]
    if not tools:
        raise ValueError("no study has a risk-of-bias assessment to plot")
    with figure_style():
        fig = Figure(figsize=(7.2, sum(0.3 * (len(ROB_TOOLS[t]["domains"]) + 1) + 0.9 for t in tools) + 0.6),
                     layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(tools), 1, gridspec_kw={
            "height_ratios": [len(ROB_TOOLS[t]["domains"]) + 3 for t in tools]}))
        for ax, tool in zip(axes, tools):
            sub = summary.loc[summary["tool"] == tool]
            labels = list(ROB_TOOLS[tool]["domains"]) + ["Overall risk of bias"]
            domains = [f"D{i + 1}" for i in range(len(labels) - 1)] + ["Overall"]
            left = np.zeros(len(domains))
            for judgement in ROB_TOOLS[tool]["judgements"]:
                shares = np.array([sub.loc[(sub["domain"] == d) & (sub["judgement"] == judgement), "share"].sum()
                                   for d in domains])
                ax.barh(range(len(domains)), 100 * shares, left=100 * left, color=JUDGEMENT_COLOURS[judgement],
                        edgecolor="#333333", linewidth=0.4, height=0.7)
                left += shares
            ax.set_yticks(range(len(domains)), labels, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel(("Participants" if weighted else "Studies") + " (%)", fontsize=8)
            ax.set_title(ROB_TOOLS[tool]["label"], fontsize=9, loc="left")
            ax.grid(axis="y", visible=False)
            _judgement_legend(ax, tool)
    return fig, axes
