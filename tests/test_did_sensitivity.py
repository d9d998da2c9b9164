"""The DiD chapter's sensitivity analyses (issue 13 item 4; the log-odds scale of issue 12): every row is the
estimator it says, concluded by the chapter's one rule, and the sentence says whether the conclusion holds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from beyond_averages.did import GroupTimeATT, build_did_panel, run_did_analysis, simulate_measures_panel
from beyond_averages.did.sensitivity import COMMON, did_sensitivity, log_odds
from beyond_averages.report import headline as hl
from beyond_averages.report import sensitivity as sens


@pytest.fixture(scope="module")
def analysis():
    measures, programme = simulate_measures_panel(n_practices=40, n_months=30, effects="narrowing", seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return run_did_analysis(build_did_panel(measures, programme))


def test_log_odds_of_hand_counts():
    cells = pd.DataFrame({"numerator": [9, 0, 10], "denominator": [10, 10, 10]})
    assert np.allclose(log_odds(cells), [np.log(9.5 / 1.5), np.log(0.5 / 10.5), np.log(10.5 / 0.5)])


def test_rows_are_the_estimators_they_name(analysis):
    rows = did_sensitivity(analysis)
    assert rows["analysis"].tolist()[:4] == ["main analysis", "not-yet-treated comparison group", "log-odds scale",
                                             "two-way fixed effects"]
    assert rows["estimand"].tolist() == ["Q1 - Q5"] * 4 + ["gap"] * 3
    main = analysis.gta_quintile.contrast(1, 5).iloc[0]
    assert rows.loc[0, "estimate"] == pytest.approx(main["estimate"])
    other = GroupTimeATT(analysis.panel, by="imd_quintile", weights="denominator", comparison="not_yet_treated",
                         outcome="outcome", warn=False, **COMMON).contrast(1, 5).iloc[0]
    assert rows.loc[1, "estimate"] == pytest.approx(other["estimate"])
    # The planted narrowing (a larger gain in Q1) shows on every scale: the log-odds contrast is positive too.
    assert rows.loc[0, "estimate"] > 0 and rows.loc[2, "estimate"] > 0 and rows.loc[2, "scale"] == "log_odds"
    # Stricter sparse-quintile rules keep no more practices than the default for the gap.
    assert rows.loc[5, "practices"] <= rows.loc[4, "practices"]


def test_conclusions_and_sentence(analysis):
    rows = sens.sensitivity_rows(analysis, hl.did_headline(analysis))
    assert set(rows["narrowing"]) <= {1, -1}
    assert (rows.loc[rows["estimand"].str.endswith("| Q1 - Q5"), "narrowing"] == 1).all()   # Q1 starts lower
    assert (rows.loc[rows["estimand"].str.endswith("| gap"), "narrowing"] == -1).all()
    sentence = sens.sensitivity_sentence(rows)
    primary = rows["conclusion"].iloc[0]
    holds = int((rows["conclusion"].iloc[:4] == primary).sum())
    assert sentence.startswith(f"For the primary estimand the main conclusion (\u201c{primary}\u201d) holds in "
                               f"{holds} of 4 analyses")
    flipped = rows.copy()
    flipped.loc[2, "conclusion"] = "widened"
    assert "it changes with the log-odds scale" in sens.sensitivity_sentence(flipped)
