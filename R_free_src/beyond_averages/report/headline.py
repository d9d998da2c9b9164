"""The quantitative chapters' headline results, one tidy table per design, and what they conclude by rule.

Each row is one estimand: ``design`` (ITS, DiD), ``estimand`` (a readable name), ``group`` (``Q1`` .. ``Q5``,
``Q1 - Q5`` or a within-practice measure), ``horizon`` (text), ``estimate, ci_lower, ci_upper`` (percentage
points), ``narrowing`` (+1 when a positive estimate narrows the inequality, -1 when a negative one does, 0 when the
row is an effect within one group) and ``primary`` (the one pre-specified primary estimand of the chapter; the rest
are secondary). :func:`beyond_averages.report.conclusions.conclude` turns the rows into labels and sentences; the
synthesis chapter, the discussion, the abstract and the policy brief all read these tables, so every chapter states
the same numbers with the same words.

Which side narrows is read from the data, not assumed: when the most deprived quintile starts *below* the least
deprived (the usual case for a care-process indicator), a larger gain in the most deprived narrows the gap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import labels, paths
from ..files import InputError, require_columns, write_csv, write_text
from .conclusions import conclude, estimand_statement
from .did import adopters_baseline, effects_by_quintile, inequality_effects
from .tables import format_count, format_estimate_ci, html_table

HEADLINE_COLUMNS = ("design", "estimand", "group", "horizon", "estimate", "ci_lower", "ci_upper", "narrowing",
                    "primary")
RESULTS_DIR = paths.OUTPUTS / "results"   # where the chapters leave their headline tables for the later chapters


def headline_path(area: str, design: str, results_dir: str | os.PathLike | None = None) -> Path:
    """``outputs/results/<area>_<design>_headline.csv`` (or under ``results_dir``)."""
    return Path(results_dir or RESULTS_DIR) / f"{area}_{design.lower()}_headline.csv"


def save_headline(headline: pd.DataFrame, area: str, results_dir: str | os.PathLike | None = None) -> Path:
    """Write a chapter's headline table (one design) atomically, for the synthesis, discussion and brief."""
    designs = set(headline["design"])
    if len(designs) != 1:
        raise ValueError(f"one design per headline table, found {sorted(designs)}")
    path = headline_path(area, designs.pop(), results_dir)
    write_csv(headline[list(HEADLINE_COLUMNS)], path, float_format="%.10g")
    return path


def read_headline(area: str, design: str, results_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """A headline table written by :func:`save_headline`; a missing file names the chapter that writes it."""
    path = headline_path(area, design, results_dir)
    if not path.exists():
        raise InputError(f"{path}: not found; it is written by the {design} chapter (run `make`)")
    frame = pd.read_csv(path)
    require_columns(frame, HEADLINE_COLUMNS, str(path))
    return frame.astype({"primary": bool, "narrowing": int})


def _orientation(baseline_gap: float) -> int:
    """+1 when the least deprived start higher (a larger gain for the most deprived narrows), -1 when lower."""
    if not np.isfinite(baseline_gap) or baseline_gap == 0:
        return 0
    return 1 if baseline_gap > 0 else -1


def its_headline(analysis) -> pd.DataFrame:
    """The ITS chapter's headline: the stacked controlled ITS of every wave by quintile and Q1 - Q5 (the difference
    of those rows, same model) at every horizon; primary: Q1 - Q5 at the longest horizon (the programme's effect on
    the between-quintile inequality when it had run longest)."""
    eff = analysis.stacked_effects()
    pre = analysis.inequality[analysis.inequality["month"] < analysis.interruption]
    orient = _orientation(float(pre["gap"].mean()))
    longest = max(analysis.horizons)
    rows = []
    for r in eff.itertuples(index=False):
        contrast = not str(r.group).isdigit()
        group = "Q1 - Q5" if contrast else f"Q{int(r.group)}"
        what = ("difference in effect, most minus least deprived" if contrast
                else f"effect in {labels.QUINTILES[int(r.group)]}")
        rows.append({"design": "ITS", "estimand": f"ITS {what}, {int(r.horizon)} months",
                     "group": group, "horizon": f"{int(r.horizon)} months after the start",
                     "estimate": r.estimate, "ci_lower": r.ci_lower, "ci_upper": r.ci_upper,
                     "narrowing": orient if contrast else 0, "primary": contrast and int(r.horizon) == longest})
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))


def did_headline(analysis) -> pd.DataFrame:
    """The DiD chapter's headline estimator by quintile, its Q_a - Q_b difference (primary) and the change in the
    within-practice gap and SII, each averaged over every month after each practice's adoption."""
    s = analysis.settings
    a, b = s.contrast
    horizon = "mean over all months after adoption"
    e = effects_by_quintile(analysis)
    e = e[e["estimator"] == s.estimator]
    gap = inequality_effects(analysis)
    orient = _orientation(adopters_baseline(analysis, "gap"))
    rows = []
    for r in e.itertuples(index=False):
        if r.is_contrast:
            rows.append({"group": f"Q{a} - Q{b}", "estimand": "DiD difference in effect, most minus least deprived",
                         "narrowing": orient if (a, b) == (1, 5) else 0, "primary": True, **_ci(r)})
        else:
            q = int(r.imd_quintile)
            rows.append({"group": f"Q{q}", "estimand": f"DiD effect in {labels.QUINTILES[q]}", "narrowing": 0,
                         "primary": False, **_ci(r)})
    for r in gap[gap["estimator"] == s.estimator].itertuples(index=False):
        # The within-practice gap and SII are positive when the less deprived are higher, so a fall narrows.
        rows.append({"group": r.measure, "primary": False, "narrowing": -_orientation(float(r.baseline)),
                     "estimand": f"DiD change in the within-practice {_lower(labels.WITHIN_PRACTICE_MEASURES[r.measure])}",
                     **_ci(r)})
    out = pd.DataFrame(rows).assign(design="DiD", horizon=horizon)
    return out[list(HEADLINE_COLUMNS)]


