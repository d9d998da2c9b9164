"""The recovery appendix's section on the ITS chapter's primary estimand: the designs tried where it falls short.

Reads the table ``bench/its_design_study.py`` writes (``bench/recorded/its_design_study_summary.csv``: per design
variant and scenario, seeds, mean truth, bias, empirical SD of the error, mean SE, coverage of the truth and the
share of seeds concluding the planted direction, on full-scale tuning seeds the recovery study does not use) and
turns it into a table and a sentence judged by rule: a variant would be worth adopting only if it reached the
recovery study's target for the planted direction (:data:`~beyond_averages.report.recovery.CORRECT_MIN`) in both
scenarios while its coverage stayed inside :data:`~beyond_averages.report.recovery.COVERAGE_BAND` or above it.
A fork without the file gets a sentence saying how to write it, and no table.
"""

from __future__ import annotations

import pandas as pd

from .. import paths
from ..files import InputError, require_columns
from .recovery import CORRECT_MIN, COVERAGE_BAND
from .tables import format_percent, format_pp, format_signed, html_table, join_words

CHAPTER = "chapter"   # the chapter's own design: the study's reference row
COLUMNS = ["variant", "scenario", "seeds", "truth", "bias", "sd", "mean_se", "coverage", "correct"]
HEADERS = {"variant": "Design", "scenario": "Scenario", "seeds": "Seeds", "truth": "Mean truth (pp)",
           "bias": "Bias (pp)", "sd": "SD of error (pp)", "mean_se": "Mean SE (pp)",
           "coverage": "95% CI coverage", "correct": "Planted direction concluded"}


def load_design_study(path) -> pd.DataFrame | None:
    """The design study's table, or ``None`` when the file does not exist; a file without its columns is an
    :class:`InputError` naming them."""
    path = paths.resolve(path)
    if not path.exists():
        return None
    frame = pd.read_csv(path)
    require_columns(frame, COLUMNS, str(path))
    if CHAPTER not in set(frame["variant"]):
        raise InputError(f"{path}: column 'variant' has no row of the chapter's own design ({CHAPTER!r})")
    return frame


def design_table(frame: pd.DataFrame | None):
    """Every variant and scenario (a Styler); nothing to show when the study has not been run."""
    if frame is None:
        return html_table(pd.DataFrame({"Status": ["not yet run (python bench/its_design_study.py)"]}))
    out = pd.DataFrame({
        "variant": frame["variant"].map(_label), "scenario": frame["scenario"].map(_label),
        "seeds": frame["seeds"].astype(int), "truth": frame["truth"].map(format_signed),
        "bias": frame["bias"].map(format_signed), "sd": frame["sd"].map(format_pp),
        "mean_se": frame["mean_se"].map(format_pp), "coverage": frame["coverage"].map(_pct),
        "correct": frame["correct"].map(_pct)})
    return html_table(out, HEADERS)


def _label(text: str) -> str:
    return "The chapter's design" if text == CHAPTER else text[:1].upper() + text[1:]


def _pct(share: float) -> str:
    return format_percent(100 * share)


def _shares(rows: pd.DataFrame, column: str) -> str:
    return " and ".join(f"{_pct(v)} ({s})" for s, v in zip(rows["scenario"], rows[column]))


def design_sentence(frame: pd.DataFrame | None) -> str:
    """What the chapter's design achieves on the tuning seeds, which variants reach the target in both scenarios
    and at what coverage, and so whether any should replace it."""
    if frame is None:
        return ("The study of alternative designs for the ITS chapter's primary estimand has not been run "
                "(`python bench/its_design_study.py`).")
    seeds = int(frame["seeds"].min())
    own = frame[frame["variant"] == CHAPTER]
    text = (f"On {seeds} full-scale extracts per scenario that the recovery study does not use, the ITS chapter's "
            f"own design (Q1 minus Q5, 24 months after each wave's start) concluded the planted direction in "
            f"{_shares(own, 'correct')} of seeds, its 95% confidence intervals covering the truth in "
            f"{_shares(own, 'coverage')}. ")
    by_variant = frame.groupby("variant", sort=False)
    reach = [v for v, rows in by_variant if (rows["correct"] >= CORRECT_MIN).all()]
    keep = [v for v in reach if (by_variant.get_group(v)["coverage"] >= COVERAGE_BAND[0]).all()]
    if CHAPTER in keep:
        others = [v for v in keep if v != CHAPTER]
        also = (f" Of the other designs, {join_words(others)} did so too." if others else
                " No other design tried did so.")
        return (text + f"It reached {_pct(CORRECT_MIN)} in both scenarios with coverage of at least "
                f"{_pct(COVERAGE_BAND[0])}, the recovery study's targets.{also}")
    reach = [v for v in reach if v != CHAPTER]
    keep = [v for v in keep if v != CHAPTER]
    if not reach:
        text += f"No other design tried reached {_pct(CORRECT_MIN)} in both scenarios"
    else:
        named = "; ".join(f"{v}, with coverage {_shares(by_variant.get_group(v), 'coverage')}" for v in reach)
        text += f"Other designs reaching {_pct(CORRECT_MIN)} in both scenarios: {named}"
    if keep:
        return text + f". Of these, {', '.join(keep)} kept coverage of at least {_pct(COVERAGE_BAND[0])}."
    return (text + f". No design did so with coverage of at least {_pct(COVERAGE_BAND[0])}: each design tried either "
            "concluded the planted direction no more often or did so with intervals that missed the truth too often, "
            "so the chapter keeps its design and its primary estimand's shortfall is the precision this extract "
            "allows.")
