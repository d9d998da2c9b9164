"""The review chapter's tables and computed sentences (its figures are in :mod:`.review_figures`).

The PRISMA flow diagram is in :mod:`beyond_averages.report.prisma`. ``*_frame`` functions return display-ready
DataFrames (labels instead of codes, numbers formatted) so tests can check every cell; ``*_table`` wrap them with
:func:`beyond_averages.report.tables.html_table` for a notebook cell. The study column holds
``<span data-qmd="[@key]">key</span>``: Quarto processes the ``data-qmd`` attribute of an HTML table cell as
Markdown, so the citation resolves against the bibliography in the rendered book.
"""

from __future__ import annotations

import html
from typing import Literal

import pandas as pd

from .. import labels
from ..review.dataset import ReviewData
from ..review.extraction import explode
from ..review.screening_log import MAIN_KINDS, OTHER_KINDS, ScreeningLog
from ..review.synthesis import (
    COUNTED,
    HarvestHeight,
    study_order,
    summary_counts,
)
from ..review.vocabulary import (
    DESIGNS,
    DIRECTIONS,
    JUDGEMENTS,
    PROGRESS_PLUS,
    QI_APPROACHES,
    ROB_TOOLS,
)
from .tables import format_count, format_percent, html_table


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


def weight_unit(extraction: pd.DataFrame) -> str:
    """What the studies' sample sizes count (``sample_unit``, plural, lower case): "practices" when every study
    counts practices; "sample units" when studies count different things."""
    units = {str(u).strip().lower() for u in extraction["sample_unit"] if str(u).strip()}
    return units.pop() if len(units) == 1 else "sample units"


def rob_summary_sentence(weighted: bool, extraction: pd.DataFrame) -> str:
    """What the bars of the risk-of-bias summary are shares of, for the chapter's ``rob_weighted`` setting."""
    if weighted:
        unit = weight_unit(extraction)
        mixed = " (the studies count different units, so read the shares with care)" if unit == "sample units" else ""
        return ("In the summary of risk-of-bias judgements, each study is weighted by its sample size, so the bars "
                f"give the share of {unit} at each judgement{mixed}.")
    return ("In the summary of risk-of-bias judgements, each study counts once, so the bars give the share of "
            "studies at each judgement.")


def labels_for(column: str) -> dict[str, str]:
    """Display labels for the codes of a column (identity for free-text columns)."""
    return {"design": DESIGNS, "qi_approach": QI_APPROACHES, "progress_plus": PROGRESS_PLUS,
            "effect_direction": DIRECTIONS, "judgement": JUDGEMENTS}.get(column, {})
