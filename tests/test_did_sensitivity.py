"""The DiD chapter's sensitivity analyses (issue 13 item 4; the log-odds scale of issue 12): every row is the
estimator it says, concluded by the chapter's one rule, and the sentence says whether the conclusion holds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from beyond_averages.did import GroupTimeATT, build_did_panel, run_did_analysis, simulate_measures_panel
from beyond_averages.did.covariates import baseline_covariates
from beyond_averages.did.sensitivity import (
    COMMON, COVARIATES, HONEST, LOG_ODDS, MAIN, NO_COVID, TWFE, exclude_covid, log_odds,
)
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


@pytest.fixture(scope="module")
def rows(analysis):
    return sens.sensitivity_rows(analysis, hl.did_headline(analysis), covid_start="2020-03-01")


TARGETS = ["Q1", "Q2", "Q3", "Q4", "Q5", "Q1 - Q5", "gap", "sii"]


def _analysis_rows(rows, name):
    sub = rows[rows["estimand"].str.startswith(name + " | ")]
    return sub.assign(target=sub["estimand"].str.split(" | ", regex=False).str[1]).set_index("target")


def test_rows_are_the_estimators_they_name(analysis, rows):
    order = list(dict.fromkeys(e.split(" | ")[0] for e in rows["estimand"]))
    assert order == [MAIN, "not-yet-treated comparison group", COVARIATES, NO_COVID, HONEST, LOG_ODDS, TWFE,
                     "gap of Q4–Q5 minus Q1–Q2, at least 10 eligible patients",
                     "gap of Q5 minus Q1 alone, at least 1 eligible patient"]
    for name in order[:5]:   # every headline estimand under every analysis that probes the comparison
        assert _analysis_rows(rows, name).index.tolist() == TARGETS, name
    main = _analysis_rows(rows, MAIN)
    assert main.loc["Q1 - Q5", "estimate"] == pytest.approx(analysis.gta_quintile.contrast(1, 5).iloc[0]["estimate"])
    assert main.loc["sii", "estimate"] == pytest.approx(
        analysis.inequality[("sii", "group_time_att")].tidy().iloc[0]["estimate"])
    w = dict(weights="denominator", outcome="outcome", warn=False, **COMMON)
    other = GroupTimeATT(analysis.panel, by="imd_quintile", comparison="not_yet_treated", **w)
    assert _analysis_rows(rows, "not-yet-treated comparison group").loc["Q1 - Q5", "estimate"] == pytest.approx(
        other.contrast(1, 5).iloc[0]["estimate"])
    # Covariates: the doubly robust group-time ATT with the three baseline covariates, as xformla.
    with_x = baseline_covariates(analysis.panel, "outcome", ["practice_id", "imd_quintile"], "2020-03-01")
    fit = GroupTimeATT(with_x, by="imd_quintile", covariates=["cov_level", "cov_size", "cov_recovery"], **w)
    assert _analysis_rows(rows, COVARIATES).loc["Q1", "estimate"] == pytest.approx(
        fit.tidy().iloc[0]["estimate"])
    # Excluding COVID-19: the same estimator on the panel without 2020-03 .. the month before the first wave.
    fit = GroupTimeATT(exclude_covid(analysis.panel, "2020-03-01"), by="imd_quintile", **w)
    assert _analysis_rows(rows, NO_COVID).loc["Q1 - Q5", "estimate"] == pytest.approx(
        fit.contrast(1, 5).iloc[0]["estimate"])
    # HonestDiD's target is the headline itself: under exact parallel trends its interval is centred on the main
    # estimate (exactly for one quintile; for the contrast up to the two quintiles' slightly different weights).
    honest = _analysis_rows(rows, HONEST)
    centre = (honest["pt_ci_lower"] + honest["pt_ci_upper"]) / 2
    for target in ("Q1", "Q5", "gap", "sii"):
        assert centre[target] == pytest.approx(main.loc[target, "estimate"], abs=1e-9), target
    assert centre["Q1 - Q5"] == pytest.approx(main.loc["Q1 - Q5", "estimate"], abs=0.05)
    # The robust set at Mbar = 1 contains the parallel-trends interval; the breakdown is given for the primary only.
    assert (honest["ci_lower"] <= honest["pt_ci_lower"] + 1e-9).all()
    assert (honest["ci_upper"] >= honest["pt_ci_upper"] - 1e-9).all()
    assert honest["breakdown"].notna().tolist() == [t == "Q1 - Q5" for t in TARGETS]
    # The planted narrowing (a larger gain in Q1) shows on every scale: the log-odds contrast is positive too.
    log = _analysis_rows(rows, LOG_ODDS)
    assert main.loc["Q1 - Q5", "estimate"] > 0 and log.loc["Q1 - Q5", "estimate"] > 0
    assert log.loc["Q1 - Q5", "scale"] == "log_odds"
    # A stricter sparse-quintile rule, and the extreme quintiles alone, keep no more practices than the default.
    for rule in ("gap of Q4–Q5 minus Q1–Q2, at least 10 eligible patients",
                 "gap of Q5 minus Q1 alone, at least 1 eligible patient"):
        assert _analysis_rows(rows, rule).loc["gap", "practices"] <= main.loc["gap", "practices"]


def test_conclusions_and_sentence(rows):
    assert set(rows["narrowing"]) <= {1, -1, 0}
    assert (rows.loc[rows["estimand"].str.endswith("| Q1 - Q5"), "narrowing"] == 1).all()   # Q1 starts lower
    assert (rows.loc[rows["estimand"].str.endswith("| gap"), "narrowing"] == -1).all()
    assert (rows.loc[rows["estimand"].str.endswith("| Q1"), "narrowing"] == 0).all()
    sentence = sens.sensitivity_sentence(rows)
    primary = rows[rows["estimand"].str.endswith("| Q1 - Q5")]
    holds = int((primary["conclusion"] == primary["conclusion"].iloc[0]).sum())
    assert (f"for the difference in effect, Q1 minus Q5 the main conclusion (\u201c{primary['conclusion'].iloc[0]}"
            f"\u201d) holds in {holds} of {len(primary)} analyses") in sentence
    flipped = rows.copy()
    flipped.loc[flipped["estimand"] == f"{LOG_ODDS} | Q1 - Q5", "conclusion"] = "widened"
    assert "the log-odds scale" not in sentence and "the log-odds scale" in sens.sensitivity_sentence(flipped)


def test_table_has_one_row_per_headline_estimand(rows):
    shown = sens.sensitivity_table(rows).data
    assert len(shown) == len(TARGETS)
    assert shown.columns[0] == "Estimand" and shown.columns[-1] == "Depends on parallel trends"
    flags = sens.parallel_trends_flags(rows)
    assert shown["Depends on parallel trends"].tolist() == ["yes" if f else "no" for f in flags["flagged"]]
