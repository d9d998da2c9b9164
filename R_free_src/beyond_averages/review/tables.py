"""Tables of the review for the chapter: characteristics of included studies and summary counts.

``*_frame`` functions return display-ready DataFrames (labels instead of codes, numbers formatted) so tests can
check every cell; ``*_table`` wrap them with :func:`beyond_averages.report.tables.html_table` for a notebook cell.
The study column holds ``<span data-qmd="[@key]">key</span>``: Quarto processes the ``data-qmd`` attribute of an
HTML table cell as Markdown, so the citation resolves against the bibliography in the rendered book.
"""

from __future__ import annotations

import html
from typing import Literal

import pandas as pd

from ..report.tables import html_table
from .synthesis import COUNTED, study_order, summary_counts
from .vocabulary import DESIGNS, DIRECTIONS, PROGRESS_PLUS, QI_APPROACHES

CHARACTERISTIC_LABELS = {"country": "Country", "design": "Design", "qi_approach": "QI approach",
                         "clinical_area": "Clinical area"}


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
        size = "" if pd.isna(rec["sample_size"]) else f"{int(rec['sample_size']):,} {rec['sample_unit']}".strip()
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
        "Characteristic": [CHARACTERISTIC_LABELS[c] if f else "" for c, f in zip(counts["characteristic"], first)],
        "Category": category, "Studies": counts["n_studies"].astype("int64"),
        "%": [f"{p:.0f}" for p in counts["percent"]],
    })


def counts_table(extraction: pd.DataFrame):
    return html_table(counts_frame(extraction))
