"""The controlled vocabularies of the review: codes stored in data, labels shown on pages.

Data hold the short codes (``audit_feedback``, ``socioeconomic_status``); readers also accept the display label,
case-insensitively, so a spreadsheet can use either. Every mapping below is ordered: that order is the order of rows
and columns in tables and figures.
"""

from __future__ import annotations

from typing import Literal

QIApproach = Literal[
    "audit_feedback", "pdsa", "practice_facilitation", "decision_support", "financial_incentives", "outreach",
    "education", "reminders", "collaborative", "other",
]
QI_APPROACHES: dict[str, str] = {
    "audit_feedback": "Audit and feedback",
    "pdsa": "PDSA cycles",
    "practice_facilitation": "Practice facilitation",
    "decision_support": "Clinical decision support",
    "financial_incentives": "Financial incentives",
    "outreach": "Outreach",
    "education": "Education and training",
    "reminders": "Reminders and recall",
    "collaborative": "QI collaborative",
    "other": "Other",
}

Design = Literal[
    "rct", "cluster_rct", "controlled_before_after", "interrupted_time_series", "uncontrolled_before_after",
    "cohort", "cross_sectional", "mixed_methods", "qualitative", "other",
]
DESIGNS: dict[str, str] = {
    "rct": "Randomised controlled trial",
    "cluster_rct": "Cluster randomised trial",
    "controlled_before_after": "Controlled before-after",
    "interrupted_time_series": "Interrupted time series",
    "uncontrolled_before_after": "Uncontrolled before-after",
    "cohort": "Cohort",
    "cross_sectional": "Cross-sectional",
    "mixed_methods": "Mixed methods",
    "qualitative": "Qualitative",
    "other": "Other",
}

# PROGRESS (place of residence, race/ethnicity/culture/language, occupation, gender/sex, religion, education,
# socioeconomic status, social capital) and the "Plus" characteristics.
ProgressPlus = Literal[
    "place_of_residence", "race_ethnicity", "occupation", "gender_sex", "religion", "education",
    "socioeconomic_status", "social_capital", "age", "disability", "sexual_orientation", "other_plus",
]
PROGRESS_PLUS: dict[str, str] = {
    "place_of_residence": "Place of residence",
    "race_ethnicity": "Race, ethnicity, culture, language",
    "occupation": "Occupation",
    "gender_sex": "Gender or sex",
    "religion": "Religion",
    "education": "Education",
    "socioeconomic_status": "Socioeconomic status",
    "social_capital": "Social capital",
    "age": "Age",
    "disability": "Disability",
    "sexual_orientation": "Sexual orientation",
    "other_plus": "Other Plus characteristic",
}

Direction = Literal["narrowed", "no_change", "widened", "not_assessed"]
DIRECTIONS: dict[str, str] = {
    "widened": "Widened",
    "no_change": "No change",
    "narrowed": "Narrowed",
    "not_assessed": "Not assessed",
}
# Harvest-plot colours: a diverging pair around grey, colour-blind safe.
DIRECTION_COLOURS = {"widened": "#b2182b", "no_change": "#8c8c8c", "narrowed": "#2166ac", "not_assessed": "#d9d9d9"}

RobTool = Literal["rob2", "robins_i"]
# Domain labels of each risk-of-bias tool, in the tool's order; the overall judgement is stored separately.
ROB_TOOLS: dict[str, dict[str, object]] = {
    "rob2": {
        "label": "RoB 2",
        "domains": (
            "Randomisation process",
            "Deviations from intended interventions",
            "Missing outcome data",
            "Measurement of the outcome",
            "Selection of the reported result",
        ),
        "judgements": ("low", "some_concerns", "high", "no_information"),
    },
    "robins_i": {
        "label": "ROBINS-I",
        "domains": (
            "Confounding",
            "Selection of participants",
            "Classification of interventions",
            "Deviations from intended interventions",
            "Missing data",
            "Measurement of outcomes",
            "Selection of the reported result",
        ),
        "judgements": ("low", "moderate", "serious", "critical", "no_information"),
    },
}
MAX_ROB_DOMAINS = max(len(t["domains"]) for t in ROB_TOOLS.values())

Judgement = Literal["low", "some_concerns", "moderate", "high", "serious", "critical", "no_information"]
JUDGEMENTS: dict[str, str] = {
    "low": "Low",
    "some_concerns": "Some concerns",
    "moderate": "Moderate",
    "high": "High",
    "serious": "Serious",
    "critical": "Critical",
    "no_information": "No information",
}
# robvis colours and symbols.
JUDGEMENT_COLOURS = {
    "low": "#02C100", "some_concerns": "#E2DF07", "moderate": "#E2DF07", "high": "#BF0000",
    "serious": "#BF0000", "critical": "#820000", "no_information": "#4EA1F7",
}
JUDGEMENT_SYMBOLS = {
    "low": "+", "some_concerns": "\u2212", "moderate": "\u2212", "high": "\u00d7", "serious": "\u00d7",
    "critical": "!", "no_information": "?",
}
# Harvest-plot bar height from the overall judgement: 3 = low risk of bias, 2 = some concerns/moderate, 1 = worse.
QUALITY_HEIGHT = {
    "low": 3, "some_concerns": 2, "moderate": 2, "high": 1, "serious": 1, "critical": 1, "no_information": 1,
}


def normalise(value: str, vocabulary: dict[str, str]) -> str | None:
    """The code for ``value`` (a code or a label, any case, spaces or hyphens for underscores), else ``None``."""
    text = " ".join(str(value).strip().split()).lower()
    for code, label in vocabulary.items():
        if text in (code, code.replace("_", " "), code.replace("_", "-"), label.lower()):
            return code
    return None


def allowed(vocabulary: dict[str, str]) -> str:
    return ", ".join(vocabulary)
