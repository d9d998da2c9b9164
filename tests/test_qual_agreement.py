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
    assert sentence.startswith("Across all codes, the 2 coders agreed at passage level 83.3% agreement over 12 "
                               "units (Krippendorff's alpha 0.57, Cohen's kappa 0.56)")
    assert show.agreement_display(agreement(data))["cohen_kappa"].tolist() == ["1.00", "0.00", "0.50", "0.56"]


def test_agreement_file_written_only_with_two_coders(tmp_path):
    single = write_appendix("data_synthetic/qualitative", tmp_path / "one")
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