def read_headlines(area: str, results_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Both designs' headline tables (ITS then DiD), as the synthesis, discussion and brief read them."""
    return pd.concat([read_headline(area, d, results_dir) for d in ("ITS", "DiD")], ignore_index=True)


def did_facts(analysis) -> dict[str, int]:
    """The counts the abstract states: practices in the evaluation and practices that adopted the programme
    (organisations, not patients: exact, see the disclosure appendix)."""
    start = analysis.panel.groupby("practice_id")["programme_start"].first()
    return {"n_practices": int(len(start)), "n_adopters": int(start.notna().sum())}


def save_facts(facts: dict, area: str, design: str, results_dir: str | os.PathLike | None = None) -> Path:
    path = headline_path(area, design, results_dir).with_name(f"{area}_{design.lower()}_facts.json")
    write_text(path, json.dumps(facts, sort_keys=True, indent=1) + "\n")
    return path


def read_facts(area: str, design: str, results_dir: str | os.PathLike | None = None) -> dict:
    path = headline_path(area, design, results_dir).with_name(f"{area}_{design.lower()}_facts.json")
    if not path.exists():
        raise InputError(f"{path}: not found; it is written by the {design} chapter (run `make`)")
    return json.loads(path.read_text(encoding="utf-8"))


def _lower(label: str) -> str:
    return label[:1].lower() + label[1:]


def _ci(r) -> dict:
    return {"estimate": float(r.estimate), "ci_lower": float(r.ci_lower), "ci_upper": float(r.ci_upper)}


def concluded(headline: pd.DataFrame) -> pd.DataFrame:
    """The headline rows with their rule-based ``conclusion`` and ``sentence``."""
    return conclude(headline, source="headline results")


def primary(headline: pd.DataFrame) -> pd.Series:
    """The chapter's one primary row, concluded."""
    rows = concluded(headline)
    chosen = rows[rows["primary"]]
    if len(chosen) != 1:
        raise ValueError(f"expected one primary estimand, found {len(chosen)}")
    return chosen.iloc[0]


def its_estimand(analysis) -> str:
    """The ITS chapter's estimand in one sentence (population, horizon, weighting), its primary estimand, and how it
    differs from the DiD chapter's."""
    st = analysis.stacked
    sizes = ", ".join(f"{format_count(st.n_practices_[w])} in wave {w}" for w in st.waves_)
    short = [w for w in st.waves_ if st.last_event_[w] < max(analysis.horizons)]
    followed = (f" (wave{'s' if len(short) > 1 else ''} {', '.join(map(str, short))} not followed that long and "
                "left out of that horizon)" if short else "")
    first = estimand_statement(
        population=(f"the eligible patients of the practices of every adoption wave ({sizes}), each wave against "
                    f"those of {format_count(analysis.n_comparison)} never-adopting practices"),
        horizon=(f"{', '.join(map(str, analysis.horizons[:-1]))} and {analysis.horizons[-1]} months after each "
                 f"wave's own start{followed}"),
        weighting=("the mean over the waves followed that long, each weighted by its eligible patients in the month "
                   "before its start, each wave's quintile series pooling the patients of its practices"))
    return (f"{first} The primary estimand, fixed before the results were seen, is the difference in effect between "
            f"the most and the least deprived quintile at {max(analysis.horizons)} months; every other row is "
            "secondary. It differs from the difference-in-differences chapter's estimand, the effect averaged over "
            "every month after adoption of every wave (the first months, before a programme has had time to work, "
            "included): the two chapters answer different questions, and their numbers need not agree.")


def did_estimand(analysis) -> str:
    """The DiD chapter's estimand in one sentence and its primary estimand."""
    s = analysis.settings
    comparison = {"never_treated": "never-adopting practices",
                  "not_yet_treated": "practices that had not yet adopted"}[s.comparison]
    weighting = ("practices weighted by their eligible patients" if s.weighting == "denominator"
                 else "every practice weighted equally")
    first = estimand_statement(population=f"the eligible patients of every adopting practice, against {comparison}",
                               horizon="averaged over every month after each practice's adoption",
                               weighting=weighting)
    a, b = s.contrast
    return (f"{first} The primary estimand, fixed before the results were seen, is the difference in effect between "
            f"Q{a} and Q{b}; every other row is secondary.")


CONCLUSION_HEADERS = {"estimand": "Estimand", "horizon": "Horizon", "effect": "Estimate, pp (95% CI)",
                      "conclusion": "Conclusion", "role": "Role"}


def conclusions_table(headline: pd.DataFrame):
    """Every headline row with its conclusion by rule, the primary estimand first."""
    c = concluded(headline).sort_values("primary", ascending=False, kind="stable")
    shown = pd.DataFrame({
        "estimand": c["estimand"], "horizon": c["horizon"],
        "effect": [format_estimate_ci(r.estimate, r.ci_lower, r.ci_upper) for r in c.itertuples()],
        "conclusion": c["conclusion"], "role": np.where(c["primary"], "Primary", "Secondary")})
    return html_table(shown.rename(columns=CONCLUSION_HEADERS))


def primary_sentence(headline: pd.DataFrame) -> str:
    """The primary estimand's conclusion, as :func:`conclude` words it."""
    return f"Primary estimand. {primary(headline)['sentence']}"
