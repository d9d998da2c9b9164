"""The DiD chapter's sensitivity table and the sentence that says whether its conclusion holds.

Rows come from :func:`beyond_averages.did.sensitivity.did_sensitivity`; each is concluded by the one rule of
:mod:`.conclusions`, oriented like the chapter's headline rows (the Q1 - Q5 difference narrows when positive if the
most deprived start lower; the within-practice gap, least minus most deprived, narrows when it falls).
"""

from __future__ import annotations

import pandas as pd

from ..did.sensitivity import did_sensitivity
from .conclusions import conclude
from .tables import format_count, format_estimate_ci, html_table

SCALES = {"percentage_points": "percentage points", "proportion": "proportion", "log_odds": "log-odds"}
HEADERS = {"analysis": "Analysis", "what": "Estimand", "effect": "Estimate (95% CI)", "scale": "Scale",
           "practices": "Practices", "conclusion": "Conclusion"}


def sensitivity_rows(analysis, headline: pd.DataFrame) -> pd.DataFrame:
    """The sensitivity analyses with their conclusions (``narrowing`` taken from the chapter's headline rows)."""
    rows = did_sensitivity(analysis)
    primary = headline[headline["primary"]].iloc[0]
    gap = headline[headline["group"] == "gap"]
    orient = {rows["estimand"].iloc[0]: int(primary["narrowing"]),
              "gap": int(gap["narrowing"].iloc[0]) if len(gap) else 0}
    rows = rows.assign(narrowing=rows["estimand"].map(orient).fillna(0).astype(int))
    return conclude(rows.assign(estimand=rows["analysis"] + " | " + rows["estimand"]), source="sensitivity rows")


def sensitivity_table(rows: pd.DataFrame):
    analysis, estimand = zip(*(e.split(" | ") for e in rows["estimand"]))
    shown = pd.DataFrame({
        "analysis": analysis,
        "what": ["Difference in effect, " + e if e.startswith("Q") else "Within-practice gap, Q5 minus Q1"
                 for e in estimand],
        "effect": [format_estimate_ci(r.estimate, r.ci_lower, r.ci_upper) for r in rows.itertuples()],
        "scale": rows["scale"].map(SCALES), "practices": rows["practices"].map(format_count),
        "conclusion": rows["conclusion"]})
    return html_table(shown.rename(columns=HEADERS))


def sensitivity_sentence(rows: pd.DataFrame) -> str:
    """Whether the primary conclusion, and the within-practice gap's, hold across the sensitivity analyses."""
    parts = []
    for kind, noun in (("Q", "the primary estimand"), ("gap", "the within-practice gap")):
        sub = rows[[e.split(" | ")[1].startswith(kind) for e in rows["estimand"]]]
        if sub.empty:
            continue
        main = sub["conclusion"].iloc[0]
        differ = [e.split(" | ")[0] for e, c in zip(sub["estimand"], sub["conclusion"]) if c != main]
        same = len(sub) - len(differ)
        text = f"for {noun} the main conclusion (\u201c{main}\u201d) holds in {same} of {len(sub)} analyses"
        if differ:
            text += f"; it changes with the {' and the '.join(differ)}"
        parts.append(text)
    sentence = "; ".join(parts)
    return sentence[:1].upper() + sentence[1:] + "."
