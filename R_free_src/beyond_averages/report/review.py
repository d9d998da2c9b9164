"""The review chapter's tables, computed sentences and figures (harvest plots, PROGRESS-Plus coverage, risk of bias).

The PRISMA flow diagram is in :mod:`beyond_averages.report.prisma`. ``*_frame`` functions return display-ready
DataFrames (labels instead of codes, numbers formatted) so tests can check every cell; ``*_table`` wrap them with
:func:`beyond_averages.report.tables.html_table` for a notebook cell. The study column holds
``<span data-qmd="[@key]">key</span>``: Quarto processes the ``data-qmd`` attribute of an HTML table cell as
Markdown, so the citation resolves against the bibliography in the rendered book.

Figure functions take validated data and return ``(fig, ax)`` (``ax`` is an array for multi-panel figures). Figures
are built with :class:`matplotlib.figure.Figure`, not pyplot, so a notebook cell that ends with the figure shows it
exactly once and nothing accumulates in pyplot's registry. Save with :func:`save_figure` (SVG or PNG, byte-stable).
"""

from __future__ import annotations

import html
import os
import textwrap
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import labels
from ..files import atomic_path
from ..review.dataset import ReviewData
from ..review.extraction import explode
from ..review.screening_log import MAIN_KINDS, OTHER_KINDS, ScreeningLog
from ..review.synthesis import (COUNTED, HarvestBy, HarvestHeight, coverage_matrix, harvest_data, rob_long,
                                rob_summary, study_order, summary_counts)
from ..review.vocabulary import (DESIGNS, DIRECTION_COLOURS, DIRECTIONS, JUDGEMENT_COLOURS, JUDGEMENT_SYMBOLS,
                                 JUDGEMENTS, PROGRESS_PLUS, QI_APPROACHES, ROB_TOOLS)
from ..style import figure_style
from .tables import format_count, format_percent, html_table


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


# -- tables --------------------------------------------------------------------------------------------------------
def citation_cell(key: str) -> str:
    """An HTML cell body whose citation Quarto resolves: ``<span data-qmd="[@key]">key</span>``."""
    return f'<span data-qmd="[@{html.escape(key)}]">{html.escape(key)}</span>'


def _labels(codes: str, vocab: dict[str, str]) -> str:
    return "; ".join(vocab[c] for c in codes.split(";") if c)


# Eleven columns do not fit a page: the chapter shows them as two tables sharing the study number and citation.
CharacteristicsPart = Literal["all", "design", "equity"]
CHARACTERISTICS_PARTS: dict[str, tuple[str, ...]] = {
    "design": ("No.", "Study", "Country", "Setting", "Design", "QI approach", "Clinical area", "Size"),
    "equity": ("No.", "Study", "PROGRESS-Plus", "Equity measure", "Effect on inequalities"),
}


def characteristics_frame(extraction: pd.DataFrame, cite: bool = True,
                          part: CharacteristicsPart = "all") -> pd.DataFrame:
    """One row per study in year-then-key order, numbered as in the figures; display labels, no codes.

    ``part="design"`` keeps the study design and setting columns, ``part="equity"`` the equity columns
    (PROGRESS-Plus dimensions, equity measure, effect on inequalities); both keep ``No.`` and ``Study``.
    """
    if part != "all" and part not in CHARACTERISTICS_PARTS:
        raise ValueError(f"part must be 'all', 'design' or 'equity', not {part!r}")
    rows = []
    for rec in study_order(extraction).to_dict("records"):
        direction = DIRECTIONS[rec["effect_direction"]]
        effect = direction if not rec["effect_outcome"] else f"{direction} ({rec['effect_outcome']})"
        size = "" if pd.isna(rec["sample_size"]) else f"{format_count(rec['sample_size'])} {rec['sample_unit']}".strip()
        rows.append({
            "No.": rec["study_number"], "Study": citation_cell(rec["key"]) if cite else rec["key"],
            "Country": rec["country"], "Setting": rec["setting"], "Design": DESIGNS[rec["design"]],
            "QI approach": _labels(rec["qi_approach"], QI_APPROACHES), "Clinical area": rec["clinical_area"],
            "Size": size, "PROGRESS-Plus": _labels(rec["progress_plus"], PROGRESS_PLUS) or "None",
            "Equity measure": rec["equity_measure"] or "Not reported", "Effect on inequalities": effect,
        })
    frame = pd.DataFrame(rows)
    return frame if part == "all" else frame[list(CHARACTERISTICS_PARTS[part])]


