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
from matplotlib.patches import FancyBboxPatch, Patch

from ..style import figure_style
from .flow import COLUMNS, prisma_arrows, prisma_boxes, prisma_headers
from .screening_log import ScreeningLog
from .synthesis import HarvestBy, HarvestHeight, coverage_matrix, harvest_data, rob_long, rob_summary
from .vocabulary import (DIRECTION_COLOURS, DIRECTIONS, JUDGEMENT_COLOURS, JUDGEMENT_SYMBOLS, JUDGEMENTS,
                         PROGRESS_PLUS, QI_APPROACHES, ROB_TOOLS)

_WIDTH = {"previous": 2.6, "main": 3.0, "main_side": 3.0, "other": 3.0, "other_side": 3.0}
_GAP, _LINE, _PAD, _SCALE, _FONT = 0.4, 0.16, 0.22, 0.85, 7.5
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


def _wrap(text: str, width_units: float) -> list[str]:
    chars = int(width_units * 14)
    out = []
    for line in text.split("\n"):
        indent = "    " if line.startswith("  ") else ""
        # Keep "(n = 1,234)" on one line: a non-breaking space is not a break point for textwrap.
        line = re.sub(r"\(n = ([\d,]+)\)", "(n\u00a0=\u00a0\\1)", line.strip())
        out += [w.replace("\u00a0", " ") for w in textwrap.wrap(line, chars - len(indent), initial_indent=indent,
                                                              subsequent_indent=indent + "  ")]
    return out


def prisma_flow_figure(log: ScreeningLog):
    """The PRISMA 2020 flow diagram of ``log`` (see :mod:`.flow` for the layout)."""
    boxes = prisma_boxes(log)
    columns = [c for c in COLUMNS if c in set(boxes["column"])]
    x_left, x = {}, 0.75
    for col in columns:
        x_left[col] = x
        x += _WIDTH[col] + _GAP
    total_w = x - _GAP + 0.1
    boxes["lines"] = [_wrap(t, _WIDTH[c] - 2 * _PAD / 2) for t, c in zip(boxes["text"], boxes["column"])]
    boxes["height"] = boxes["lines"].map(len) * _LINE + 2 * _PAD
    row_h = boxes.groupby("row")["height"].max().reindex(range(5), fill_value=0.5).clip(lower=0.85)
    header_h = 0.5
    y, row_top = -(header_h + _GAP), {}
    for r in range(5):
        row_top[r] = y
        y -= row_h[r] + _GAP
    total_h = -y - _GAP + 0.1
    geom = {}
    for b in boxes.itertuples():
        centre_y = row_top[b.row] - row_h[b.row] / 2
        geom[b.box] = (x_left[b.column], centre_y - b.height / 2, _WIDTH[b.column], b.height)

    with figure_style():
        fig = Figure(figsize=(total_w * _SCALE, total_h * _SCALE))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, total_w)
        ax.set_ylim(-total_h, 0)
        ax.axis("off")

        def draw_box(x0, y0, w, h, face, lines, align="left", weight="normal", size=_FONT, rotate=0):
            ax.add_patch(FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                        facecolor=face, edgecolor="#222222", linewidth=0.8))
            tx = x0 + (_PAD / 2 if align == "left" else w / 2)
            ax.text(tx, y0 + h / 2, "\n".join(lines), ha=align, va="center", fontsize=size, fontweight=weight,
                    rotation=rotate, linespacing=1.25)

        for text, spanned in prisma_headers(log):
            x0 = x_left[spanned[0]]
            x1 = x_left[spanned[-1]] + _WIDTH[spanned[-1]] if spanned[-1] in x_left else x0 + _WIDTH[spanned[0]]
            face = MAIN_HEADER if spanned[0] == "main" else OTHER_HEADER
            draw_box(x0, -header_h, x1 - x0, header_h - 0.05, face, _wrap(text, x1 - x0), align="center",
                     weight="bold")
        phases = (("Identification", 0, 0), ("Screening", 1, 3), ("Included", 4, 4))
        for label, first, last in phases:
            top, bottom = row_top[first], row_top[last] - row_h[last]
            draw_box(0.1, bottom, 0.45, top - bottom, PHASE_COLOUR, [label], align="center", weight="bold",
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


def _judgement_legend(fig: Figure, tools: list[str]) -> None:
    codes = [j for j in JUDGEMENTS if any(j in ROB_TOOLS[t]["judgements"] for t in tools)]
    handles = [Patch(facecolor=JUDGEMENT_COLOURS[j], edgecolor="#333333", label=JUDGEMENTS[j]) for j in codes]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7, title="Judgement",
               title_fontsize=7)


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
            ax.set_xlabel(textwrap.fill(f"{ROB_TOOLS[tool]['label']} domains: {key}.", 120), fontsize=7)
        _judgement_legend(fig, tools)
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
        _judgement_legend(fig, tools)
    return fig, axes
