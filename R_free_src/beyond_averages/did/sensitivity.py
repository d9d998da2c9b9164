"""Sensitivity analyses of the DiD chapter's conclusions (issue 13 item 4): does the answer survive other choices?

For the primary estimand (the difference in the group-time ATT between the contrasted quintiles) the analysis is
repeated with the not-yet-treated comparison group, on the log-odds scale (each practice-quintile-month's
indicator as log((numerator + 0.5) / (denominator - numerator + 0.5)): for proportions near 90% a percentage-point
change means more at the top of the scale, and the log-odds scale asks whether the answer depends on that), and by
two-way fixed effects. For the within-practice gap, the sparse-quintile rules of :mod:`.sparse` (a minimum number
of eligible patients, pooling adjacent quintiles) change which practices enter. Each row is tidy (``analysis,
estimand, scale, estimate, ci_lower, ci_upper, practices``) so the report can apply the one conclusion rule.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .panel import within_practice_inequality
from .sparse import DEFAULT_RULE, SparseRule, practices_kept
from .staggered import GroupTimeATT

COMMON = dict(unit="practice_id", time="month", first_treated="programme_start")
SPARSE_RULES = (SparseRule(5), SparseRule(1, "adjacent"))


def log_odds(panel: pd.DataFrame) -> pd.Series:
    """Empirical log-odds of each cell's indicator (0.5 added to both counts, so 0% and 100% stay finite)."""
    num, den = panel["numerator"].astype(float), panel["denominator"].astype(float)
    return np.log((num + 0.5) / (den - num + 0.5))


def _contrast(fit: GroupTimeATT, a: int, b: int) -> dict:
    row = fit.contrast(a, b).iloc[0]
    return {"estimate": float(row["estimate"]), "ci_lower": float(row["ci_lower"]), "ci_upper": float(row["ci_upper"])}


def _overall(fit: GroupTimeATT) -> dict:
    row = fit.tidy().iloc[0]
    return {"estimate": float(row["estimate"]), "ci_lower": float(row["ci_lower"]), "ci_upper": float(row["ci_upper"])}


def did_sensitivity(analysis) -> pd.DataFrame:
    """The sensitivity rows of a :class:`~beyond_averages.did.analysis.DidAnalysis` (main analysis first)."""
    s = analysis.settings
    a, b = s.contrast
    w = "denominator" if s.weighting == "denominator" else None
    panel = analysis.panel
    n_practices = int(panel["practice_id"].nunique())
    contrast = f"Q{a} - Q{b}"
    rows = [{"analysis": "main analysis", "estimand": contrast, "scale": s.outcome_scale,
             "practices": n_practices, **_contrast(analysis.gta_quintile, a, b)}]
    with warnings.catch_warnings():   # the few-clusters warning was given once, by the main analysis
        warnings.simplefilter("ignore", UserWarning)
        other = "not_yet_treated" if s.comparison == "never_treated" else "never_treated"
        fit = GroupTimeATT(panel, by="imd_quintile", weights=w, comparison=other, outcome="outcome",
                           source="did panel", **COMMON)
        rows.append({"analysis": f"{other.replace('_', '-')} comparison group", "estimand": contrast,
                     "scale": s.outcome_scale, "practices": n_practices, **_contrast(fit, a, b)})
        fit = GroupTimeATT(panel.assign(outcome=log_odds(panel)), by="imd_quintile", weights=w,
                           comparison=s.comparison, outcome="outcome", source="did panel (log-odds)", **COMMON)
        rows.append({"analysis": "log-odds scale", "estimand": contrast, "scale": "log_odds",
                     "practices": n_practices, **_contrast(fit, a, b)})
        tw = analysis.twfe_quintile.tidy()
        tw = tw[tw["level"].isna()].iloc[0]
        rows.append({"analysis": "two-way fixed effects", "estimand": contrast, "scale": s.outcome_scale,
                     "practices": n_practices, "estimate": float(tw["estimate"]), "ci_lower": float(tw["ci_lower"]),
                     "ci_upper": float(tw["ci_upper"])})
        kept = practices_kept(panel, (DEFAULT_RULE, *SPARSE_RULES))
        kept = kept[kept["measure"] == "gap"]["practices"].to_numpy()
        rows.append({"analysis": f"main analysis ({DEFAULT_RULE.name})", "estimand": "gap",
                     "scale": s.outcome_scale, "practices": int(kept[0]),
                     **_overall(analysis.inequality[("gap", "group_time_att")])})
        for rule, n in zip(SPARSE_RULES, kept[1:]):
            ineq = within_practice_inequality(panel, s.outcome_scale, rule=rule)
            fit = GroupTimeATT(ineq, weights=w, comparison=s.comparison, outcome="gap",
                               source=f"within-practice gap ({rule.name})", **COMMON)
            rows.append({"analysis": rule.name, "estimand": "gap", "scale": s.outcome_scale, "practices": int(n),
                         **_overall(fit)})
    return pd.DataFrame(rows)
