"""The review chapter's figures: harvest plots, PROGRESS-Plus coverage, risk-of-bias traffic lights and summaries.

Figure functions take validated data and return ``(fig, ax)`` (``ax`` is an array for multi-panel figures). Figures
are built with :class:`matplotlib.figure.Figure`, not pyplot, so a notebook cell that ends with the figure shows it
exactly once and nothing accumulates in pyplot's registry; every figure is the page's width with text of at least
9 pt (:data:`beyond_averages.style.PAGE_WIDTH_IN`). Save with :func:`save_figure` (SVG or PNG, byte-stable).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..files import atomic_path
from ..review.synthesis import (
    HarvestBy,
    HarvestHeight,
    coverage_matrix,
    harvest_data,
    rob_long,
    rob_summary,
)
from ..review.vocabulary import (
    DIRECTION_COLOURS,
    DIRECTIONS,
    JUDGEMENT_COLOURS,
    JUDGEMENT_SYMBOLS,
    JUDGEMENTS,
    PROGRESS_PLUS,
    QI_APPROACHES,
    ROB_TOOLS,
)
from ..style import PAGE_WIDTH_IN, SMALL_FONT_PT, figure_style
from .review import weight_unit


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as SVG or PNG (by suffix), without timestamps, so reruns give identical bytes."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise ValueError(f"{path}: save as .svg or .png")
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with figure_style(), atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, metadata=metadata, bbox_inches="tight", dpi=200)
    return path


# -- figures -------------------------------------------------------------------------------------------------------
HEIGHT_KEYS = {
    "quality": "Bar height: tall = low risk of bias; medium = some concerns or moderate; short = high, serious or "
               "critical risk, or not assessed.",
    "size": "Bar height: sample size on a log scale, from the smallest study (short) to the largest (tall).",
}


def harvest_plot(extraction: pd.DataFrame, by: HarvestBy = "qi_approach", height: HarvestHeight = "quality"):
    """Harvest plot: a row per category, a column per direction of effect on inequalities, a bar per study.

    Bar height shows study quality (3 = low risk of bias, 2 = some concerns/moderate, 1 = higher or unknown) or
    size (``height="size"``), stated in a key under the plot; the number above each bar is the study's number in
    the characteristics table.
    """
    data = harvest_data(extraction, by, height)
    vocab = QI_APPROACHES if by == "qi_approach" else PROGRESS_PLUS
    categories = [c for c in vocab if c in set(data["category"])]
    directions = list(DIRECTIONS)
    widest = max(int(data.groupby(["category", "direction"]).size().max()), 3)
    data_sizes, unit = extraction["sample_size"], weight_unit(extraction)
    with figure_style():
        fig = Figure(figsize=(PAGE_WIDTH_IN, 0.6 * len(categories) + 1.5), layout="constrained")
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
                    ax.text(p, h + 0.08, str(num), ha="center", va="bottom", fontsize=SMALL_FONT_PT)
                ax.set_xlim(-0.6, widest - 0.4)
                ax.set_ylim(0, 4.4)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                for side in ("top", "right", "left"):
                    ax.spines[side].set_visible(False)
                ax.spines["bottom"].set_color("#999999")
                if i == 0:
                    ax.set_title(DIRECTIONS[direction], fontsize=SMALL_FONT_PT)
                if j == 0:
                    ax.set_ylabel(textwrap.fill(vocab[cat], 20), rotation=0, ha="right", va="center",
                                  fontsize=SMALL_FONT_PT)
        extra = f" Tallest: {int(data_sizes.max()):,} {unit}." if height == "size" else ""
        fig.supxlabel(textwrap.fill(HEIGHT_KEYS[height] + extra, 110), fontsize=SMALL_FONT_PT, x=0.0, ha="left")
    return fig, axes


def coverage_heatmap(extraction: pd.DataFrame, by: str = "qi_approach"):
    """Heatmap of studies considering each PROGRESS-Plus dimension (columns) by QI approach or study (rows)."""
    matrix = coverage_matrix(extraction, by=by)
    rows = [QI_APPROACHES[c] for c in matrix.index] if by == "qi_approach" else [f"Study {n}" for n in matrix.index]
    cols = [PROGRESS_PLUS[c] for c in matrix.columns]
    values = matrix.to_numpy()
    with figure_style():
        fig = Figure(figsize=(PAGE_WIDTH_IN, 0.34 * len(rows) + 2.4), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=max(int(values.max()), 1), aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=40, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        ax.grid(False)
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=SMALL_FONT_PT,
                    color="white" if v > values.max() * 0.6 else ("#999999" if v == 0 else "#222222"))
        fig.colorbar(image, ax=ax, label="Studies", shrink=0.8)
        ax.set_xlabel("PROGRESS-Plus dimension")
    return fig, ax


def _judgement_legend(ax, tool: str) -> None:
    """The judgement scale of one tool, beside its panel: RoB 2 and ROBINS-I share colours for levels with different
    names (some concerns/moderate, high/serious), so one legend for both would list pairs of identical swatches."""
    handles = [Patch(facecolor=JUDGEMENT_COLOURS[j], edgecolor="#333333",
                     label=f"{JUDGEMENTS[j]} ({JUDGEMENT_SYMBOLS[j]})") for j in ROB_TOOLS[tool]["judgements"]]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title=f"{ROB_TOOLS[tool]['label']} judgement", alignment="left", borderaxespad=0)


def study_labels(references) -> dict[str, str]:
    """Author-year labels of the included studies: "Fictitia 2012", "Fictitia & Exemplova 2012", "Fictitia et al.
    2012" (one, two, three or more authors), for figures where a reader needs to recognise a study."""
    out = {}
    for ref in references:
        families = [a.split(",")[0].strip() for a in ref.authors]
        who = (families[0] if len(families) == 1 else " & ".join(families) if len(families) == 2
               else f"{families[0]} et al." if families else ref.key)
        out[ref.key] = f"{who} {ref.year}" if ref.year else who
    return out


