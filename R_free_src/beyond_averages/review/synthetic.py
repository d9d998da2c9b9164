"""A synthetic example review: fictional studies by fictional authors, so the chapter renders before real data exist.

Everything here is invented and labelled so: every author has an invented surname built from a word for "example"
or "made up" (:data:`SURNAMES`: Fictitia, Exemplova, Placeholderson, ...), so citations read as distinct fictional
authors and plainly not real people; every title starts with "[SYNTHETIC]"; the journal is "Synthetic Journal of
Primary Care". :func:`make_synthetic_review` is a pure function of its seed;
:func:`write_synthetic_review` writes the three input files the chapter reads (``screening_log.csv``,
``extraction.csv``, ``references.bib``). Risk-of-bias overall judgements follow the tools' rule (the worst domain).
"""

from __future__ import annotations

import os
import string
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..files import write_csv
from .extraction import COLUMNS, ROB_COLUMNS
from .references import Reference, write_bibtex
from .vocabulary import DESIGNS as DESIGN_LABELS
from .vocabulary import QI_APPROACHES, ROB_TOOLS

COUNTRIES = ["England", "England", "England", "Scotland", "Wales", "Canada", "United States", "Netherlands"]
SETTINGS = ["General practices", "Primary care network", "Community health centres", "Group practices"]
AREAS = ["Hypertension", "Type 2 diabetes", "Cancer screening", "Childhood immunisation", "Smoking cessation",
         "Atrial fibrillation"]
APPROACHES = ["audit_feedback", "pdsa", "practice_facilitation", "decision_support", "financial_incentives",
              "outreach", "reminders"]
# Dimensions weighted as equity-focused QI studies tend to report them; some never appear, to show gaps.
DIMENSIONS = {"socioeconomic_status": 0.8, "race_ethnicity": 0.45, "place_of_residence": 0.3, "gender_sex": 0.3,
              "age": 0.25, "education": 0.1, "disability": 0.05}
MEASURES = {"socioeconomic_status": "Slope index of inequality across deprivation quintiles",
            "race_ethnicity": "Absolute gap between ethnic groups",
            "place_of_residence": "Rural-urban difference",
            "gender_sex": "Difference between women and men",
            "age": "Difference between age bands",
            "education": "Gap by educational attainment",
            "disability": "Difference for people with a learning disability"}
OUTCOMES = {"Hypertension": "Blood pressure controlled to target", "Type 2 diabetes": "HbA1c at or below target",
            "Cancer screening": "Screening uptake", "Childhood immunisation": "Immunisation coverage",
            "Smoking cessation": "Quit attempts recorded", "Atrial fibrillation": "Anticoagulation prescribed"}
DESIGNS = ["cluster_rct", "cluster_rct", "interrupted_time_series", "controlled_before_after",
           "uncontrolled_before_after", "cohort"]
DIRECTIONS = ["narrowed", "narrowed", "no_change", "no_change", "widened", "not_assessed"]
ROB_P = {"rob2": [0.65, 0.3, 0.05], "robins_i": [0.55, 0.4, 0.05, 0.0]}
# One invented surname per first-author letter; each is a made-up word for "example", "fictional" or "placeholder"
# so no reader can take an author for a real person.
SURNAMES = ("Fictitia", "Exemplova", "Placeholderson", "Samplewood", "Madeupson", "Simulatova", "Pretendsen",
            "Fabricatti", "Imaginova", "Specimenko", "Inventadottir", "Dummyfield", "Notrealsky", "Mockerton",
            "Hypothetico", "Illustrandi", "Surrogatti", "Prototypova", "Templateman", "Ipsumova", "Loremson",
            "Archetypo", "Modelheim", "Proxyford", "Fauxbourg", "Examplewicz")


def _in_sentence(label: str) -> str:
    """A vocabulary label inside a sentence: first letter lower-cased unless the word is an acronym ("PDSA")."""
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]


def _overall(tool: str, domains: list[str]) -> str:
    order = list(ROB_TOOLS[tool]["judgements"][:-1])       # worst-domain rule, ignoring "no information"
    return max(domains, key=order.index)


