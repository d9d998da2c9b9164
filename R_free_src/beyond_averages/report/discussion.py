"""The thesis's answer, in words chosen by rule: the discussion's answer, the abstract, the plain-language summary,
the implications and the result-bearing limitations, all from the chapters' headline tables (:mod:`.headline`).

The question is the thesis's: did the programme narrow or widen inequalities between the most and least deprived
patients, and within practices? The primary estimand is the difference-in-differences contrast (most minus least
deprived quintile, every adopter, mean over the months after adoption); the interrupted time series of one wave is
the second design. Every sentence that states a result is built here from the estimates and their conclusions
(:func:`beyond_averages.report.conclusions.conclude`), so a different result gives different words.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import config, qual, review
from .conclusions import NARROWED, NO_CHANGE, WIDENED, conclude
from .headline import read_facts, read_headlines
from .tables import format_ci, format_pp, format_signed

QUESTION = ("Did the programme narrow or widen inequalities between patients in the most and least deprived areas, "
            "and within practices?")


def _row(concluded: pd.DataFrame, design: str, group: str, primary: bool | None = None) -> pd.Series | None:
    rows = concluded[(concluded["design"] == design) & (concluded["group"] == group)]
    if primary is not None:
        rows = rows[rows["primary"] == primary]
    return rows.iloc[-1] if len(rows) else None


def _est(r: pd.Series, inner: bool = False) -> str:
    """An estimate with its CI; ``inner`` for use inside parentheses (no nested brackets)."""
    ci = format_ci(r["ci_lower"], r["ci_upper"], signed=True)
    if inner:
        return f"{format_signed(r['estimate'])} percentage points, 95% CI {ci}"
    return f"{format_signed(r['estimate'])} percentage points (95% CI {ci})"


def answer(headline: pd.DataFrame) -> dict[str, str]:
    """The answer by rule: ``label`` (narrowed, widened, no evidence of change, or mixed), ``between`` (the
    between-quintile sentence with both designs), ``within`` (the within-practice sentence)."""
    c = conclude(headline, source="headline results")
    did, its = _row(c, "DiD", "Q1 - Q5", True), _row(c, "ITS", "Q1 - Q5", True)
    if did is None or its is None:
        raise ValueError("the headline tables need the primary Q1 - Q5 row of both designs")
    a, b = did["conclusion"], its["conclusion"]
    if a == b:
        label = a
        agree = f"The interrupted time series of one adoption wave agrees ({_est(its, True)}, {its['horizon']})."
    elif {a, b} == {NARROWED, WIDENED}:
        label = "mixed"
        agree = (f"The interrupted time series of one adoption wave points the other way ({_est(its, True)}, "
                 f"{its['horizon']}), so the two designs conflict.")
    else:
        label = a
        agree = (f"The interrupted time series of one adoption wave finds {b} ({_est(its, True)}, {its['horizon']}), "
                 f"so this answer rests on the difference-in-differences design.")
    verb = {NARROWED: "narrowed", WIDENED: "widened"}.get(a)
    between = ((f"In the main analysis the programme {verb} the inequality between the most and least deprived "
                f"quintiles: the difference in its effect was {_est(did)}.") if verb else
               (f"The main analysis found no evidence that the programme changed the inequality between the most and "
                f"least deprived quintiles: the difference in its effect was {_est(did)}."))
    within = _within(c)
    return {"label": label, "between": f"{between} {agree}", "within": within}


def _within(c: pd.DataFrame) -> str:
    gap, sii = _row(c, "DiD", "gap"), _row(c, "DiD", "sii")
    if gap is None or sii is None:
        return "The within-practice inequality was not estimated."
    words = {NARROWED: "narrowed", WIDENED: "widened", NO_CHANGE: "showed no evidence of change"}
    g, s = words.get(gap["conclusion"], gap["conclusion"]), words.get(sii["conclusion"], sii["conclusion"])
    if gap["conclusion"] == sii["conclusion"]:
        return (f"Within practices, both measures {g}: the gap between the least and most deprived quintile changed "
                f"by {_est(gap)} and the slope index of inequality by {_est(sii)}.")
    return (f"Within practices the two measures disagree: the slope index of inequality {s} ({_est(sii, True)}), "
            f"while the gap between the least and most deprived quintile {g} ({_est(gap, True)}). The slope index uses every "
            "quintile and tolerates practices where a quintile is sparse, the gap only the two extremes, so the "
            "within-practice answer is less certain than either alone suggests.")


def quintile_sentence(headline: pd.DataFrame) -> str:
    """How the programme's effect ran across the quintiles in the main analysis."""
    c = conclude(headline, source="headline results")
    rows = c[(c["design"] == "DiD") & c["group"].str.fullmatch(r"Q\d")].sort_values("group")
    if rows.empty:
        return ""
    first, last = rows.iloc[0], rows.iloc[-1]
    rose = (rows["conclusion"] == "increased").sum()
    return (f"The programme raised the indicator in {rose} of {len(rows)} quintiles, by "
            f"{format_pp(first['estimate'])} percentage points in the most deprived and "
            f"{format_pp(last['estimate'])} in the least deprived.")


def implications(label: str) -> list[str]:
    """Three implications for practice and policy, chosen by the answer's label."""
    monitor = ("Report the programme's results by deprivation quintile and within practices (gap and slope index "
               "of inequality), not only as an average, so a widening is seen while it can still be acted on.")
    if label == NARROWED:
        return ["Keep the programme, and offer it first to practices serving the most deprived populations, where "
                "its effect was larger.", monitor,
                "Fund the practice time the programme needs: the gain in the most deprived quintile depends on "
                "practices being able to take part."]
    if label == WIDENED:
        return ["Do not scale the programme up as it stands: it helped the least deprived most.", monitor,
                "Pair it with targeted outreach to patients in the most deprived areas before it is offered again."]
    return ["Do not assume the programme narrows inequalities: the evidence here does not show that it does.", monitor,
            "Design the next round to answer the question: pre-specify the inequality outcome and give more "
            "practices serving deprived populations the chance to take part."]