def rob_traffic_light(extraction: pd.DataFrame, study_label: dict[str, str] | None = None):
    """robvis-style traffic-light plot: one panel per tool, a row per study, a column per domain and overall.
    Rows are labelled "number. author year" with ``study_label`` (from :func:`study_labels`), else with the key."""
    study_label = study_label or {}
    long = rob_long(extraction)
    tools = [t for t in ROB_TOOLS if t in set(long["tool"])]
    if not tools:
        raise ValueError("no study has a risk-of-bias assessment to plot")
    n_rows = [long.loc[long["tool"] == t, "study_number"].nunique() for t in tools]
    with figure_style():
        fig = Figure(figsize=(PAGE_WIDTH_IN, 0.26 * sum(n_rows) + 1.9 * len(tools) + 0.6), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(tools), 1, gridspec_kw={"height_ratios": [n + 3 for n in n_rows]}))
        for ax, tool in zip(axes, tools):
            sub = long.loc[long["tool"] == tool]
            studies = sub[["study_number", "key"]].drop_duplicates().sort_values("study_number")
            domains = [f"D{i + 1}" for i in range(len(ROB_TOOLS[tool]["domains"]))] + ["Overall"]
            y_of = {n: i for i, n in enumerate(studies["study_number"])}
            # The overall column sits a little apart from the domains, so "Overall" never touches the last domain.
            xpos = list(range(len(domains) - 1)) + [len(domains) - 0.6]
            for d_i, domain in enumerate(domains):
                cells = sub.loc[sub["domain"] == domain]
                ys = cells["study_number"].map(y_of)
                ax.scatter(np.full(len(cells), xpos[d_i]), ys, s=150, c=cells["judgement"].map(JUDGEMENT_COLOURS).tolist(),
                           edgecolors="#333333", linewidths=0.4, zorder=3)
                for y, j in zip(ys, cells["judgement"]):
                    ax.text(xpos[d_i], y, JUDGEMENT_SYMBOLS[j], ha="center", va="center", fontsize=SMALL_FONT_PT,
                            fontweight="bold",
                            zorder=4)
            ax.set_xticks(xpos, domains)
            ax.xaxis.set_ticks_position("top")
            ax.set_yticks(range(len(studies)), [f"{n}. {study_label.get(k, k)}"
                                                for n, k in zip(studies["study_number"], studies["key"])])
            ax.set_xlim(-0.6, len(domains))
            ax.set_ylim(len(studies) - 0.5, -0.5)
            ax.grid(False)
            for side in ("top", "right", "left", "bottom"):
                ax.spines[side].set_visible(False)
            ax.tick_params(length=0)
            key = "; ".join(f"D{i + 1} {d.lower()}" for i, d in enumerate(ROB_TOOLS[tool]["domains"]))
            ax.set_xlabel(textwrap.fill(f"{ROB_TOOLS[tool]['label']} domains: {key}.", 80), fontsize=SMALL_FONT_PT)
            ax.set_title(ROB_TOOLS[tool]["label"], fontsize=10, loc="left", fontweight="bold")
            _judgement_legend(ax, tool)
    return fig, axes


def rob_summary_plot(extraction: pd.DataFrame, weighted: bool = False):
    """robvis-style summary: per tool, a stacked bar per domain of the share of studies (or of participants,
    ``weighted=True``) at each judgement."""
    summary = rob_summary(extraction, weighted)
    unit = weight_unit(extraction)
    tools = [t for t in ROB_TOOLS if t in set(summary["tool"])]
    if not tools:
        raise ValueError("no study has a risk-of-bias assessment to plot")
    with figure_style():
        fig = Figure(figsize=(PAGE_WIDTH_IN, sum(0.32 * (len(ROB_TOOLS[t]["domains"]) + 1) + 1.0 for t in tools) + 0.6),
                     layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(tools), 1, gridspec_kw={
            "height_ratios": [len(ROB_TOOLS[t]["domains"]) + 3 for t in tools]}))
        for ax, tool in zip(axes, tools):
            sub = summary.loc[summary["tool"] == tool]
            names = list(ROB_TOOLS[tool]["domains"]) + ["Overall risk of bias"]
            domains = [f"D{i + 1}" for i in range(len(names) - 1)] + ["Overall"]
            left = np.zeros(len(domains))
            for judgement in ROB_TOOLS[tool]["judgements"]:
                shares = np.array([sub.loc[(sub["domain"] == d) & (sub["judgement"] == judgement), "share"].sum()
                                   for d in domains])
                ax.barh(range(len(domains)), 100 * shares, left=100 * left, color=JUDGEMENT_COLOURS[judgement],
                        edgecolor="#333333", linewidth=0.4, height=0.7)
                left += shares
            ax.set_yticks(range(len(domains)), [textwrap.fill(n, 28) for n in names])
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel((unit.capitalize() if weighted else "Studies") + " (%)")
            ax.set_title(ROB_TOOLS[tool]["label"], fontsize=10, loc="left")
            ax.grid(axis="y", visible=False)
            _judgement_legend(ax, tool)
    return fig, axes
