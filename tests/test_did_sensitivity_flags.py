"""The DiD chapter's parallel-trends rule (issue #13 items 4 and 6): a headline estimate is flagged, in words, when an
analysis that changes the comparison moves it outside the main CI, or when HonestDiD at Mbar = 1 overturns its
conclusion; and the new sensitivity rows' building blocks (baseline covariates, the COVID-19 exclusion) on hand-built
panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.did.covariates import baseline_covariates
from beyond_averages.did.sensitivity import (
    COVARIATES, HONEST, LOG_ODDS, MAIN, NO_COVID, TWFE, exclude_covid,
)
from beyond_averages.report import sensitivity as sens

NYT = "not-yet-treated comparison group"


def _rows(*rows) -> pd.DataFrame:
    """Concluded-style rows as sensitivity_rows gives them: ``estimand`` is ``analysis | target``."""
    out = []
    for analysis, target, est, lo, hi, *extra in rows:
        pt = extra[0] if extra else (np.nan, np.nan)
        out.append({"estimand": f"{analysis} | {target}", "estimate": est, "ci_lower": lo, "ci_upper": hi,
                    "probes_parallel_trends": analysis in (NYT, COVARIATES, NO_COVID),
                    "pt_ci_lower": pt[0], "pt_ci_upper": pt[1], "breakdown": np.nan, "practices": 10,
                    "conclusion": "increased"})
    return pd.DataFrame(out)


def test_a_probing_estimate_outside_the_ci_is_flagged_with_its_direction():
    rows = _rows((MAIN, "Q1", 1.32, 1.04, 1.60), (NYT, "Q1", 1.33, 1.05, 1.61), (COVARIATES, "Q1", 1.75, 1.40, 2.10),
                 (NO_COVID, "Q1", 1.00, 0.70, 1.30))
    flags = sens.parallel_trends_flags(rows).set_index("group")
    assert bool(flags.loc["Q1", "flagged"])
    assert flags.loc["Q1", "moved_by"] == [(COVARIATES, 1.75, "up"), (NO_COVID, 1.00, "down")]
    sentence = sens.parallel_trends_sentence(rows)
    assert sentence == ("The effect in Q1 (most deprived) (1.32) depends on parallel trends between adopters and "
                        "never-adopters: with baseline covariates, it moves up to 1.75; excluding the COVID-19 "
                        "period, it moves down to 1.00, outside the main analysis's 95% CI (1.04 to 1.60).")


def test_estimates_inside_the_ci_or_from_other_scales_and_estimators_are_not_flagged():
    # Inside the CI (limits included), or outside it but on another scale / by another estimator: no flag.
    rows = _rows((MAIN, "Q1 - Q5", 0.60, 0.15, 1.05), (NYT, "Q1 - Q5", 1.05, 0.60, 1.50),
                 (COVARIATES, "Q1 - Q5", 0.15, -0.30, 0.60), (LOG_ODDS, "Q1 - Q5", 0.09, 0.03, 0.15),
                 (TWFE, "Q1 - Q5", 1.30, 0.90, 1.70))
    flags = sens.parallel_trends_flags(rows)
    assert not flags["flagged"].any() and flags["moved_by"].iloc[0] == []
    assert sens.parallel_trends_sentence(rows).startswith(
        "No analysis that changes the comparison moves a headline estimate outside its 95% CI, and every conclusion "
        "that excludes 0 survives")


@pytest.mark.parametrize("main, pt, honest, fires", [
    ((-0.50, -0.91, -0.09), (-0.95, -0.05), (-2.59, 1.70), True),    # the conclusion needs exact parallel trends
    ((-0.50, -0.91, -0.09), (-0.95, -0.05), (-0.99, -0.02), False),  # it survives Mbar = 1
    ((-0.50, -1.10, 0.10), (-1.10, 0.10), (-2.59, 1.70), False),     # nothing to overturn: main CI includes 0
    ((-0.50, -0.91, -0.09), (-0.90, 0.01), (-2.59, 1.70), False),    # HonestDiD's own target includes 0 already
])
def test_honest_clause(main, pt, honest, fires):
    rows = _rows((MAIN, "sii", *main), (NYT, "sii", *main), (HONEST, "sii", (honest[0] + honest[1]) / 2, *honest, pt))
    flags = sens.parallel_trends_flags(rows)
    assert bool(flags["honest_breaks"].iloc[0]) is fires and bool(flags["flagged"].iloc[0]) is fires
    sentence = sens.parallel_trends_sentence(rows)
    if fires:
        assert sentence == (
            "The change in the within-practice slope index of inequality (-0.50) depends on parallel trends between "
            "adopters and never-adopters holding more closely than they did before adoption: a departure after "
            "adoption no larger than the largest before it (HonestDiD, M\u0304 = 1) leaves an interval that includes 0 "
            "(-2.59 to 1.70).")
    else:
        assert "depends" not in sentence


def test_the_comparison_group_is_named_from_the_rows():
    # Main analysis against the not yet treated: its other-comparison row is the never-treated one.
    rows = _rows((MAIN, "Q1", 1.32, 1.04, 1.60), ("never-treated comparison group", "Q1", 1.90, 1.60, 2.20))
    rows.loc[1, "probes_parallel_trends"] = True
    assert sens.parallel_trends_sentence(rows).startswith(
        "The effect in Q1 (most deprived) (1.32) depends on parallel trends between adopters and practices that had "
        "not yet adopted: with the never-treated comparison group, it moves up to 1.90")


def test_table_marks_the_flagged_estimand():
    rows = _rows((MAIN, "Q1", 1.32, 1.04, 1.60), (COVARIATES, "Q1", 1.75, 1.40, 2.10),
                 (MAIN, "Q2", 1.20, 1.01, 1.40), (COVARIATES, "Q2", 1.23, 1.03, 1.43))
    shown = sens.sensitivity_table(rows).data
    assert shown["Depends on parallel trends"].tolist() == ["yes", "no"]
    assert shown["Baseline covariates"].tolist() == ["1.75 (1.40 to 2.10)", "1.23 (1.03 to 1.43)"]


def _toy_panel() -> pd.DataFrame:
    """Two units over 2019-01..2021-06, adoption 2021-04 for unit A; outcome = month index (+10 for A)."""
    months = pd.date_range("2019-01-01", "2021-06-01", freq="MS")
    rows = []
    for unit, shift, start, den in (("A", 10.0, pd.Timestamp("2021-04-01"), 100), ("B", 0.0, pd.NaT, 400)):
        for k, m in enumerate(months):
            rows.append({"practice_id": unit, "imd_quintile": 1, "month": m, "outcome": k + shift,
                         "denominator": den, "programme_start": start})
    return pd.DataFrame(rows)


def test_baseline_covariates_by_hand():
    out = baseline_covariates(_toy_panel(), "outcome", ["practice_id", "imd_quintile"], "2020-03-01")
    a = out[out["practice_id"] == "A"].iloc[0]
    # Year before the first wave: 2020-04..2021-03 = month indices 15..26 (mean 20.5), +10 for A.
    assert a["cov_level"] == pytest.approx(30.5)
    # Year before COVID-19: 2019-03..2020-02 = indices 2..13 (mean 7.5): recovery 30.5 - 17.5 = 13.
    assert a["cov_recovery"] == pytest.approx(13.0)
    assert a["cov_size"] == pytest.approx(np.log(100))
    b = out[out["practice_id"] == "B"]
    assert (b["cov_level"] == 20.5).all() and np.allclose(b["cov_size"], np.log(400))
    # No pre-COVID year in the panel: the recovery covariate is left out, not filled in.
    late = baseline_covariates(_toy_panel(), "outcome", ["practice_id", "imd_quintile"], "2019-06-01")
    assert "cov_recovery" not in late


def test_exclude_covid_drops_covid_start_to_the_month_before_adoption():
    panel = _toy_panel()
    kept = exclude_covid(panel, "2020-03-01")
    gone = sorted(set(panel["month"]) - set(kept["month"]))
    assert gone[0] == pd.Timestamp("2020-03-01") and gone[-1] == pd.Timestamp("2021-03-01") and len(gone) == 13
    assert exclude_covid(panel, "2021-05-01") is None   # COVID-19 after the first wave: nothing to exclude


def _separated_panel(n_control: int) -> pd.DataFrame:
    """3 adopters (2021-04) whose baseline level is above every comparison unit's: the propensity score separates
    perfectly. Outcome: level + 0.1 x month index, +2 after adoption for adopters (parallel trends hold)."""
    months = pd.date_range("2020-01-01", "2021-09-01", freq="MS")
    rows = []
    for u in range(3 + n_control):
        treated = u < 3
        level = 80.0 + u if treated else 60.0 + u
        for k, m in enumerate(months):
            post = treated and m >= pd.Timestamp("2021-04-01")
            rows.append({"practice_id": f"P{u}", "month": m, "denominator": 100 + 10 * u,
                         "outcome": level + 0.1 * k + (2.0 if post else 0.0),
                         "programme_start": pd.Timestamp("2021-04-01") if treated else pd.NaT})
    return pd.DataFrame(rows)


def test_conditional_fit_falls_back_when_the_propensity_score_separates():
    from beyond_averages.did.covariates import conditional_fit
    kw = dict(unit="practice_id", time="month", first_treated="programme_start", weights="denominator",
              inference="analytic", warn=False)
    fit = conditional_fit(_separated_panel(8), "outcome", ["practice_id"], "2020-03-01", True, **kw)
    # Doubly robust cannot fit the separated logit; outcome regression needs no propensity score.
    assert fit.est_method == "reg" and fit.covariates and not fit.failed_cells
    assert fit.tidy().iloc[0]["estimate"] == pytest.approx(2.0)
    # Two comparison units cannot carry a regression on the covariates: the fit without them, said by the fit.
    small = conditional_fit(_separated_panel(2), "outcome", ["practice_id"], "2020-03-01", True, **kw)
    assert small.covariates == [] and not small.failed_cells
    assert small.tidy().iloc[0]["estimate"] == pytest.approx(2.0)


def test_adopters_that_started_apart_are_flagged_with_the_adjusted_estimate():
    rows = _rows((MAIN, "Q1", 1.32, 1.04, 1.60), (COVARIATES, "Q1", 1.50, 1.16, 1.85), (NYT, "Q1", 1.33, 1.05, 1.61),
                 (MAIN, "Q2", 1.20, 1.01, 1.40), (COVARIATES, "Q2", 1.24, 1.03, 1.45))
    rows["baseline_smd"] = [0.21, np.nan, np.nan, 0.19999, np.nan]   # only the main rows carry it
    flags = sens.parallel_trends_flags(rows).set_index("group")
    # 0.21 is at least a fifth of an SD: flagged although no analysis left the CI; 0.19999 is not.
    assert flags["started_apart"].tolist() == [True, False] and flags["flagged"].tolist() == [True, False]
    assert flags.loc["Q1", "moved_by"] == []
    assert sens.parallel_trends_sentence(rows) == (
        "Adopters' baseline level differed from that of the never-adopters for the effect in Q1 (most deprived), "
        "by +0.21 standard deviations: this estimate rests on parallel trends between practices that started at "
        "different levels; with baseline covariates (conditional parallel trends) it is 1.50 (95% CI 1.16 to 1.85).")


def test_standardised_difference_and_balance_by_hand():
    from beyond_averages.did.covariates import baseline_balance, standardised_difference
    adopter = pd.Series([True, True, False, False])
    # Means 3 and 1, variances 2 and 2: (3 - 1) / sqrt(2) = 1.414.
    assert standardised_difference(pd.Series([2.0, 4.0, 0.0, 2.0]), adopter) == pytest.approx(2 / np.sqrt(2))
    assert np.isnan(standardised_difference(pd.Series([1.0, 1.0, 1.0, 1.0]), adopter))   # no spread
    panel = _separated_panel(4).assign(imd_quintile=1)
    from beyond_averages.did import within_practice_inequality
    balance = baseline_balance(panel.assign(numerator=50), within_practice_inequality(
        pd.concat([panel.assign(numerator=50), panel.assign(imd_quintile=5, numerator=40)]), "percentage_points"),
        (1, 5), "2020-03-01")
    # Adopters' levels (80..82 + trend) sit far above the comparison units' (63..66 + trend): a large positive SMD.
    assert balance["Q1"] > 3
