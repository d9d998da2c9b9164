"""The one-page policy brief for NHS England and the integrated care board: the question, the headline by
deprivation quintile with one figure, and three implications, every result computed from the headline tables.

The page is printable to A4 from the browser: the book's print stylesheet drops the navigation, and the figure is
the page's width (:data:`beyond_averages.style.PAGE_WIDTH_IN`) with 9-pt text.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .. import labels
from ..style import PAGE_WIDTH_IN, QUINTILE_COLOURS, figure_style, finish
from .conclusions import NARROWED, WIDENED, conclude
from .discussion import answer, implications
from .tables import format_ci, format_pp, format_signed


def headline_sentence(headline: pd.DataFrame) -> str:
    """The brief's headline: what the programme did to the gap, with the main estimate."""
    a = answer(headline)
    c = conclude(headline, source="headline results")
    did = c[(c["design"] == "DiD") & c["primary"]].iloc[0]
    what = {NARROWED: "narrowed the gap", WIDENED: "widened the gap"}.get(
        a["label"], "did not clearly change the gap")
    size, side = abs(float(did["estimate"])), "larger" if did["estimate"] >= 0 else "smaller"
    return (f"The programme {what} between patients in the most and least deprived areas: its effect was "
            f"{format_pp(size)} percentage points {side} in the most deprived fifth than in the least deprived "
            f"(difference {format_signed(did['estimate'])}, 95% CI "
            f"{format_ci(did['ci_lower'], did['ci_upper'], signed=True)}).")


def quintile_effect_figure(headline: pd.DataFrame):
    """The programme's effect in each deprivation quintile (main analysis), with 95% intervals."""
    rows = headline[(headline["design"] == "DiD") & headline["group"].str.fullmatch(r"Q\d")].sort_values("group")
    with figure_style():
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 2.8), layout="constrained")
        for i, r in enumerate(rows.itertuples(index=False)):
            q = int(r.group[1:])
            ax.errorbar(i, r.estimate, yerr=[[r.estimate - r.ci_lower], [r.ci_upper - r.estimate]], fmt="o", ms=6,
                        capsize=4, color=QUINTILE_COLOURS[q])
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(rows)), [labels.QUINTILES[int(g[1:])] for g in rows["group"]])
        ax.set_ylabel("Effect (percentage points)")
        ax.set_xlabel("Deprivation quintile of the patient's area")
        ax.grid(axis="x", visible=False)
    return finish(fig)


def implications_markdown(headline: pd.DataFrame) -> str:
    """The three implications as a numbered Markdown list."""
    return "\n".join(f"{i}. {text}" for i, text in enumerate(implications(answer(headline)["label"]), 1))


def about_sentence(headline: pd.DataFrame) -> str:
    """Where the numbers come from, in one sentence (the same headline tables as the book's chapters)."""
    c = headline[headline["design"] == "DiD"]
    return (f"*About these numbers.* Difference-in-differences on every adopting practice, {c['horizon'].iloc[0]}; "
            "the full analysis and the interrupted time series are in the evaluation "
            "chapters (@sec-did, @sec-its) and the discussion (@sec-discussion).")