def characteristics_table(extraction: pd.DataFrame, part: CharacteristicsPart = "all"):
    """:func:`characteristics_frame` as an HTML table; the chapter shows ``part="design"`` and ``"equity"``."""
    return html_table(characteristics_frame(extraction, part=part))


def counts_frame(extraction: pd.DataFrame, columns: tuple[str, ...] = COUNTED) -> pd.DataFrame:
    """Studies per country, design, QI approach and clinical area: ``Characteristic, Category, Studies, %``."""
    counts = summary_counts(extraction, columns)
    vocab = {"design": DESIGNS, "qi_approach": QI_APPROACHES}
    category = [vocab.get(ch, {}).get(cat, cat) for ch, cat in zip(counts["characteristic"], counts["category"])]
    first = ~counts["characteristic"].duplicated()
    return pd.DataFrame({
        "Characteristic": [labels.REVIEW_CHARACTERISTICS[c] if f else "" for c, f in zip(counts["characteristic"], first)],
        "Category": category, "Studies": counts["n_studies"].astype("int64"),
        "%": [format_percent(p, sign=False) for p in counts["percent"]],
    })


def counts_table(extraction: pd.DataFrame):
    return html_table(counts_frame(extraction))


# -- sentences -----------------------------------------------------------------------------------------------------
def provenance_note(data: ReviewData) -> str:
    """A Markdown callout saying whether the chapter shows the synthetic example or real review data."""
    if data.is_synthetic:
        return ("::: {.callout-warning}\n## Synthetic example data\nEvery study, author and count in this chapter "
                "is fictional: it comes from a labelled synthetic example that stands in for the review until "
                "its screening log, extraction table and reference library are complete. The methods are those "
                "the real review will use; the results are not findings.\n:::")
    return (f"::: {{.callout-note}}\nThis chapter summarises {len(data.extraction)} included studies from the "
            "review's screening log, extraction table and reference library.\n:::")


def cite(keys) -> str:
    """Pandoc citation for the keys, ``[@a; @b]``, or an empty string."""
    keys = list(keys)
    return f"[{'; '.join('@' + k for k in keys)}]" if keys else ""


