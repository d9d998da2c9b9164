"""The synthesis, discussion, abstract and brief (issue 14 items 1-3): their words follow the results by rule, so a
narrowing, a widening and a null result give different, correct wording; the joint display's verdicts follow its
stated rule; the headline tables round-trip through outputs/results."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from beyond_averages.files import InputError
from beyond_averages.report import brief, discussion, headline, synthesis

# (estimate, ci_lower, ci_upper) of the primary rows for each planted direction; narrowing = +1 for Q1 - Q5 (the
# most deprived start lower, so a larger gain for them narrows), -1 for the within-practice gap and SII.
SCENARIOS = {
    "narrowing": {"did": (0.9, 0.4, 1.4), "its": (1.8, 0.2, 3.4), "gap": (-0.8, -1.5, -0.1), "sii": (-0.9, -1.4, -0.4)},
    "widening": {"did": (-0.9, -1.4, -0.4), "its": (-1.8, -3.4, -0.2), "gap": (0.8, 0.1, 1.5), "sii": (0.9, 0.4, 1.4)},
    "null": {"did": (0.1, -0.4, 0.6), "its": (-0.2, -1.9, 1.5), "gap": (0.0, -0.7, 0.7), "sii": (0.1, -0.4, 0.6)},
}


def headline_for(scenario: str) -> pd.DataFrame:
    s = SCENARIOS[scenario]
    rows = [("ITS", "ITS difference in effect, most minus least deprived, 24 months", "Q1 - Q5",
             "24 months after the start", *s["its"], 1, True),
            ("DiD", "DiD difference in effect, most minus least deprived", "Q1 - Q5",
             "mean over all months after adoption", *s["did"], 1, True),
            ("DiD", "DiD change in the within-practice gap, Q5 minus Q1", "gap", "mean over all months after adoption",
             *s["gap"], -1, False),
            ("DiD", "DiD change in the within-practice slope index of inequality", "sii",
             "mean over all months after adoption", *s["sii"], -1, False)]
    q1, q5 = (1.5, 0.6) if scenario == "narrowing" else (0.6, 1.5) if scenario == "widening" else (1.0, 0.9)
    rows += [("DiD", f"DiD effect in Q{q}", f"Q{q}", "mean over all months after adoption", e, e - 0.3, e + 0.3, 0,
              False) for q, e in ((1, q1), (2, 1.0), (3, 1.0), (4, 1.0), (5, q5))]
    return pd.DataFrame(rows, columns=list(headline.HEADLINE_COLUMNS))


@pytest.mark.parametrize("scenario,label", [("narrowing", "narrowed"), ("widening", "widened"),
                                            ("null", "no evidence of change")])
def test_the_answer_follows_the_planted_direction(scenario, label):
    h = headline_for(scenario)
    a = discussion.answer(h)
    assert a["label"] == label
    if scenario == "narrowing":
        assert a["between"].startswith("In the main analysis the programme narrowed the inequality between the most "
                                       "and least deprived quintiles: the difference in its effect was +0.90 percentage "
                                       "points (95% CI +0.40 to +1.40).")
        assert "The interrupted time series of one adoption wave agrees (+1.80 percentage points, 95% CI +0.20 to "
        assert a["within"].startswith("Within practices, both measures narrowed")
    elif scenario == "widening":
        assert "the programme widened the inequality" in a["between"] and "agrees" in a["between"]
        assert a["within"].startswith("Within practices, both measures widened")
    else:
        assert a["between"].startswith("The main analysis found no evidence that the programme changed the inequality")
        assert a["within"].startswith("Within practices, both measures showed no evidence of change")
    summary = discussion.plain_summary(h, "Blood pressure recorded", synthetic=False)
    expected = {"narrowing": "so the gap between them got smaller", "widening": "so the gap between them got bigger",
                "null": "but we cannot be sure the gap between them changed"}[scenario]
    assert expected in summary and "synthetic" not in summary
    assert brief.headline_sentence(h).startswith(
        {"narrowing": "The programme narrowed the gap", "widening": "The programme widened the gap",
         "null": "The programme did not clearly change the gap"}[scenario])
    expected_size = {"narrowing": "0.90 percentage points larger", "widening": "0.90 percentage points smaller",
                     "null": "0.10 percentage points larger"}[scenario]
    assert f"its effect was {expected_size} in the most deprived fifth than in the least deprived" in \
        brief.headline_sentence(h)
    first = discussion.implications(a["label"])[0]
    assert first.startswith({"narrowing": "Keep the programme", "widening": "Do not scale the programme up",
                             "null": "Do not assume the programme narrows"}[scenario])
    conclusion = discussion.abstract(h, n_studies=3, n_participants=4, n_practices=20, n_adopters=8,
                                     indicator="Blood pressure recorded", synthetic=True)["Conclusions"]
    assert conclusion == {
        "narrowing": "In this synthetic evaluation the programme narrowed the inequality between the most and least "
                     "deprived patients.",
        "widening": "In this synthetic evaluation the programme widened the inequality between the most and least "
                    "deprived patients.",
        "null": "This synthetic evaluation found no clear evidence that the programme changed the inequality between "
                "the most and least deprived patients."}[scenario]


def test_designs_that_disagree_are_said_to_disagree():
    h = headline_for("narrowing")
    h.loc[h["design"] == "ITS", ["estimate", "ci_lower", "ci_upper"]] = (-1.5, -2.5, -0.5)
    a = discussion.answer(h)
    assert a["label"] == "mixed" and "so the two designs conflict" in a["between"]
    assert "The two designs did not reach the same conclusion" in discussion.limitations_sentence(h, synthetic=False)
    h.loc[h["design"] == "ITS", ["estimate", "ci_lower", "ci_upper"]] = (0.5, -1.0, 2.0)
    a = discussion.answer(h)
    assert a["label"] == "narrowed" and "so this answer rests on the difference-in-differences design" in a["between"]
    text = synthesis.reconciliation(h)
    assert 'The two measures of the programme\'s effect on the between-quintile inequality disagree' in text


def test_within_practice_measures_that_disagree():
    h = headline_for("narrowing")
    h.loc[h["group"] == "gap", ["estimate", "ci_lower", "ci_upper"]] = (-0.3, -1.4, 0.7)
    within = discussion.answer(h)["within"]
    assert within.startswith("Within practices the two measures disagree: the slope index of inequality narrowed "
                             "(-0.90 percentage points, 95% CI -1.40 to -0.40), while the gap between the least and "
                             "most deprived quintile showed no evidence of change")


MAPPING = textwrap.dedent("""\
    rows:
      - mechanism: Reaching the most deprived
        review: {column: progress_plus, code: socioeconomic_status}
        qualitative: {theme: Access, suggests: narrowing}
        quantitative: {design: DiD, group: Q1 - Q5}
      - mechanism: Targets reward easy gains
        review: {column: qi_approach, code: financial_incentives}
        qualitative: {theme: Targets, suggests: widening}
        quantitative: {design: ITS, group: Q1 - Q5, horizon: 24}
      - mechanism: Within-practice feedback
        review: {column: qi_approach, code: outreach}
        qualitative: {theme: Access, suggests: none}
        quantitative: {design: DiD, group: sii}
    """)
EXTRACTION = pd.DataFrame({
    "progress_plus": ["socioeconomic_status", "socioeconomic_status;age", "age"],   # row 3: not assessed
    "qi_approach": ["audit_feedback", "financial_incentives", "audit_feedback"],
    "effect_direction": ["narrowed", "narrowed", "not_assessed"]})
THEMES = pd.DataFrame({"level": ["theme", "theme"], "theme": ["Access", "Targets"], "n_participants": [5, 3],
                       "n_segments": [9, 4]})


def test_joint_display_verdicts_follow_the_rule(tmp_path):
    path = tmp_path / "joint.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    mapping = synthesis.read_joint_display(path)
    narrowing = synthesis.joint_display(mapping, EXTRACTION, THEMES, headline_for("narrowing"))
    # Row 1: review narrowed (2 of 2), theme narrowing, DiD narrowed -> converge. Row 2: review narrowed (1 study),
    # theme widening -> conflict. Row 3: no review study, theme none, SII narrowed -> complement.
    assert narrowing["verdict"].tolist() == ["converge", "conflict", "complement"]
    assert narrowing.loc[0, "review"] == "2 studies: 2 narrowed, 0 no change, 0 widened"
    assert narrowing.loc[2, "review"] == "No included study"
    one = synthesis.joint_display(mapping[:1], EXTRACTION.assign(progress_plus="age"), THEMES, headline_for("null"))
    assert one.loc[0, "review"] == "No included study"
    assert narrowing.loc[0, "qualitative"] == "5 participants, 9 passages; suggests narrowing"
    assert narrowing.loc[0, "quantitative"].endswith("+0.90 pp (+0.40 to +1.40); narrowed")
    widening = synthesis.joint_display(mapping, EXTRACTION, THEMES, headline_for("widening"))
    assert widening["verdict"].tolist() == ["conflict", "conflict", "complement"]
    null = synthesis.joint_display(mapping, EXTRACTION, THEMES, headline_for("null"))
    assert null["verdict"].tolist() == ["converge", "conflict", "complement"]
    assert null.loc[0, "quantitative"].endswith("no evidence of change")
    assert synthesis.joint_display_sentence(narrowing) == (
        "Across 3 mechanisms, the three strands give 1 mechanism where they converge, 1 mechanism where they "
        "complement and 1 mechanism where they conflict. They conflict on \u201cTargets reward easy gains\u201d: there "
        "the evidence of one strand does not carry over to another.")


@pytest.mark.parametrize("edit,message", [
    (("design: ITS", "design: RCT"), r"key 'rows\[1\].quantitative.design': 'RCT' is not ITS or DiD"),
    (("suggests: widening", "suggests: maybe"), r"key 'rows\[1\].qualitative.suggests': 'maybe' is not one of"),
    (("column: qi_approach, code: financial", "column: design, code: financial"),
     r"key 'rows\[1\].review.column': 'design' is not one of qi_approach, progress_plus"),
    (("theme: Targets, ", ""), r"key 'rows\[1\].qualitative.theme': missing or empty"),
])
def test_bad_mappings(tmp_path, edit, message):
    path = tmp_path / "joint.yaml"
    path.write_text(MAPPING.replace(*edit), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        synthesis.read_joint_display(path)


def test_unknown_theme_or_estimand_is_named(tmp_path):
    path = tmp_path / "joint.yaml"
    path.write_text(MAPPING.replace("theme: Targets", "theme: Trust"), encoding="utf-8")
    with pytest.raises(InputError, match=r"qualitative theme 'Trust' is not a theme of the codebook; themes: Access"):
        synthesis.joint_display(synthesis.read_joint_display(path), EXTRACTION, THEMES, headline_for("null"),
                                source=str(path))
    path.write_text(MAPPING.replace("horizon: 24", "horizon: 36"), encoding="utf-8")
    with pytest.raises(InputError, match=r"ITS 'Q1 - Q5' at 36 months matches 0 headline rows"):
        synthesis.joint_display(synthesis.read_joint_display(path), EXTRACTION, THEMES, headline_for("null"))


def test_headline_tables_round_trip(tmp_path):
    h = headline_for("narrowing")
    for design in ("ITS", "DiD"):
        headline.save_headline(h[h["design"] == design], "area_x", tmp_path)
    back = headline.read_headlines("area_x", tmp_path)
    pd.testing.assert_frame_equal(back, h.sort_values("design", key=lambda d: d.map({"ITS": 0, "DiD": 1}),
                                                      kind="stable").reset_index(drop=True), check_dtype=False)
    headline.save_facts({"n_practices": 20, "n_adopters": 8}, "area_x", "DiD", tmp_path)
    assert headline.read_facts("area_x", "DiD", tmp_path) == {"n_adopters": 8, "n_practices": 20}
    with pytest.raises(InputError, match=r"area_y_its_headline.csv: not found; it is written by the ITS chapter"):
        headline.read_headlines("area_y", tmp_path)
    with pytest.raises(ValueError, match="one design per headline table"):
        headline.save_headline(h, "area_x", tmp_path)


def test_the_docs_example_runs(capsys):
    import re

    from beyond_averages import paths

    (block,) = re.findall(r"```python\n(.*?)```", (paths.ROOT / "docs" / "synthesis.md").read_text(encoding="utf-8"),
                          flags=re.S)
    exec(compile(block, "docs/synthesis.md", "exec"), {})
    assert capsys.readouterr().out.startswith("In the main analysis the programme narrowed the inequality")
