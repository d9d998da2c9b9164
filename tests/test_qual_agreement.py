"""Agreement between coders: the coefficients against published worked examples, then a hand-built two-coder REFI
project whose passage-level values are worked out by hand in the comments, and the appendix file."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from beyond_averages.qual import agreement, load_qdpx
from beyond_averages.qual.__main__ import write_appendix
from beyond_averages.qual.agreement import cohen_kappa, krippendorff_alpha, percent_agreement
from beyond_averages.report import qualitative as show
from test_qual_tools import DOC, PASSAGES, _archive, _project, _selection, u16


def test_krippendorff_alpha_equals_the_packages_documented_example():
    """Source: the ``krippendorff`` package (Santiago Castro, pln-fing-udelar/fast-krippendorff), version 0.9.0:
    the docstring of ``krippendorff.alpha`` ("Examples") and ``tests/test_krippendorff.py``
    (``test_nominal_metric_reliability_data``, commit 13c1938f1297dc013b12e2655d2b8e01f1efc0d0) print, for these
    3 coders x 15 units with missing values, nominal alpha ``0.691358`` (rounded to 6 digits)."""
    nan = np.nan
    data = [[nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
            [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
            [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4]]
    assert round(krippendorff_alpha(np.array(data)), 6) == 0.691358


def test_cohen_kappa_equals_a_documented_example():
    """Source: R package Delta (rdrr.io/cran/Delta/man/GetKappa.html, "Delta documentation built on March 26,
    2020"), example ``GetKappa(matrix(c(50,10,10,20),2,2))`` printing ``Kappa ± S.E. = 0.5 ± 0.09682458``: 90
    units, 50 agree on 1, 20 agree on 2, 10 + 10 disagree."""
    a = [1] * 50 + [1] * 10 + [2] * 10 + [2] * 20
    b = [1] * 50 + [2] * 10 + [1] * 10 + [2] * 20
    assert cohen_kappa(a, b) == pytest.approx(0.5, abs=1e-12)
    assert percent_agreement(np.array([a, b])) == pytest.approx(70 / 90 * 100)


def test_undefined_coefficients_are_nan():
    assert math.isnan(cohen_kappa([0, 0, 0], [0, 0, 0]))           # nothing coded: no variation
    assert math.isnan(krippendorff_alpha(np.array([[0, 0], [0, 0]])))
    assert percent_agreement(np.array([[0, 0], [0, 0]])) == 100.0


def _two_coders_file(tmp_path):
    def span(passage):  # NVivo-style UTF-16 spans
        return u16(DOC, PASSAGES[passage])

    sels = (_selection(40, span("list"), 2, user=90) + _selection(41, span("staff"), 4, user=90)
            + _selection(42, span("early"), 4, user=90)
            + _selection(43, span("list"), 2, user=91) + _selection(44, span("busy"), 3, user=91)
            + _selection(45, span("staff"), 4, user=91))
    return _archive(tmp_path, _project("NVivo 14", sels))


def _two_coders(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_qdpx(_two_coders_file(tmp_path))


def test_passage_level_agreement_worked_by_hand(tmp_path):
    data = _two_coders(tmp_path)
    assert data.coders == ["coder A", "coder B"] and len(data.segments) == 4
    table = agreement(data).set_index(["level", "code"])
    # Passages busy, list, staff, early. Waiting: A and B both on "list" only -> 100 %, kappa 1, alpha 1.
    assert table.loc[("passage", "Waiting"), ["percent_agreement", "cohen_kappa", "krippendorff_alpha"]].tolist() \
        == [100.0, 1.0, 1.0]
    # Demand: A none, B "busy". 3 of 4 agree; p_o = p_e = 0.75 -> kappa 0; alpha = 1 - 7*2/(2*7*1) = 0.
    demand = table.loc[("passage", "Demand")]
    assert (demand["percent_agreement"], demand["cohen_kappa"]) == (75.0, 0.0)
    assert demand["krippendorff_alpha"] == pytest.approx(0.0, abs=1e-12)
    # Staff: A staff+early, B staff. p_o = .75, p_e = .5*.25 + .5*.75 = .5 -> kappa .5;
    # alpha = 1 - (n-1)(o01+o10)/(2 n0 n1) = 1 - 7*2/(2*5*3) = 8/15.
    staff = table.loc[("passage", "Staff")]
    assert staff["cohen_kappa"] == pytest.approx(0.5) and staff["krippendorff_alpha"] == pytest.approx(8 / 15)
    # All codes: 12 unit-code pairs, 2 disagree. p_o = 10/12, p_e = (3/12)^2 + (9/12)^2 = 10/16 -> kappa 5/9;
    # alpha = 1 - 23*4/(2*18*6) = 31/54.
    overall = table.loc[("passage", "All codes")]
    assert overall["n_units"] == 12 and overall["percent_agreement"] == pytest.approx(100 * 10 / 12)
    assert overall["cohen_kappa"] == pytest.approx(5 / 9) and overall["krippendorff_alpha"] == pytest.approx(31 / 54)
    # Characters: Waiting covers the same characters for both coders; the units are every character of the source.
    waiting = table.loc[("character", "Waiting")]
    assert waiting["n_units"] == len(data.documents["Interview 1"]) and waiting["krippendorff_alpha"] == 1.0
    sentence = show.agreement_sentence(agreement(data))
    assert sentence.startswith("Across all codes, the 2 coders agreed on 83.3% of 12 passage-code pairs "
                               "(Krippendorff's alpha 0.57, Cohen's kappa 0.56), and on ")
    assert show.agreement_display(agreement(data))["cohen_kappa"].tolist() == ["1.00", "0.00", "0.50", "0.56"]


def _single_coder_copy(tmp_path):
    """The synthetic project without its second coder's file: one coder."""
    import shutil

    from beyond_averages import paths

    folder = tmp_path / "project"
    shutil.copytree(paths.DATA_SYNTHETIC / "qualitative", folder)
    (folder / "segments_second_coder.csv").unlink()
    return folder


def test_agreement_file_written_only_with_two_coders(tmp_path):
    single = write_appendix(_single_coder_copy(tmp_path), tmp_path / "one")
    assert "agreement.csv" not in {p.name for p in single}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = write_appendix(_two_coders_file(tmp_path), tmp_path / "two")
    assert two[-1].name == "agreement.csv"
    table = pd.read_csv(two[-1])
    assert table.groupby("level").size().to_dict() == {"character": 4, "passage": 4}
    with pytest.warns(UserWarning, match="have no description"):
        uncoded = load_qdpx(_archive(tmp_path, _project("NVivo 14", "")))
    assert show.agreement_sentence(agreement(uncoded)).startswith("Agreement between coders cannot be computed")


def test_csv_project_with_a_coder_column(tmp_path):
    """The synthetic project with every coding recorded twice, by coders A and B: perfect agreement, the same
    passages, and the theme summary says both numbers (codings are twice the passages)."""
    import shutil

    from beyond_averages import paths
    from beyond_averages.qual import load_csv_project
    from beyond_averages.qual import summaries as S

    folder = tmp_path / "project"
    shutil.copytree(paths.DATA_SYNTHETIC / "qualitative", folder)
    (folder / "segments_second_coder.csv").unlink()  # a separate double coding would be compared instead
    wide = pd.read_csv(folder / "segments.csv", dtype=str, keep_default_na=False)
    long = wide.assign(code=wide["codes"].str.split(";")).explode("code").drop(columns="codes")
    both = pd.concat([long.assign(coder="A"), long.assign(coder="B")], ignore_index=True)
    both.to_csv(folder / "segments.csv", index=False)
    data = load_csv_project(folder)
    original = load_csv_project(paths.DATA_SYNTHETIC / "qualitative")
    assert data.coders == ["A", "B"] and len(data.coder_codings) == 2 * len(original.codings)
    assert S.co_occurrence(data).equals(S.co_occurrence(original))
    codes = S.theme_summary(data).query("level == 'code'")
    assert (codes["n_codings"] == 2 * codes["n_segments"]).all() and codes["n_segments"].sum() == 57
    overall = agreement(data).set_index(["level", "code"]).loc[("passage", "All codes")]
    assert (overall["percent_agreement"], overall["krippendorff_alpha"], overall["cohen_kappa"]) == (100.0, 1.0, 1.0)


# ------------------------------------------------------------------ the synthetic project's double coding (SYNTHETIC)

def test_synthetic_double_coding_kept_apart_from_the_findings():
    """data_synthetic/qualitative/segments_second_coder.csv: Coder B coded three interviews (P01, P03, P08)
    independently. Its passages on Coder A's spans merge into A's passages; its shorter passage in P01 is a new
    one. The findings (codings, passages) are Coder A's alone."""
    from beyond_averages.qual import load_csv_project

    data = load_csv_project("data_synthetic/qualitative")
    assert data.coders == ["Coder A"] and (len(data.segments), len(data.codings)) == (43, 57)
    double = data.double_coding
    assert double.coders == ["Coder A", "Coder B"]
    assert sorted(double.segments["source"].unique()) == ["P01_interview", "P03_interview", "P08_interview"]
    # A's 12 passages in these interviews plus B's one new span (B03); B's other 11 passages are A's spans.
    assert len(double.segments) == 13 and "B03" in set(double.segments["segment_id"])
    assert double.segments.set_index("segment_id").loc["B03", ["start", "end"]].tolist() == [589, 690]
    recorded = double.coder_codings.groupby("coder").size().to_dict()
    assert recorded == {"Coder A": 17, "Coder B": 16}


def test_synthetic_double_coding_agreement_worked_by_hand():
    """Passage level, code 'Inequalities recognised', 13 passages. A: S002, S003. B: S002, B03, S011 (B's B07 is
    S011's span). Units (A, B): S002 (1, 1), S003 (1, 0), B03 (0, 1), S011 (0, 1), 9 x (0, 0).
    Agreement 10/13 = 76.9 %. Cohen: p_o = 10/13, p_e = (2*3 + 11*10)/13^2 = 116/169, kappa = 14/53.
    Krippendorff (nominal, 2 coders, no missing): n = 26 values, n_1 = 5, n_0 = 21, o_01 + o_10 = 2*3 = 6,
    alpha = 1 - (n - 1)(o_01 + o_10)/(2 n_0 n_1) = 1 - 25*6/210 = 2/7."""
    from beyond_averages.qual import load_csv_project

    table = agreement(load_csv_project("data_synthetic/qualitative")).set_index(["level", "code"])
    row = table.loc[("passage", "Inequalities recognised")]
    assert (row["n_units"], row["n_coders"]) == (13, 2)
    assert row["percent_agreement"] == pytest.approx(1000 / 13)
    assert row["cohen_kappa"] == pytest.approx(14 / 53) and row["krippendorff_alpha"] == pytest.approx(2 / 7)
    # Target-driven QI: A on S001, S004, S009, S025, S026; B on the same but S004. 12 of 13 agree;
    # p_e = (5*4 + 8*9)/169 = 92/169, kappa = (156 - 92)/(169 - 92) = 64/77.
    target = table.loc[("passage", "Target-driven QI")]
    assert target["percent_agreement"] == pytest.approx(1200 / 13) and target["cohen_kappa"] == pytest.approx(64 / 77)
    # Only codes applied by a coder in these interviews are compared (8 of 17), then 'All codes': 8 x 13 units.
    passage = table.loc["passage"]
    assert len(passage) == 9 and passage.loc["All codes", "n_units"] == 8 * 13
    assert "Staff turnover and shortages" in passage.index and "Patient voice" not in passage.index
    # Characters: every character of the three transcripts is a unit.
    from beyond_averages import paths
    n_chars = sum(len((paths.DATA_SYNTHETIC / "qualitative" / "transcripts" / f"{s}.txt").read_text(
        encoding="utf-8")) for s in ("P01_interview", "P03_interview", "P08_interview"))
    assert table.loc[("character", "Time pressure"), "n_units"] == n_chars == 2221


def test_synthetic_chapter_tables_and_sentences():
    from beyond_averages.qual import run_qualitative_analysis

    analysis = run_qualitative_analysis("data_synthetic/qualitative")
    shown = show.agreement_levels_display(analysis.agreement).set_index("code")
    assert shown.loc["Inequalities recognised"].tolist() == ["76.9", "0.26", "0.29", "92.8", "0.71", "0.71"]
    assert shown.index[-1] == "All codes"
    assert show.double_coding_sentence(analysis.data) == (
        "Coder A and Coder B each coded 3 of the 10 sources (P01_interview, P03_interview, P08_interview), 13 "
        "passages between them, independently; the findings above rest on the coding of Coder A, and the second "
        "coding serves only to measure agreement.")
    assert show.agreement_sentence(analysis.agreement).startswith(
        "Across all codes, the 2 coders agreed on 93.3% of 104 passage-code pairs (Krippendorff's alpha 0.75, "
        "Cohen's kappa 0.75), and on 96.6% of 17,768 character-code pairs")


def test_synthetic_appendix_has_the_agreement_file(tmp_path):
    from beyond_averages.qual import load_csv_project

    written = write_appendix("data_synthetic/qualitative", tmp_path / "out")
    assert written[-1].name == "agreement.csv"
    table = pd.read_csv(written[-1], keep_default_na=False, na_values=[""]).fillna({"theme": ""})
    expected = agreement(load_csv_project("data_synthetic/qualitative"))
    pd.testing.assert_frame_equal(table, expected.reset_index(drop=True), check_dtype=False)
    assert written[-1].read_bytes() == write_appendix("data_synthetic/qualitative", tmp_path / "again")[-1] \
        .read_bytes()


def _copy_with(tmp_path, second: str | None = None, first: str | None = None):
    import shutil

    from beyond_averages import paths

    folder = tmp_path / "project"
    shutil.copytree(paths.DATA_SYNTHETIC / "qualitative", folder)
    if second is not None:
        (folder / "segments_second_coder.csv").write_text(second, encoding="utf-8")
    if first is not None:
        (folder / "segments.csv").write_text(first, encoding="utf-8")
    return folder


def test_double_coding_errors(tmp_path):
    from beyond_averages.files import InputError
    from beyond_averages.qual import load_csv_project

    head = "segment_id,participant_id,source,start,end,text,code,coder\n"
    text = '"With one and a half GPs, any project is done in the evenings."'
    with pytest.raises(InputError, match=r"segments_second_coder.csv: row 1 \(line 2\), column 'coder': empty; name "
                                         r"the coder of every coding"):
        load_csv_project(_copy_with(tmp_path / "a", head + f"B1,P08,P08_interview,563,624,{text},Time pressure,\n"))
    with pytest.raises(InputError, match=r"segments_second_coder.csv: segment_id 'S001' names another passage in "
                                         r"segments.csv"):
        # A new span (not S028's) under an ID segments.csv uses for another passage.
        load_csv_project(_copy_with(tmp_path / "b", head + "S001,P08,P08_interview,563,586,With one and a half GPs,"
                                                           "Time pressure,Coder B\n"))
    first = (_copy_with(tmp_path / "c") / "segments.csv").read_text(encoding="utf-8")
    no_coder = "\n".join(line.rsplit(",", 1)[0] for line in first.splitlines()) + "\n"  # drop the coder column
    with pytest.raises(InputError, match=r"segments.csv: no 'coder' column; name the coder of every coding, so "
                                         r"segments_second_coder.csv can be compared with segments.csv"):
        load_csv_project(_copy_with(tmp_path / "d", first=no_coder))
    with pytest.raises(InputError, match=r"segments_second_coder.csv: row 1 \(line 2\), column 'text': the text "
                                         r"does not match 'P08_interview'\[563:620\]"):
        load_csv_project(_copy_with(tmp_path / "e", head + f"B1,P08,P08_interview,563,620,{text},Time pressure,"
                                                           f"Coder B\n"))


def test_writer_keeps_coders_and_their_agreement(tmp_path):
    """to_qdpx writes one Coding per coder with creatingUser and a User per coder: the double coding of the
    synthetic project reads back with both coders and the same agreement, in both targets."""
    import xml.etree.ElementTree as ET
    import zipfile

    from beyond_averages.qual import load_csv_project, to_qdpx

    double = load_csv_project("data_synthetic/qualitative").double_coding
    for target in ("refi", "nvivo"):
        path = to_qdpx(double, tmp_path / f"{target}.qdpx", target=target)
        with zipfile.ZipFile(path) as archive:
            root = ET.fromstring(archive.read("project.qde"))
        q = "{urn:QDA-XML:project:1.0}"
        users = {u.get("guid"): u.get("name") for u in root.iter(f"{q}User")}
        assert sorted(users.values()) == ["Coder A", "Coder B", "beyond_averages"]
        codings = list(root.iter(f"{q}Coding"))
        assert len(codings) == len(double.coder_codings) == 33
        assert sorted(users[c.get("creatingUser")] for c in codings).count("Coder B") == 16
        back = load_qdpx(path)
        assert back.coders == ["Coder A", "Coder B"]
        key = ["text", "code", "coder"]
        mine = double.coder_codings.merge(double.segments, on="segment_id")[key].sort_values(key, ignore_index=True)
        theirs = back.coder_codings.merge(back.segments, on="segment_id")[key].sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(mine, theirs)
        pd.testing.assert_frame_equal(agreement(back), agreement(double))
