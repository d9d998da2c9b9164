"""Every display label of the compendium, in one place.

Data keep tidy names (``estimate``, ``imd_quintile``, ``gp``); only rendered pages show the labels below, through
:func:`beyond_averages.report.tables.display_columns` and the report modules. A label changed here changes on every
page at once.
"""

from __future__ import annotations

from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED

# Tidy column name -> column header.
COLUMNS: dict[str, str] = {
    "estimate": "Estimate",
    "std_error": "Std. error",
    "ci_lower": "95% CI lower",
    "ci_upper": "95% CI upper",
    "p_value": "p",
    "imd_quintile": "IMD quintile",
    "numerator": "Numerator",
    "denominator": "Denominator",
    "rate": "Rate (%)",
    "term": "Term",
    "n_obs": "Observations",
}

# IMD quintile (1 = most deprived, beyond_averages.deprivation) -> label.
QUINTILES: dict[int, str] = {
    1: "Q1 (most deprived)",
    2: "Q2",
    3: "Q3",
    4: "Q4",
    5: "Q5 (least deprived)",
}
# The key of a most-minus-least-deprived contrast in result frames, and its label.
CONTRAST_KEY = f"{MOST_DEPRIVED} - {LEAST_DEPRIVED}"
CONTRAST = f"Q{MOST_DEPRIVED} minus Q{LEAST_DEPRIVED}"

# Estimators, model families and terms of the evaluation chapters.
ESTIMATORS = {"twfe": "Two-way fixed effects", "group_time_att": "Group-time ATT (Callaway-Sant'Anna)"}
FAMILIES = {"gaussian": "Gaussian (linear) model", "poisson": "Poisson model", "quasipoisson": "quasi-Poisson model",
            "binomial": "binomial (logistic) model", "quasibinomial": "quasi-binomial (logistic) model"}
ITS_TERMS = {"level_change": "Level change", "slope_change": "Slope change (per month)"}
EFFECT_MEASURES = {"absolute": "Absolute change", "ratio": "Ratio to counterfactual"}

# The qualitative strand: participants' roles, data-collection methods and deprivation bands.
ROLES = {
    "gp": "GP",
    "practice_nurse": "Practice nurse",
    "practice_manager": "Practice manager",
    "pharmacist": "Pharmacist",
    "commissioner": "Commissioner",
    "policy_maker": "Policy maker",
    "other": "Other",
    "unknown": "Role not known",
}
METHODS = {"interview": "Interview", "focus_group": "Focus group", "case_study": "Case study"}
DEPRIVATION_BANDS = {"most_deprived": "most deprived (IMD Q1-Q2)", "middle": "middle (IMD Q3)",
                     "least_deprived": "least deprived (IMD Q4-Q5)", "not_known": "national role or not known"}
QUALITATIVE_COLUMNS = {
    "level": "Level", "theme": "Theme", "code": "Code", "definition": "Definition",
    "n_participants": "Participants", "n_segments": "Segments", "participant_id": "Participant",
    "role": "Role", "method": "Method", "attribution": "Attributed to", "quote": "Quote", "codes": "Codes",
    "rank": "Rank", "event": "Event", "participants": "Participants", "new_codes": "New codes",
    "cumulative_codes": "Codes so far", "new_code_names": "Codes first seen",
    "participants_by_role": "Participants by role",
    **{f"participants_{role}": label if label.endswith("s") else f"{label}s" for role, label in ROLES.items()},
}

# The literature review's study characteristics.
REVIEW_CHARACTERISTICS = {"country": "Country", "design": "Design", "qi_approach": "QI approach",
                          "clinical_area": "Clinical area"}

# Equity measures (beyond_averages.equity): measure -> (label, unit suffix when the measure is a difference of
# percentages; report.tables formats the number).
EQUITY_MEASURES: dict[str, tuple[str, str]] = {
    "gap": ("Absolute gap, Q5 − Q1", " pp"),
    "ratio": ("Relative gap, Q5 / Q1", ""),
    "sii": ("Slope index of inequality", " pp"),
    "rii": ("Relative index of inequality", ""),
}

# Interrupted time series tables: column headers that differ from COLUMNS.
ITS_COLUMNS = {"group": COLUMNS["imd_quintile"], "estimate": "Estimate, pp (95% CI)", "correction": "Autocorrelation",
               "model": "Analysis", "series": "Series", "durbin_watson": "Durbin–Watson", "ljung_box": "Ljung–Box",
               "p_value": "Ljung–Box p"}

# Difference-in-differences: the outcome's scale, within-practice measures, pre-trend tests, bootstrap weights.
OUTCOME_UNITS = {"percentage_points": "percentage points", "proportion": "(proportion)"}
OUTCOME_SCALES = {"percentage_points": "in percentage points of the indicator",
                  "proportion": "differences in the indicator as a proportion"}
EFFECT_AXIS = {"percentage_points": "Effect (percentage points)", "proportion": "Effect (proportion)"}
INDICATOR_AXIS = {"percentage_points": "Indicator (%)", "proportion": "Indicator"}
# The gap of the DiD chapter's sparse-quintile rule (did.sparse.DEFAULT_RULE: adjacent quintiles pooled).
WITHIN_PRACTICE_MEASURES = {"gap": "Gap, Q4–Q5 minus Q1–Q2", "sii": "Slope index of inequality"}
PRETREND_TESTS = {"twfe_leads": "TWFE event study: all leads = 0 (F)",
                  "group_time_pre": "Group-time ATT: event-time effects before adoption = 0 (Wald)"}
BOOT_WEIGHTS = {"webb": "Webb", "rademacher": "Rademacher", "mammen": "Mammen"}
