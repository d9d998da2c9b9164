"""Theory from the qualitative strand (#14 item 8): the analyst's relations between themes and their loader, theme
co-occurrence, the thematic map and its narrative; quote attribution that protects identity; saturation within roles.

The hand-built project below is worked by hand:

    segment  participant  role          event  codes     themes
    s1       X01          gp            1      a1, b1    A, B
    s2       X02          gp            2 (FG) a2, b1    A, B
    s3       X02          gp            2 (FG) a1        A
    s4       X03          gp            2 (FG) c1        C
    s5       X03          gp            2 (FG) a1, b1    A, B
    s6       X04          commissioner  3      b1        B
    s7       X04          commissioner  3      c1        C
    s8       X05          gp            4      a1        A

Theme pairs: A-B share s1, s2, s5 (3 passages from X01, X02, X03); A-C and B-C share no passage. Accounts carrying
both themes: A-B X01, X02, X03 (3); A-C X03 (1); B-C X03, X04 (2).
GPs (4 participants) meet at events 1, 2 (X02 and X03 together), 4: new codes {a1, b1} 2, {a2, c1} 2, none 0.
The commissioner alone is not assessable.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.patches import FancyArrowPatch

from beyond_averages.files import InputError
from beyond_averages.qual import build_qual_data, run_qualitative_analysis
from beyond_averages.qual import summaries as S
from beyond_averages.qual.__main__ import write_appendix
from beyond_averages.qual.attribution import (NO_GROUPS, AttributionGroups, attribute, attribute_matrix,
                                              attribute_quotes, load_attribution_groups)
from beyond_averages.qual.role_saturation import NOT_ASSESSABLE, saturation_by_role
from beyond_averages.qual.theory import (load_theme_relations, relation_support, theme_co_occurrence,
                                         unrelated_strong_pairs)
from beyond_averages.report import qual_theory as T
from beyond_averages.report import qualitative as show
from beyond_averages.style import PAGE_WIDTH_IN, legibility_problems

THEMES = ["A", "B", "C"]


@pytest.fixture
def data():
    codebook = pd.DataFrame({"theme": ["A", "A", "B", "C"], "code": ["a1", "a2", "b1", "c1"],
                             "definition": ["code a1", "code a2", "code b1", "code c1"]})
    participants = pd.DataFrame({
        "participant_id": ["X01", "X02", "X03", "X04", "X05"],
        "role": ["gp", "gp", "gp", "commissioner", "gp"],
        "method": ["interview", "focus_group", "focus_group", "interview", "interview"],
        "collection_order": [1, 2, 2, 3, 4]})
    passages = {"s1": ("X01", ["a1", "b1"]), "s2": ("X02", ["a2", "b1"]), "s3": ("X02", ["a1"]),
                "s4": ("X03", ["c1"]), "s5": ("X03", ["a1", "b1"]), "s6": ("X04", ["b1"]), "s7": ("X04", ["c1"]),
                "s8": ("X05", ["a1"])}
    segments = pd.DataFrame([{"segment_id": s, "participant_id": p, "source": f"doc_{p}", "text": f"Passage {s}."}
                             for s, (p, _) in passages.items()])
    codings = pd.DataFrame([{"segment_id": s, "code": c} for s, (_, codes) in passages.items() for c in codes])
    return build_qual_data(codebook, participants, segments, codings, label="hand-built")


def _yaml(tmp_path, text: str, name: str = "relations.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _relation(a, b, word, why="Because."):
    return f"  - {{from: {a}, to: {b}, relation: {word}, rationale: {why}}}\n"


# -- relations: the loader ---------------------------------------------------------------------------------------
def test_relations_load_in_file_order(tmp_path):
    path = _yaml(tmp_path, "relations:\n" + _relation("C", "A", "enables", "Community work shows the gap.")
                 + _relation("A", "B", "Leads  to") + _relation("B", "A", "leads to")   # a loop is allowed
                 + _relation("B", "C", "tension with"))
    table = load_theme_relations(path, THEMES)
    assert table.to_dict("list") == {
        "from_theme": ["C", "A", "B", "B"], "to_theme": ["A", "B", "A", "C"],
        "relation": ["enables", "leads to", "leads to", "tension with"],
        "rationale": ["Community work shows the gap.", "Because.", "Because.", "Because."]}
    assert load_theme_relations(None, THEMES).empty
    assert load_theme_relations(_yaml(tmp_path, "relations: []\n", "none.yaml"), THEMES).empty


@pytest.mark.parametrize("entries, problem", [
    (_relation("A", "B", "enables") + _relation("A", "Z", "enables"), "relation 2: 'to' names unknown theme 'Z'"),
    (_relation("A", "B", "causes"), "relation 1: unknown relation 'causes'; use one of enables, constrains"),
    (_relation("A", "B", "enables") + _relation("B", "B", "constrains"), "relation 2: relates theme 'B' to itself"),
    (_relation("A", "B", "enables") + _relation("A", "B", "constrains"),
     "relation 2: duplicate: 'A' and 'B' are already related by relation 1"),
    (_relation("A", "B", "tension with") + _relation("C", "A", "enables") + _relation("B", "A", "tension with"),
     "relation 3: duplicate: 'B' and 'A' are already related by relation 1"),
    (_relation("B", "A", "enables") + _relation("A", "B", "tension with"),
     "relation 2: duplicate: 'A' and 'B' are already related by relation 1"),
    ("  - {from: A, to: B, relation: enables}\n", "relation 1: key 'rationale' is missing or empty"),
    ("  - {from: A, to: B, relation: enables, rationale: x, weight: 2}\n", "relation 1: unknown key(s) weight"),
    ("  - just a string\n", "relation 1: expected a mapping"),
])
def test_bad_relations_name_file_entry_and_problem(tmp_path, entries, problem):
    path = _yaml(tmp_path, "relations:\n" + entries)
    with pytest.raises(InputError) as caught:
        load_theme_relations(path, THEMES)
    assert str(caught.value).startswith(f"{path}: ") and problem in str(caught.value)


def test_relations_file_must_hold_a_list(tmp_path):
    with pytest.raises(InputError, match="key 'relations': give a list"):
        load_theme_relations(_yaml(tmp_path, "links: []\n"), THEMES)
    with pytest.raises(InputError, match="not found"):
        load_theme_relations(tmp_path / "absent.yaml", THEMES)


# -- co-occurrence, support and the narrative --------------------------------------------------------------------
def test_theme_co_occurrence_by_hand(data):
    pairs = theme_co_occurrence(data)
    assert pairs.to_dict("list") == {"theme_a": ["A", "A", "B"], "theme_b": ["B", "C", "C"],
                                     "n_passages": [3, 0, 0], "n_participants": [3, 0, 0],
                                     "n_accounts": [3, 1, 2]}
    # The passage counts agree with the theme-level co-occurrence matrix.
    matrix = S.co_occurrence(data, level="theme")
    assert [matrix.loc[a, b] for a, b in zip(pairs["theme_a"], pairs["theme_b"])] == [3, 0, 0]


def test_support_flags_and_sentences(data, tmp_path):
    relations = load_theme_relations(_yaml(tmp_path, "relations:\n" + _relation("C", "A", "enables", "Seen.")
                                           + _relation("B", "C", "tension with", "Pulls apart")), THEMES)
    pairs = theme_co_occurrence(data)
    support = relation_support(relations, pairs)
    assert support[["n_passages", "n_participants", "n_accounts", "supported"]].values.tolist() == [
        [0, 0, 1, False], [0, 0, 2, False]]
    unrelated = unrelated_strong_pairs(relations, pairs)
    assert unrelated[["theme_a", "theme_b", "n_participants"]].values.tolist() == [["A", "B", 3]]
    assert unrelated_strong_pairs(relations, pairs, min_participants=4).empty
    assert T.map_paragraph(relations, pairs) == (
        "‘C’ enables ‘A’ (analyst's relation; no passage carries both themes, though both appear in the accounts of "
        "1 participant): Seen. "
        "‘B’ is in tension with ‘C’ (analyst's relation; no passage carries both themes, though both appear in the "
        "accounts of 2 participants): Pulls apart. "
        "No passage supports any of the 2 relations (‘C’ enables ‘A’; ‘B’ is in tension with ‘C’): they rest on the "
        "analyst's reading across accounts, and are the first to test in further data. "
        "Themes that co-occur in passages from at least 3 participants but have no stated relation: ‘A’ and ‘B’ "
        "(3 passages, 3 participants).")
    stated = load_theme_relations(_yaml(tmp_path, "relations:\n" + _relation("A", "B", "constrains", "Why."),
                                        "ab.yaml"), THEMES)
    assert T.map_paragraph(stated, pairs) == (
        "‘A’ constrains ‘B’ (analyst's relation; the two themes co-occur in 3 passages from 3 participants): Why. "
        "The relation is supported by at least one passage that carries both themes. "
        "Every pair of themes that co-occurs in passages from at least 3 participants has a stated relation.")
    assert T.map_paragraph(load_theme_relations(None, THEMES), pairs).startswith(
        "No relations between themes have been stated yet, so the map shows co-occurrence only. Themes that co-occur")


def test_thematic_map_draws_relations_and_co_occurrence(data, tmp_path):
    relations = load_theme_relations(_yaml(tmp_path, "relations:\n" + _relation("C", "A", "enables")
                                           + _relation("B", "C", "tension with")), THEMES)
    fig, ax = T.plot_thematic_map(relations, theme_co_occurrence(data), THEMES)
    assert legibility_problems(fig) == [] and fig.get_figwidth() <= PAGE_WIDTH_IN
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 2
    assert [a.get_edgecolor()[:3] for a in arrows][0] != [a.get_edgecolor()[:3] for a in arrows][1]
    # One co-occurrence line (A-B, 3 passages), then three node markers.
    grey = [line for line in ax.lines if len(line.get_xdata()) == 2]
    assert [line.get_linewidth() for line in grey] == [T.co_occurrence_width(3)]
    assert [t.get_text() for t in ax.texts] == THEMES
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "enables (analyst)", "tension with (analyst), both ways", "3 shared passages"]
    plt.close(fig)
    # Arrows bow away from the centre; a loop's second arrow bows inwards. arc3 moves the control point by
    # rad * (dy, -dx): its dot product with the chord's midpoint says which side.
    loop = pd.DataFrame({"from_theme": ["A", "B"], "to_theme": ["B", "A"], "relation": ["leads to", "leads to"],
                         "rationale": ["x", "y"]})
    fig, ax = T.plot_thematic_map(loop, theme_co_occurrence(data), THEMES)
    position = T.theme_positions(THEMES)
    sides = []
    for arrow, (a, b) in zip([p for p in ax.patches if isinstance(p, FancyArrowPatch)], [("A", "B"), ("B", "A")]):
        (x0, y0), (x1, y1) = position[a], position[b]
        rad = arrow.get_connectionstyle().rad
        sides.append(rad * ((y1 - y0) * (x0 + x1) / 2 - (x1 - x0) * (y0 + y1) / 2) > 0)
    assert sides == [True, False]
    plt.close(fig)
    # Deterministic placement: the first theme at the top, then clockwise.
    position = T.theme_positions(["A", "B", "C", "D"])
    assert [tuple(round(v, 9) + 0.0 for v in position[t]) for t in "ABCD"] == [(0.0, 1.0), (1.0, 0.0),
                                                                                (0.0, -1.0), (-1.0, 0.0)]


# -- attribution -------------------------------------------------------------------------------------------------
PEOPLE = pd.DataFrame({"participant_id": [f"Y{i:02d}" for i in range(1, 10)],
                       "role": ["gp", "gp", "gp", "practice_nurse", "pharmacist", "commissioner", "policy_maker",
                                "practice_manager", "practice_manager"]})


def test_attribution_rule_on_hand_built_participants(tmp_path):
    groups = load_attribution_groups(_yaml(tmp_path, (
        "groups:\n  clinical staff: [GP, practice nurse, pharmacist]\n"
        "  policy and commissioning: [commissioner, policy-maker]\n"), "groups.yaml"))
    assert groups.groups == {"clinical staff": ("gp", "practice_nurse", "pharmacist"),
                             "policy and commissioning": ("commissioner", "policy_maker")}
    table = attribute(PEOPLE, groups)
    # The nurse (1) and pharmacist (1) take the group's label, and so do the 3 GPs (5 in all); commissioner and
    # policy maker make a group of 2, so "participant"; 2 practice managers in no group, so "participant" too.
    assert table["attributed_as"].tolist() == ["clinical staff"] * 5 + ["participant"] * 4
    assert table["n_behind"].tolist() == [5] * 5 + [4] * 4
    # Without groups every role under 3 participants is "participant"; the 3 GPs keep their role.
    plain = attribute(PEOPLE, NO_GROUPS)
    assert plain["attributed_as"].tolist() == ["GP"] * 3 + ["participant"] * 6
    # A group whose roles are all large is not used: the GPs stay "GP".
    big = attribute(PEOPLE.iloc[:3], AttributionGroups({"clinical staff": ("gp", "practice_nurse")}))
    assert big["attributed_as"].tolist() == ["GP"] * 3
    with pytest.raises(ValueError, match="minimum must be at least 3"):
        attribute(PEOPLE, groups, minimum=2)
    assert T.attribution_sentence(table) == (
        "Quotes and the framework matrix name each participant by pseudonym and by role where at least 3 "
        "participants share the role. So that no one can be picked out by a role few share, quotes use broader "
        "labels: “clinical staff” stands for the GPs, practice nurse and pharmacist (5 participants); “participant” "
        "stands for the commissioner, policy maker and practice managers (4 participants; a group of fewer than 3 "
        "is not named).")
    assert T.attribution_sentence(plain.iloc[:3]) == (
        "Quotes and the framework matrix name each participant by pseudonym and by role where at least 3 "
        "participants share the role. Every role has enough participants to be shown as itself.")


@pytest.mark.parametrize("text, problem", [
    ("groups:\n  staff: [gp, doctor]\n", "group 1 ('staff'): 'doctor' is not a role"),
    ("groups:\n  staff: [gp]\n  others: [gp]\n", "group 2 ('others'): role 'gp' is already in group 'staff'"),
    ("groups:\n  participant: [gp]\n", "group 1 ('participant'): the label must name a broader group"),
    ("groups:\n  staff: []\n", "group 1 ('staff'): give a list of at least one role"),
    ("roles: {}\n", "key 'groups': give a mapping"),
])
def test_bad_attribution_groups(tmp_path, text, problem):
    path = _yaml(tmp_path, text, "groups.yaml")
    with pytest.raises(InputError) as caught:
        load_attribution_groups(path)
    assert str(caught.value).startswith(f"{path}: ") and problem in str(caught.value)


def test_quotes_matrix_and_theme_table_use_the_attribution(data):
    attribution = attribute(data.participants)   # 4 GPs keep "GP"; the lone commissioner is "participant"
    quotes = attribute_quotes(S.exemplar_quotes(data, per_theme=3, min_chars=0), attribution)
    assert set(quotes["attribution"]) <= {"X01, GP", "X02, GP", "X03, GP", "X05, GP", "X04, participant"}
    assert "X04, participant" in set(quotes["attribution"]) and "commissioner" not in set(quotes["role"])
    display = show.theme_summary_display(S.theme_summary(data), attribution=attribution)
    # A: X01, X02, X03, X05 (GPs); B: X01-X03 and X04 (the commissioner, shown as participant); C: X03, X04.
    assert display.set_index("code").loc["All codes", "participants_by_role"].tolist() == [
        "GP 4", "GP 3, participant 1", "GP 1, participant 1"]
    wide = show.framework_matrix_wide(attribute_matrix(S.framework_matrix(data), attribution))
    assert wide.set_index("participant_id")["role"].to_dict() == {"X01": "GP", "X02": "GP", "X03": "GP",
                                                                  "X04": "Participant", "X05": "GP"}


# -- saturation within roles -------------------------------------------------------------------------------------
def test_saturation_by_role_by_hand(data):
    table = saturation_by_role(data)
    gp, boss = table.to_dict("records")
    assert (gp["unit"], gp["n_participants"], gp["n_events"], gp["new_codes_by_event"], gp["n_codes"]) == (
        "GPs", 4, 3, "2, 2, 0", 4)
    assert (gp["last_event_new"], gp["events_without_new"]) == (False, 1)
    assert gp["judgement"] == "suggested (no new code at the last 1 of 3 events)"
    assert (boss["unit"], boss["n_participants"], boss["judgement"]) == ("commissioner", 1, NOT_ASSESSABLE)
    assert boss["new_codes_by_event"] == "" and pd.isna(boss["n_codes"])   # nothing about one person
    assert T.role_saturation_sentence(table) == (
        "Within roles, saturation is judged only where at least 3 participants share a role (or a merged group of "
        "roles): it was suggested for GPs (4 participants, 3 events), whose last event of 3 added no new code. It "
        "is not assessable for commissioner (1 participant), and no claim of saturation is made for them.")
    shown = T.role_saturation_display(table)
    assert shown["last_event_new"].tolist() == ["no", ""] and shown["n_codes"].tolist() == ["4", ""]


def test_small_roles_pool_by_group_and_last_event_with_codes(data):
    # Without X05 the GPs' last event (the focus group) adds codes: not reached.
    fewer = build_qual_data(data.codebook, data.participants[data.participants["participant_id"] != "X05"],
                            data.segments[data.segments["participant_id"] != "X05"],
                            data.codings[data.codings["segment_id"] != "s8"])
    table = saturation_by_role(fewer)
    assert table.loc[0, "judgement"] == "not reached (the last event added codes)"
    assert "it was not reached for GPs (3 participants, 2 events), whose last event still added codes" in \
        T.role_saturation_sentence(table)
    # Two small roles of one group are pooled under its label; a lone small role keeps its name.
    people = pd.DataFrame({"participant_id": ["Z1", "Z2", "Z3"], "role": ["commissioner", "policy_maker", "gp"],
                           "method": ["interview"] * 3, "collection_order": [1, 2, 3]})
    tiny = build_qual_data(data.codebook, people, pd.DataFrame({"segment_id": ["t1"], "participant_id": ["Z1"],
                                                                "source": ["d"], "text": ["x"]}),
                           pd.DataFrame({"segment_id": ["t1"], "code": ["a1"]}))
    groups = AttributionGroups({"policy and commissioning": ("commissioner", "policy_maker"),
                                "clinical staff": ("gp", "pharmacist")})
    pooled = saturation_by_role(tiny, groups)
    assert pooled[["unit", "roles", "n_participants", "judgement"]].values.tolist() == [
        ["GP", "GP", 1, NOT_ASSESSABLE],
        ["policy and commissioning", "commissioner, policy maker", 2, NOT_ASSESSABLE]]


# -- the synthetic project end to end ----------------------------------------------------------------------------
def test_synthetic_project_protects_the_single_commissioner_and_policy_maker(tmp_path):
    analysis = run_qualitative_analysis("data_synthetic/qualitative",
                                        relations_path="data_synthetic/qualitative/theme_relations.yaml",
                                        attribution_path="data_synthetic/qualitative/attribution_groups.yaml")
    label = dict(zip(analysis.attribution["participant_id"], analysis.attribution["attributed_as"]))
    assert (label["P04"], label["P09"], label["P11"], label["P01"], label["P03"]) == (
        "participant", "participant", "clinical staff", "clinical staff", "practice manager")
    assert not {"commissioner", "policy_maker", "pharmacist"} & set(analysis.quotes["role"])
    assert not {"commissioner", "policy_maker", "pharmacist"} & set(analysis.framework_matrix["role"])
    assert len(analysis.relations) == 6
    assert analysis.role_saturation["judgement"].tolist()[-2:] == [NOT_ASSESSABLE, NOT_ASSESSABLE]
    written = write_appendix("data_synthetic/qualitative", tmp_path / "appendix")
    quotes = pd.read_csv(next(p for p in written if p.name == "exemplar_quotes.csv"))
    assert set(quotes["role"]) <= {"clinical staff", "practice manager", "participant"}
    matrix = (tmp_path / "appendix" / "framework_matrix.csv").read_text(encoding="utf-8")
    assert "Commissioner" not in matrix and "Policy maker" not in matrix