def plain_summary(headline: pd.DataFrame, indicator: str, synthetic: bool) -> str:
    """The plain-language summary: what was done and what it found, in everyday words."""
    c = conclude(headline, source="headline results")
    rows = c[(c["design"] == "DiD") & c["group"].str.fullmatch(r"Q\d")].sort_values("group")
    a = answer(headline)
    most, least = rows.iloc[0], rows.iloc[-1]
    found = {NARROWED: "so the gap between them got smaller", WIDENED: "so the gap between them got bigger"}.get(
        a["label"], "but we cannot be sure the gap between them changed")
    text = (f"We looked at whether a programme to improve care in GP practices helped people in the poorest areas "
            f"as much as people in the richest areas. The measure was: {indicator[:1].lower() + indicator[1:]}. "
            f"In practices that took part, the share of patients who got this care went up by about "
            f"{format_pp(most['estimate'])} percentage points for people in the poorest fifth of areas and "
            f"{format_pp(least['estimate'])} for people in the richest fifth, {found}.")
    if synthetic:
        text += (" These numbers come from made-up (synthetic) data that look like real GP records; they show how "
                 "the study will work, not what it will find.")
    return text


def abstract(headline: pd.DataFrame, *, n_studies: int, n_participants: int, n_practices: int, n_adopters: int,
             indicator: str, synthetic: bool) -> dict[str, str]:
    """A structured abstract (background, methods, results, conclusions), every number computed."""
    a = answer(headline)
    conclusion = {NARROWED: "narrowed", WIDENED: "widened"}.get(a["label"])
    concl = (f"In this {'synthetic ' if synthetic else ''}evaluation the programme {conclusion} the inequality between "
             "the most and least deprived patients." if conclusion else
             f"This {'synthetic ' if synthetic else ''}evaluation found no clear evidence that the programme changed "
             "the inequality between the most and least deprived patients.")
    return {
        "Background": ("Quality-improvement programmes in primary care are judged by their average effect, which can "
                       "hide whether they narrow or widen health inequalities."),
        "Methods": (f"A review of {n_studies} studies of equity-focused quality improvement, interviews and focus "
                    f"groups with {n_participants} practitioners and policy makers, and an evaluation of "
                    f"{indicator[:1].lower() + indicator[1:]} in {n_practices} practices, {n_adopters} of which "
                    "adopted the programme, by difference-in-differences and interrupted time series by deprivation "
                    "quintile."),
        "Results": f"{a['between']} {a['within']}",
        "Conclusions": concl,
    }


def implications_markdown(label: str) -> str:
    """The three implications as a numbered Markdown list."""
    return "\n".join(f"{i}. {text}" for i, text in enumerate(implications(label), 1))


def limitations_sentence(headline: pd.DataFrame, synthetic: bool) -> str:
    """The limitations that depend on the results: whether the designs and the within-practice measures agree, and
    whether the data are synthetic."""
    c = conclude(headline, source="headline results")
    did, its = _row(c, "DiD", "Q1 - Q5", True), _row(c, "ITS", "Q1 - Q5", True)
    parts = []
    if did is not None and its is not None and did["conclusion"] != its["conclusion"]:
        parts.append("The two designs did not reach the same conclusion, so the answer leans on the assumption of "
                     "the main design: that adopting and never-adopting practices would have followed parallel "
                     "trends in each quintile without the programme.")
    gap, sii = _row(c, "DiD", "gap"), _row(c, "DiD", "sii")
    if gap is not None and sii is not None and gap["conclusion"] != sii["conclusion"]:
        parts.append("The within-practice gap and slope index of inequality disagree, so the within-practice answer "
                     "is tentative.")
    if synthetic:
        parts.append("Every result here comes from synthetic data with effects planted by the generator: the "
                     "chapters test the methods, not the programme.")
    return " ".join(parts) or "The two designs agree, and so do the two within-practice measures."


def abstract_markdown(headline: pd.DataFrame, **kw) -> str:
    """The abstract as Markdown paragraphs with bold headings (see :func:`abstract` for the arguments)."""
    return "\n\n".join(f"**{head}.** {text}" for head, text in abstract(headline, **kw).items())


@dataclass(frozen=True)
class DiscussionAnalysis:
    """What the discussion, the abstract and the plain-language summary are computed from."""

    headline: pd.DataFrame
    answer: dict
    indicator: str
    synthetic: bool
    counts: dict          # n_studies, n_participants, n_practices, n_adopters


def run_discussion(area: str, results_dir, screening_log, extraction, references,
                   qualitative_data) -> DiscussionAnalysis:
    """The chapter's one call: the headline tables of both designs, the DiD chapter's counts, and the numbers of
    reviewed studies and qualitative participants."""
    headline = read_headlines(area, results_dir)
    reviewed = review.load_review(screening_log, extraction, references)
    coded = qual.load_project(qualitative_data)
    counts = {"n_studies": len(reviewed.extraction), "n_participants": len(coded.participants),
              **read_facts(area, "DiD", results_dir)}
    return DiscussionAnalysis(headline, answer(headline), config.load_area(area).indicator_label,
                              reviewed.is_synthetic, counts)


def abstract_for(analysis: DiscussionAnalysis) -> str:
    """The abstract of the book, as Markdown."""
    return abstract_markdown(analysis.headline, indicator=analysis.indicator, synthetic=analysis.synthetic,
                             **analysis.counts)