def make_synthetic_review(seed: int = 2024, n_studies: int = 18) -> dict[str, object]:
    """Return ``{"log": DataFrame, "extraction": DataFrame, "references": tuple[Reference, ...]}``.

    ``n_studies`` (1-26) fictional studies; the log's counts add up and include exactly those studies.
    """
    if not 1 <= n_studies <= 26:
        raise ValueError("n_studies must be between 1 and 26 (one letter per fictional first author)")
    rng = np.random.default_rng(seed)
    rows, refs = [], []
    for i, letter in enumerate(string.ascii_uppercase[:n_studies]):
        year = int(rng.integers(2008, 2025))
        key = f"synthetic_{letter.lower()}_{year}"
        design = DESIGNS[int(rng.integers(len(DESIGNS)))]
        approaches = sorted(set(rng.choice(APPROACHES, size=int(rng.integers(1, 3)), replace=True)),
                            key=APPROACHES.index)
        dims = [d for d, p in DIMENSIONS.items() if rng.random() < p] or ["socioeconomic_status"]
        area = AREAS[int(rng.integers(len(AREAS)))]
        direction = DIRECTIONS[int(rng.integers(len(DIRECTIONS)))]
        tool = "rob2" if design == "cluster_rct" else "robins_i"
        spec = ROB_TOOLS[tool]
        levels = [j for j in spec["judgements"] if j != "no_information"]
        domains = [str(rng.choice(levels, p=ROB_P[tool])) for _ in spec["domains"]]
        rob = dict(zip(ROB_COLUMNS, domains + [""] * (len(ROB_COLUMNS) - len(domains))))
        rows.append({
            "key": key, "year": year, "country": COUNTRIES[int(rng.integers(len(COUNTRIES)))],
            "setting": SETTINGS[int(rng.integers(len(SETTINGS)))], "design": design,
            "qi_approach": ";".join(approaches), "clinical_area": area, "progress_plus": ";".join(dims),
            # A study that targeted a disadvantaged group without comparing groups is equity-focused (eligible)
            # but measured no inequality.
            "equity_measure": "; ".join(MEASURES[d] for d in dims[:1]) if direction != "not_assessed"
            else "None (targeted at a disadvantaged group; groups not compared)",
            "effect_direction": direction, "effect_outcome": OUTCOMES[area] if direction != "not_assessed" else "",
            "sample_size": int(rng.integers(6, 240)), "sample_unit": "practices", "rob_tool": tool, **rob,
            "rob_overall": _overall(tool, domains),
        })
        j = (i + 7) % 26
        refs.append(Reference(
            key, "article",
            f"[SYNTHETIC] {area} and {_in_sentence(QI_APPROACHES[approaches[0]])}: a fictional "
            f"{_in_sentence(DESIGN_LABELS[design])} for the beyond-averages example",
            (f"{SURNAMES[i]}, {letter}.", f"{SURNAMES[j]}, {string.ascii_uppercase[j]}."), year,
            {"journal": "Synthetic Journal of Primary Care", "volume": str(int(rng.integers(1, 30))),
             "pages": f"{i + 1}--{i + 9}", "note": "Synthetic record: fictional study for a worked example"}, i + 1))
    extraction = pd.DataFrame(rows, columns=COLUMNS)

    # A flow that adds up and ends in exactly n_studies studies (a few with two reports).
    n_reports = n_studies + int(rng.integers(1, 4))
    other_included = int(rng.integers(1, 3))
    main_reports = n_reports - other_included
    reasons = {"Not primary care": int(rng.integers(10, 30)), "No equity focus": int(rng.integers(15, 40)),
               "Not a QI intervention": int(rng.integers(5, 20)), "Conference abstract only": int(rng.integers(2, 8))}
    assessed = main_reports + sum(reasons.values())
    not_retrieved = int(rng.integers(2, 9))
    sought = assessed + not_retrieved
    excluded = int(rng.integers(900, 1600))
    screened = sought + excluded
    duplicates = int(rng.integers(300, 700))
    databases = {"MEDLINE": 0, "Embase": 0, "CINAHL": 0}
    share = rng.dirichlet([4, 4, 2]) * (screened + duplicates - 25)
    for name, value in zip(list(databases)[:-1], share[:-1]):
        databases[name] = int(value)
    databases["CINAHL"] = screened + duplicates - 25 - sum(databases.values())
    other_reasons = {"No equity focus": int(rng.integers(2, 6))}
    other_assessed = other_included + sum(other_reasons.values())
    log = [("identified_database", name, n) for name, n in databases.items()]
    log += [("identified_register", "ClinicalTrials.gov", 25),
            ("identified_website", "Health service and charity websites", other_assessed + 6),
            ("identified_citation", "Reference lists of included studies", 9),
            ("duplicates_removed", "", duplicates), ("records_screened", "", screened),
            ("records_excluded", "", excluded), ("reports_sought", "", sought),
            ("reports_not_retrieved", "", not_retrieved), ("reports_assessed", "", assessed)]
    log += [("reports_excluded", reason, n) for reason, n in reasons.items()]
    log += [("other_reports_sought", "", other_assessed + 1), ("other_reports_not_retrieved", "", 1),
            ("other_reports_assessed", "", other_assessed)]
    log += [("other_reports_excluded", reason, n) for reason, n in other_reasons.items()]
    log += [("new_studies", "", n_studies), ("new_reports", "", n_reports)]
    return {"log": pd.DataFrame(log, columns=["step", "detail", "n"]), "extraction": extraction,
            "references": tuple(refs)}


def write_synthetic_review(out_dir: str | os.PathLike, seed: int = 2024, n_studies: int = 18) -> list[Path]:
    """Write ``screening_log.csv``, ``extraction.csv`` and ``references.bib`` into ``out_dir``."""
    out_dir = Path(out_dir)
    data = make_synthetic_review(seed, n_studies)
    write_csv(data["log"], out_dir / "screening_log.csv")
    write_csv(data["extraction"], out_dir / "extraction.csv")
    write_bibtex(data["references"], out_dir / "references.bib")
    return [out_dir / "screening_log.csv", out_dir / "extraction.csv", out_dir / "references.bib"]


if __name__ == "__main__":
    write_synthetic_review(sys.argv[1] if len(sys.argv) > 1 else paths.DATA_SYNTHETIC / "review")
