"""The review protocol (issue 14 item 9): search and eligibility read from the student's file, the PRISMA flow checked
against the included studies, and the rule-based certainty-of-evidence table on hand-worked cases."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from beyond_averages import review
from beyond_averages.files import InputError
from beyond_averages.report import review_methods as methods
from beyond_averages.review.certainty import certainty_of_evidence
from beyond_averages.review.protocol import check_flow_against_protocol, read_protocol
from beyond_averages.review.screening_log import ScreeningLog

REVIEW = "data_synthetic/review/"

PROTOCOL = textwrap.dedent("""\
    registration: Not registered
    search:
      date_searched: 2024-03-31
      limits: English language
      databases:
        - {name: MEDLINE, platform: Ovid, coverage: 1946 to 2024, strategy: quality improvement AND equity}
    eligibility:
      - criterion: Setting
        include: Primary care
        exclude: Hospital care
        exclusion_reason: Not primary care
      - criterion: Equity analysis
        include: Effects compared across a PROGRESS-Plus dimension
        exclusion_reason: No equity analysis
        included_must_not_have: {effect_direction: [not_assessed]}
    """)

# (name, file text, the one-line message must match): run by tests/test_bad_inputs.py (one line, file and key named).
MALFORMED_PROTOCOLS = [
    ("protocol.yaml", "search: [1, 2]\n", r"key 'search'"),
    ("protocol.yaml", PROTOCOL.replace("2024-03-31", "31/03/2024"), r"key 'search.date_searched': .*YYYY-MM-DD"),
    ("protocol.yaml", PROTOCOL.replace("platform: Ovid, ", ""), r"key 'search.databases\[0\].platform': missing"),
    ("protocol.yaml", PROTOCOL.replace("effect_direction: [not", "direction: [not"),
     r"key 'eligibility\[1\]': 'direction' is not an extraction column"),
    ("protocol.yaml", PROTOCOL.replace("No equity analysis", "Not primary care"),
     r"key 'eligibility': exclusion reason\(s\) 'not primary care' used by more than one criterion"),
    ("protocol.yaml", PROTOCOL.replace("registration: Not registered\n", ""), r"key 'registration': missing"),
]


def _log(reasons: dict[str, int], database: str = "MEDLINE") -> ScreeningLog:
    """A flow that adds up: 100 records, 60 excluded on title/abstract, the rest excluded for ``reasons`` but 3."""
    excluded = sum(reasons.values())
    rows = [("identified_database", database, 100), ("records_screened", "", 100),
            ("records_excluded", "", 97 - excluded), ("reports_sought", "", excluded + 3),
            ("reports_not_retrieved", "", 0), ("reports_assessed", "", excluded + 3)]
    rows += [("reports_excluded", r, n) for r, n in reasons.items()] + [("new_studies", "", 3)]
    return ScreeningLog.from_rows(pd.DataFrame(rows, columns=["step", "detail", "n"]), "log.csv")


def _studies(**columns) -> pd.DataFrame:
    base = {"key": ["a2020", "b2021", "c2022"], "row": [2, 3, 4], "design": ["cluster_rct", "cohort", "cohort"],
            "effect_direction": ["narrowed", "widened", "not_assessed"], "country": ["England", "Canada", "Wales"],
            "progress_plus": ["socioeconomic_status", "age", ""], "effect_outcome": ["BP", "BP", ""],
            "sample_size": pd.array([60, 30, 10], dtype="Int64"), "rob_overall": ["low", "serious", "high"]}
    base.update(columns)
    return pd.DataFrame(base)


@pytest.fixture
def protocol(tmp_path):
    path = tmp_path / "protocol.yaml"
    path.write_text(PROTOCOL, encoding="utf-8")
    return read_protocol(path)


def test_the_inconsistent_flow_of_the_issue_is_caught(protocol):
    """Reports excluded for "No equity analysis" while an included study did not assess inequalities: the error
    names the extraction file, the study, the column and the exclusion reason."""
    with pytest.raises(InputError) as info:
        check_flow_against_protocol(protocol, _log({"No equity analysis": 20}), _studies(), "extraction.csv")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("extraction.csv: column 'effect_direction' is 'not_assessed' for included row 4 ('c2022')")
    assert "'No equity analysis' (criterion 'Equity analysis')" in message


def test_a_consistent_flow_passes_and_reasons_are_matched_without_case(protocol):
    check_flow_against_protocol(protocol, _log({"not PRIMARY care": 20}), _studies(), "extraction.csv")


def test_unknown_reasons_and_sources_are_errors(protocol):
    with pytest.raises(InputError, match=r"reason 'Wrong outcome' is not an exclusion reason of .*known reasons: "
                                         r"'Not primary care', 'No equity analysis'"):
        check_flow_against_protocol(protocol, _log({"Wrong outcome": 5}), _studies(), "extraction.csv")
    with pytest.raises(InputError, match=r"log.csv: database 'Embase' is not in .*protocol.yaml \(search.databases\)"):
        check_flow_against_protocol(protocol, _log({}, database="Embase"), _studies(), "extraction.csv")


def test_must_have_columns_are_checked(tmp_path):
    path = tmp_path / "protocol.yaml"
    path.write_text(PROTOCOL.replace("included_must_not_have: {effect_direction: [not_assessed]}",
                                     "included_must_have: [progress_plus]"), encoding="utf-8")
    with pytest.raises(InputError, match=r"column 'progress_plus' is empty for included row 4 \('c2022'\)"):
        check_flow_against_protocol(read_protocol(path), _log({"No equity analysis": 1}), _studies(), "x.csv")


def test_certainty_rules_on_a_hand_worked_body_of_evidence():
    """Outcome BP: a cluster RCT (England, low risk, narrowed, 60 practices) and a cohort (Canada, serious risk,
    widened, 30). Start high (a randomised trial contributes); risk of bias 1 of 2 at high risk = 0.5 >= 0.5 ->
    serious; narrowed and widened -> inconsistency serious; 1 of 2 outside the UK = 0.5 -> indirectness serious;
    2 studies but 90 < 100 units -> imprecision serious; publication bias not assessable. 4 levels down from high ->
    very low. The not-assessed study contributes nothing."""
    table = certainty_of_evidence(_studies())
    assert table.to_dict("records") == [{
        "outcome": "BP", "n_studies": 2, "start": "high", "narrowed": 1, "no_change": 0, "widened": 1,
        "risk_of_bias": "serious", "risk_of_bias_reason": "1 of 2 at high risk",
        "inconsistency": "serious", "inconsistency_reason": "narrowed in some, widened in others",
        "indirectness": "serious", "indirectness_reason": "1 of 2 outside the target countries",
        "imprecision": "serious", "imprecision_reason": "2 studies, 90 units",
        "publication_bias": "not assessable", "publication_bias_reason": "fewer than 10 studies",
        "certainty": "very low"}]
    # Looser thresholds and a reviewers' override move it up: only inconsistency remains -> moderate.
    relaxed = certainty_of_evidence(_studies(), {"rob_serious_share": 0.6, "indirect_share": 0.6,
                                                 "min_total_sample": 50})
    assert relaxed.loc[0, "certainty"] == "moderate"
    overridden = certainty_of_evidence(_studies(), {"rob_serious_share": 0.6, "indirect_share": 0.6,
                                                    "min_total_sample": 50, "overrides": [
        {"outcome": "BP", "domain": "inconsistency", "judgement": "not serious",
         "reason": "the widening study measured a different dimension"}]})
    assert overridden.loc[0, "certainty"] == "high"
    assert overridden.loc[0, "inconsistency_reason"] == "reviewers: the widening study measured a different dimension"


def test_certainty_settings_are_checked():
    with pytest.raises(InputError, match=r"p.yaml: key 'certainty': unknown setting\(s\) min_study"):
        certainty_of_evidence(_studies(), {"min_study": 3}, "p.yaml")
    with pytest.raises(InputError, match=r"key 'certainty.overrides\[0\].outcome': 'HbA1c' is not an outcome"):
        certainty_of_evidence(_studies(), {"overrides": [{"outcome": "HbA1c", "domain": "imprecision",
                                                          "judgement": "serious", "reason": "x"}]}, "p.yaml")


def test_the_synthetic_review_is_consistent_with_its_protocol():
    """The chapter's own inputs: every exclusion reason is a criterion's, the eligibility table's report counts add
    up to the flow's exclusions, and every search source in the log is in the protocol."""
    data = review.load_review(REVIEW + "screening_log.csv", REVIEW + "extraction.csv", REVIEW + "references.bib",
                              REVIEW + "protocol.yaml")
    frame = methods.eligibility_frame(data.protocol, data.log)
    excluded = data.log.excluded("reports_excluded") + data.log.excluded("other_reports_excluded")
    assert frame["Reports excluded"].astype(int).sum() == excluded
    assert set(methods.search_frame(data.protocol)["Source"]) == {"MEDLINE", "Embase", "CINAHL", "ClinicalTrials.gov"}
    sentence = methods.search_sentence(data.protocol)
    assert sentence.startswith("MEDLINE, Embase and CINAHL were searched on 31 March 2024, with the trial register "
                               "ClinicalTrials.gov. Limits: English language; published from 2000 onwards.")
    certainty = data.certainty()
    assessed = data.extraction.loc[data.extraction["effect_direction"] != "not_assessed"]
    assert certainty["n_studies"].sum() == len(assessed)
    assert set(certainty["certainty"]) <= {"high", "moderate", "low", "very low"}
    text = methods.certainty_sentence(certainty)
    assert text.startswith(f"The certainty of the evidence on inequalities was rated for {len(certainty)} outcomes: ")
    for outcome in certainty["outcome"]:
        assert methods._in_sentence(outcome) in text
    assert "HbA1c at or below target" in text  # a code keeps its capitals inside the sentence