def _n(count: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{format_count(count)} {noun if count == 1 else plural}"


def flow_sentence(log: ScreeningLog) -> str:
    """What the flow diagram says, in one sentence of computed numbers."""
    c = log.counts
    main, other = log.identified(MAIN_KINDS), log.identified(OTHER_KINDS)
    removed = c["duplicates_removed"] + c["automation_removed"] + c["other_removed"]
    text = (f"The database and register searches identified {_n(main, 'record')}"
            + (f" and other methods a further {format_count(other)}" if other else "")
            + f"; after {format_count(removed)} were removed before screening, {format_count(c['records_screened'])} "
            "titles and abstracts "
            f"were screened and {_n(c['reports_assessed'] + c['other_reports_assessed'], 'report')} were assessed "
            f"in full, of which {_n(c['new_studies'], 'study')}")
    if c["new_reports"] is not None:
        text += f" ({_n(c['new_reports'], 'report')})"
    text += " met the inclusion criteria"
    if log.has_previous:
        text += (f", giving {format_count(log.total_studies)} studies with the {format_count(c['previous_studies'])} of "
                 "the previous version")
    return text + "."


def equity_sentence(extraction: pd.DataFrame) -> str:
    """How many studies found inequalities narrowed, unchanged or widened, with citations."""
    ordered = study_order(extraction)
    n = len(ordered)
    assessed = ordered.loc[ordered["effect_direction"] != "not_assessed"]
    parts = []
    for direction, phrase in (("narrowed", "narrowed"), ("no_change", "did not change"), ("widened", "widened")):
        keys = assessed.loc[assessed["effect_direction"] == direction, "key"]
        if len(keys):
            parts.append(f"{len(keys)} found that inequalities {phrase} {cite(keys)}")
    if not parts:
        return f"None of the {_n(n, 'included study')} assessed the effect of the intervention on inequalities."
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    not_assessed = n - len(assessed)
    return (f"Of the {_n(n, 'included study')}, {len(assessed)} assessed the effect on inequalities: {listing}"
            + (f"; {not_assessed} did not assess it." if not_assessed else "."))


def coverage_sentence(extraction: pd.DataFrame) -> str:
    """Which PROGRESS-Plus dimensions were most and never considered."""
    counts = explode(extraction, "progress_plus").groupby("progress_plus").size()
    n = len(extraction)
    if counts.empty:
        return "No included study reported results across any PROGRESS-Plus dimension."
    top = counts.sort_values(ascending=False, kind="stable")
    top = top[top == top.iloc[0]]
    names = " and ".join(PROGRESS_PLUS[c].lower() for c in top.index)
    never = [PROGRESS_PLUS[d].lower() for d in PROGRESS_PLUS if d not in counts.index and d != "other_plus"]
    text = f"The dimension most often considered was {names} ({top.iloc[0]} of {n} studies)"
    if never:
        text += "; no study considered " + (", ".join(never[:-1]) + " or " + never[-1] if len(never) > 1 else never[0])
    return text + "."


def rob_sentence(extraction: pd.DataFrame) -> str:
    """How many studies were at low overall risk of bias, by tool."""
    parts = []
    for tool, spec in ROB_TOOLS.items():
        sub = extraction.loc[extraction["rob_tool"] == tool]
        if len(sub):
            low = int((sub["rob_overall"] == "low").sum())
            parts.append(f"{low} of {_n(len(sub), 'study')} assessed with {spec['label']} were at low overall risk "
                         "of bias")
    untooled = int((extraction["rob_tool"] == "").sum())
    if not parts:
        return "Risk of bias was not assessed for any included study."
    text = "; ".join(parts)
    if untooled:
        text += f"; {_n(untooled, 'study')} had no risk-of-bias assessment"
    return text[0].upper() + text[1:] + "."


def harvest_height_sentence(height: HarvestHeight) -> str:
    """What the bar heights of the harvest plots show, for the chapter's ``harvest_height`` setting."""
    if height == "quality":
        return ("In the harvest plots, taller bars are studies at lower risk of bias: the tallest bars are studies at "
                "low overall risk, the middle ones some concerns (moderate), the shortest higher or unknown risk.")
    if height == "size":
        return ("In the harvest plots, taller bars are larger studies: bar height grows with the logarithm of the "
                "sample size, from the smallest included study to the largest.")
    raise ValueError("height must be 'quality' or 'size'")


def rob_summary_sentence(weighted: bool) -> str:
    """What the bars of the risk-of-bias summary are shares of, for the chapter's ``rob_weighted`` setting."""
    if weighted:
        return ("In the summary of risk-of-bias judgements, each study is weighted by its sample size, so the bars "
                "give the share of participants at each judgement.")
    return ("In the summary of risk-of-bias judgements, each study counts once, so the bars give the share of "
            "studies at each judgement.")


def labels_for(column: str) -> dict[str, str]:
    """Display labels for the codes of a column (identity for free-text columns)."""
    return {"design": DESIGNS, "qi_approach": QI_APPROACHES, "progress_plus": PROGRESS_PLUS,
            "effect_direction": DIRECTIONS, "judgement": JUDGEMENTS}.get(column, {})


# -- figures -------------------------------------------------------------------------------------------------------
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
            names = list(ROB_TOOLS[tool]["domains"]) + ["Overall risk of bias"]
            domains = [f"D{i + 1}" for i in range(len(names) - 1)] + ["Overall"]
            left = np.zeros(len(domains))
            for judgement in ROB_TOOLS[tool]["judgements"]:
                shares = np.array([sub.loc[(sub["domain"] == d) & (sub["judgement"] == judgement), "share"].sum()
                                   for d in domains])
                ax.barh(range(len(domains)), 100 * shares, left=100 * left, color=JUDGEMENT_COLOURS[judgement],
                        edgecolor="#333333", linewidth=0.4, height=0.7)
                left += shares
            ax.set_yticks(range(len(domains)), names, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel(("Participants" if weighted else "Studies") + " (%)", fontsize=8)
            ax.set_title(ROB_TOOLS[tool]["label"], fontsize=9, loc="left")
            ax.grid(axis="y", visible=False)
            _judgement_legend(ax, tool)
    return fig, axes
