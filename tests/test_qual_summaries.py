"""Qualitative summaries on hand-made coded data: every count, matrix cell, the saturation curve and the quotes.

The hand-made project (worked by hand below) has two themes, four codes, four participants and six segments:

    segment  participant  role            event  codes
    s1       X01          gp              1      a1, b1
    s2       X01          gp              1      a1
    s3       X02          practice_nurse  2      a2
    s6       X02          practice_nurse  2      (none)
    s4       X03          gp              3 (FG)  a1, a2
    s5       X04          commissioner    3 (FG)  b1

Theme A = {a1, a2}: participants X01, X02, X03 (3), segments s1-s4 (4). a1: X01, X03; s1, s2, s4. a2: X02, X03;
s3, s4. Theme B = {b1, b2}: X01, X04; s1, s5. b2 is never applied.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from beyond_averages.qual import build_qual_data, load_qdpx, to_qdpx
from beyond_averages.qual import summaries as S
from beyond_averages.report import qualitative as show

D1 = "Interviewer: Why?\nX01: Café — the gap is wide 😀 here.\nX01: Nobody checks who benefits.\n"
D2 = "X02: We look at the total only.\nX02: Hello.\n"
FG = "X03: Targets first, then the gap, if there is time.\nX04: The board funds coverage.\n"


def _span(doc: str, text: str) -> tuple[int, int]:
    start = doc.index(text)
    return start, start + len(text)


def handmade(names: bool = False):
    codebook = pd.DataFrame({
        "theme": ["A", "A", "B", "B"],
        "theme_definition": ["Theme A def", "", "Theme B def", "Theme B def"],
        "code": ["a1", "a2", "b1", "b2"],
        "definition": ["code a1", "code a2", "code b1", "code b2"],
    })
    participants = pd.DataFrame({
        "participant_id": ["X01", "X02", "X03", "X04"],
        "role": ["GP", "practice nurse", "gp", "Commissioner"],
        "setting": ["Urban", "Suburban", "Coastal", "ICB"],
        "imd_quintile": ["1", "5", "2", ""],
        "method": ["interview", "interview", "focus group", "focus_group"],
        "collection_order": ["1", "2", "3", "3"],
    })
    texts = {
        "s1": ("X01", "D1", D1, "Café — the gap is wide 😀 here."),
        "s2": ("X01", "D1", D1, "Nobody checks who benefits."),
        "s3": ("X02", "D2", D2, "We look at the total only."),
        "s6": ("X02", "D2", D2, "Hello."),
        "s4": ("X03", "FG", FG, "Targets first, then the gap, if there is time."),
        "s5": ("X04", "FG", FG, "The board funds coverage."),
    }
    rows = []
    for sid, (pid, source, doc, text) in texts.items():
        start, end = _span(doc, text)
        rows.append({"segment_id": sid, "participant_id": pid, "source": source, "start": start, "end": end,
                     "text": text})
    codings = pd.DataFrame({"segment_id": ["s1", "s1", "s2", "s3", "s4", "s4", "s5", "s5"],
                            "code": ["a1", "b1", "a1", "a2", "a1", "a2", "b1", "b1"]})  # s5/b1 twice: counts once
    return codebook, participants, pd.DataFrame(rows), codings, {"D1": D1, "D2": D2, "FG": FG}


@pytest.fixture
def data():
    codebook, participants, segments, codings, documents = handmade()
    return build_qual_data(codebook, participants, segments, codings, documents=documents, label="handmade")


def test_positions_count_code_points(data):
    # The emoji is one code point (two UTF-16 units, four UTF-8 bytes); 'é' and '—' are one code point each.
    s1 = data.segments.set_index("segment_id").loc["s1"]
    assert (s1["start"], s1["end"]) == (23, 53)
    assert D1[23:53] == "Café — the gap is wide 😀 here."
    assert len(D1[23:53].encode("utf-16-le")) // 2 == 31 and len(D1[23:53].encode("utf-8")) == 36


def test_model_normalises_and_dedupes(data):
    assert list(data.participants["role"]) == ["gp", "practice_nurse", "gp", "commissioner"]
    assert list(data.participants["method"]) == ["interview", "interview", "focus_group", "focus_group"]
    assert data.participants["imd_quintile"].tolist()[:3] == [1, 5, 2] and pd.isna(data.participants["imd_quintile"][3])
    assert len(data.codings) == 7  # the repeated (s5, b1) counts once
    assert list(data.codebook["theme_definition"]) == ["Theme A def", "Theme A def", "Theme B def", "Theme B def"]


def test_theme_summary_counts(data):
    t = S.theme_summary(data).set_index(["theme", "code"])
    expected = {  # (n_participants, n_segments, gp, practice_nurse, commissioner)
        ("A", ""): (3, 4, 2, 1, 0), ("A", "a1"): (2, 3, 2, 0, 0), ("A", "a2"): (2, 2, 1, 1, 0),
        ("B", ""): (2, 2, 1, 0, 1), ("B", "b1"): (2, 2, 1, 0, 1), ("B", "b2"): (0, 0, 0, 0, 0),
    }
    for key, values in expected.items():
        row = t.loc[key]
        got = (row["n_participants"], row["n_segments"], row["participants_gp"],
               row["participants_practice_nurse"], row["participants_commissioner"])
        assert got == values, key
    assert list(S.theme_summary(data)["level"]) == ["theme", "code", "code", "theme", "code", "code"]
    assert "participants_pharmacist" not in t.columns  # roles with nobody are not columns
    assert t.loc[("A", ""), "definition"] == "Theme A def" and t.loc[("B", "b2"), "definition"] == "code b2"


def test_counts_by_role(data):
    c = S.counts_by_role(data).set_index(["theme", "role"])
    assert c.loc[("A", "gp"), ["n_participants", "n_segments", "n_role"]].tolist() == [2, 3, 2]
    assert c.loc[("B", "commissioner"), ["n_participants", "n_segments", "n_role"]].tolist() == [1, 1, 1]
    assert c.loc[("B", "practice_nurse"), ["n_participants", "n_segments"]].tolist() == [0, 0]
    codes = S.counts_by_role(data, level="code").set_index(["code", "role"])
    assert codes.loc[("a2", "practice_nurse"), "n_segments"] == 1 and len(codes) == 4 * 3


def test_framework_matrix_cells(data):
    m = S.framework_matrix(data).set_index(["participant_id", "theme"])
    assert len(m) == 8  # 4 participants x 2 themes, empty cells included
    assert m.loc[("X01", "A"), "codes"] == "a1 (2)"
    assert m.loc[("X01", "A"), "n_segments"] == 2
    assert m.loc[("X01", "A"), "exemplar"] == "Café — the gap is wide 😀 here."  # first in document order
    assert m.loc[("X01", "A"), "cell"] == "a1 (2): “Café — the gap is wide 😀 here.”"
    assert m.loc[("X03", "A"), "codes"] == "a1; a2" and m.loc[("X03", "A"), "n_segments"] == 1
    assert m.loc[("X04", "A"), ["n_segments", "codes", "cell"]].tolist() == [0, "", ""]
    assert m.loc[("X04", "B"), "codes"] == "b1"
    short = S.framework_matrix(data, max_chars=20).set_index(["participant_id", "theme"])
    assert short.loc[("X03", "A"), "exemplar"] == "Targets first, then…"
    wide = show.framework_matrix_wide(S.framework_matrix(data), cell="codes")
    assert list(wide.columns) == ["participant_id", "role", "A", "B"]
    assert wide.iloc[0].tolist() == ["X01", "GP", "a1 (2)", "b1"]
    assert wide["participant_id"].tolist() == ["X01", "X02", "X03", "X04"]


def test_framework_matrix_written_atomically(data, tmp_path):
    matrix = S.framework_matrix(data)
    show.write_framework_matrix(matrix, tmp_path / "m.csv", tmp_path / "m.html")
    back = pd.read_csv(tmp_path / "m.csv", keep_default_na=False)
    assert back.columns.tolist() == ["Participant", "Role", "A", "B"]
    assert back.loc[0, "A"] == "a1 (2): “Café — the gap is wide 😀 here.”"
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "<table" in html and "Café — the gap is wide 😀 here." in html
    first = (tmp_path / "m.csv").read_bytes()
    show.write_framework_matrix(matrix, tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "m.html"]  # no temporary file left behind


def test_co_occurrence(data):
    codes = S.co_occurrence(data)
    assert codes.index.tolist() == ["a1", "a2", "b1", "b2"]
    expected = np.array([[3, 1, 1, 0], [1, 2, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(codes.to_numpy(), expected)
    themes = S.co_occurrence(data, level="theme")
    np.testing.assert_array_equal(themes.to_numpy(), np.array([[4, 1], [1, 2]]))


def test_saturation_curve(data):
    curve = S.saturation_curve(data)
    assert curve["event"].tolist() == [1, 2, 3]
    assert curve["participants"].tolist() == ["X01", "X02", "X03; X04"]
    assert curve["method"].tolist() == ["interview", "interview", "focus_group"]
    assert curve["n_segments"].tolist() == [2, 1, 2]
    assert curve["new_codes"].tolist() == [2, 1, 0]
    assert curve["cumulative_codes"].tolist() == [2, 3, 3]
    assert curve["new_code_names"].tolist() == ["a1; b1", "a2", ""]
    assert show.saturation_sentence(curve) == (
        "All 3 codes applied had appeared by data-collection event 2 of 3; the remaining 1 event added no new "
        "code to the study as a whole, which says nothing about saturation within a role.")


def test_exemplar_quotes_rule(data):
    q = S.exemplar_quotes(data, per_theme=2, min_chars=0)
    a = q[q["theme"] == "A"]
    assert a["rank"].tolist() == [1, 2]
    assert a["role"].nunique() == 2  # first pass takes a new role each time
    assert set(q.columns) == {"theme", "rank", "participant_id", "role", "attribution", "codes", "quote"}
    pdt.assert_frame_equal(q, S.exemplar_quotes(data, per_theme=2, min_chars=0))  # same seed, same quotes
    attributions = set(q["attribution"])
    assert attributions <= {"X01, GP", "X02, practice nurse", "X03, GP", "X04, commissioner"}
    # Independent of row order and of segment IDs.
    codebook, participants, segments, codings, documents = handmade()
    shuffled = segments.sample(frac=1, random_state=3).assign(segment_id=lambda f: "z" + f["segment_id"])
    again = build_qual_data(codebook, participants, shuffled, codings.assign(segment_id="z" + codings["segment_id"]),
                            documents=documents)
    pdt.assert_frame_equal(q, S.exemplar_quotes(again, per_theme=2, min_chars=0))
    # Seeds matter: across seeds more than one set of quotes is drawn for theme A (4 candidates).
    drawn = {tuple(S.exemplar_quotes(data, per_theme=1, seed=s, min_chars=0).query("theme == 'A'")["quote"])
             for s in range(12)}
    assert len(drawn) > 1
    # Length filter: with min_chars=28 only s4 (46), s1 (30) remain for theme A... s3 is 26, s2 is 27.
    long_only = S.exemplar_quotes(data, per_theme=3, min_chars=28)
    assert set(long_only.query("theme == 'A'")["quote"]) == {"Café — the gap is wide 😀 here.",
                                                           "Targets first, then the gap, if there is time."}
    with pytest.raises(ValueError, match="per_theme must be at least 1"):
        S.exemplar_quotes(data, per_theme=0)


def test_a_segment_is_the_exemplar_of_one_theme_only(data):
    # s1 ("Café ...") is coded a1 (theme A) and b1 (theme B); theme B's candidates are s1 and s5 in canonical order.
    # Where theme A quotes s1, theme B must quote s5, even when B's own shuffle puts s1 first (the old rule took it).
    cafe, board = "Café — the gap is wide 😀 here.", "The board funds coverage."
    bites = 0
    for seed in range(30):
        q = S.exemplar_quotes(data, per_theme=1, seed=seed, min_chars=0).set_index("theme")["quote"]
        if q["A"] == cafe:
            assert q["B"] == board, seed
            bites += np.random.default_rng([seed, 1]).permutation(2)[0] == 0   # B alone would have drawn s1
        assert q["A"] != q["B"]
    assert bites > 0
    # With no other candidate left the segment is repeated rather than the theme left short: B has only s1 and s5.
    q = S.exemplar_quotes(data, per_theme=4, min_chars=0)
    assert set(q.query("theme == 'B'")["quote"]) == {cafe, board}
    assert len(q.query("theme == 'A'")) == 4


def test_theme_by_deprivation_and_sentences(data):
    t = S.theme_by_deprivation(data).set_index(["theme", "band"])
    assert t.loc[("A", "most_deprived"), ["n_band", "n_participants", "share"]].tolist() == [2, 2, 1.0]
    assert t.loc[("A", "least_deprived"), ["n_band", "n_participants"]].tolist() == [1, 1]
    assert t.loc[("B", "not_known"), ["n_band", "n_participants"]].tolist() == [1, 1]
    assert ("A", "middle") not in t.index  # no participant in IMD quintile 3
    codes = S.theme_by_deprivation(data, level="code")
    sentence = show.deprivation_sentence(codes, "A", "a1")
    assert sentence.startswith("'a1' was raised by 2 of 2 participants working in the most deprived (IMD Q1-Q2) "
                               "areas and by 0 of 1 participants working in the least deprived (IMD Q4-Q5) areas")
    assert "more often where deprivation is highest (100.00 percentage points apart" in sentence
    assert show.overview_sentence(data) == (
        "The analysis covers 4 participants (2 GPs, 1 practice nurse, 1 commissioner) from 2 interviews, "
        "1 focus group: 5 coded segments carrying 7 codings against a codebook of 4 codes in 2 themes.")
    assert show.theme_sentence(S.theme_summary(data)) == (
        "A was the most widely shared theme, raised by 3 participants in 4 segments; B was raised by the fewest "
        "(2 participants, 2 segments).")
    display = show.theme_summary_display(S.theme_summary(data))
    assert display["code"].tolist()[:2] == ["All codes", "a1"] and display["theme"].tolist()[:2] == ["A", ""]
    # Role columns merged into one: (gp, practice nurse, commissioner) = A (2, 1, 0), a1 (2, 0, 0), b2 (0, 0, 0).
    assert list(display.columns) == ["theme", "code", "definition", "n_participants", "n_segments",
                                     "participants_by_role"]
    assert display["participants_by_role"].tolist() == ["GP 2, practice nurse 1", "GP 2", "GP 1, practice nurse 1",
                                                        "GP 1, commissioner 1", "GP 1, commissioner 1", "none"]
    wide = show.theme_summary_display(S.theme_summary(data), merge_roles=False)
    assert wide["participants_gp"].tolist() == [2, 2, 1, 1, 1, 0] and "participants_by_role" not in wide


def test_qdpx_round_trip_gives_the_same_summaries(data, tmp_path):
    path = to_qdpx(data, tmp_path / "handmade.qdpx")
    back = load_qdpx(path)
    for summary in (S.theme_summary, S.framework_matrix, S.exemplar_quotes, S.co_occurrence, S.saturation_curve,
                    S.theme_by_deprivation, S.counts_by_role):
        pdt.assert_frame_equal(summary(data), summary(back), obj=summary.__name__)
    pdt.assert_frame_equal(data.participants, back.participants)
    pdt.assert_frame_equal(data.codebook, back.codebook)
    assert back.documents == data.documents  # the emoji survives, positions unchanged
    pos = back.segments.set_index("text").loc["Café — the gap is wide 😀 here.", ["start", "end"]].tolist()
    assert pos == [23, 53]


def test_figures_return_fig_and_ax(data):
    import matplotlib.pyplot as plt

    fig, ax = show.plot_co_occurrence(S.co_occurrence(data))
    # Lower triangle without the diagonal: rows a2..b2, columns a1..b1, so no row or column is empty.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a2", "b1", "b2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a1", "a2", "b1"]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    # a2-a1: s4; b1-a1: s1; b1-a2, b2-*: none. Six cells, every row and column has at least one.
    assert cells == {(0, 0): "1", (1, 0): "1", (1, 1): "0", (2, 0): "0", (2, 1): "0", (2, 2): "0"}
    plt.close(fig)
    fig, ax = show.plot_co_occurrence(S.co_occurrence(data), show_diagonal=True)
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert len(cells) == 10 and [cells[(i, i)] for i in range(4)] == ["3", "2", "2", "0"]  # segments per code
    assert ax.child_axes[0].get_ylabel() == "Segments coded with both (diagonal: with the code)"
    plt.close(fig)
    fig, ax = show.plot_saturation(S.saturation_curve(data))
    assert list(ax.lines[0].get_ydata()) == [2, 3, 3]
    plt.close(fig)


def test_run_qualitative_analysis_holds_the_summaries_of_the_project():
    from beyond_averages.qual import load_csv_project, run_qualitative_analysis

    analysis = run_qualitative_analysis("data_synthetic/qualitative", quotes_per_theme=1, seed=7)
    data = load_csv_project("data_synthetic/qualitative")
    pdt.assert_frame_equal(analysis.theme_summary, S.theme_summary(data))
    # Quotes and matrix carry the protected attribution (no groups file given: roles under 3 are "participant").
    from beyond_averages.qual.attribution import attribute, attribute_matrix, attribute_quotes
    attribution = attribute(data.participants)
    pdt.assert_frame_equal(analysis.framework_matrix, attribute_matrix(S.framework_matrix(data), attribution))
    pdt.assert_frame_equal(analysis.quotes, attribute_quotes(S.exemplar_quotes(data, per_theme=1, seed=7), attribution))
    pdt.assert_frame_equal(analysis.co_occurrence, S.co_occurrence(data))
    pdt.assert_frame_equal(analysis.saturation, S.saturation_curve(data))
    assert (analysis.quotes_per_theme, analysis.seed) == (1, 7)
