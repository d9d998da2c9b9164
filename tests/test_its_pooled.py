"""Pooled controlled ITS (Linden's multiple-group ``itsa``), ITS at any regular frequency, and model comparison.

Linden's Prop 99 multiple-group example (``itsa cigsale, treatid(3) trperiod(1989) lag(1) posttrend``: California
against all 38 control states, OLS with Newey-West lag 1). Where the printed digits come from: Linden's help file
of ``power itsa`` (SSC S459461, ``power_itsa.sthlp``; stored copy read in repository
``labordynamicsinstitute/ssc-mirror``, path ``fmwww.bc.edu/repec/bocode/p/power_itsa.sthlp``, commit
05594cbfce989e59265bf902e1ff6b004436eabe), section "Multiple-group ITSA", which re-estimates "the first example of a
multiple-group ITSA in the itsa package" and prints:
- P = 0.136 for ``_z_x_t1989`` (difference in slope change) and P = 0.631 for ``_z_x1989`` (difference in level
  change), and ``_z_x = -2.806417``;
- the coefficients it feeds to ``power multi_itsa``: treated intercept 132.2258, pre-trend -1.779474, post-trend
  -3.274126, step -20.0581; controls' intercept 135.4995, pre-trend -.5477701, post-trend -1.051279, step
  -17.25168; the treated counterfactual in 1989, 98.416.
The p-values need ``hac_scope='stacked'``: ``itsa`` calls ``newey ..., lag(#) force`` on the stacked panel (source:
``itsa.ado`` 2.0.7, repository ``r-stata/tssc``, ``ssc/itsa/itsa.ado``), and the within-unit panel Newey-West gives
0.137 / 0.631 instead.
"""

import re

import numpy as np
import pandas as pd
import pytest

from beyond_averages.files import InputError
from beyond_averages.its import ControlledITS, PooledControlledITS, SegmentedRegression, model_comparison
from beyond_averages.its.pooled import newey_west_cov
from beyond_averages.results import check_tidy
from reference import reference_file


@pytest.fixture(scope="module")
def prop99():
    return pd.read_csv(reference_file("reference_data/prop99_cigsales/smoking_prop99.csv"))


def _linden(d, scope="stacked"):
    return PooledControlledITS(d, 1989, unit_col="state", treated="California", time_col="year", outcome="cigsale",
                               hac_lags=1, hac_scope=scope)


def test_linden_multiple_group_prop99_reproduces_printed_coefficients_and_p_values(prop99):
    m = _linden(prop99)
    b = m.tidy().set_index("term")
    assert m.fit_.n_obs == 39 * 31 and len(m.units_) == 39
    # controls: intercept, pre-trend, step (itsa _cons, _t, _x)
    assert round(b.loc["const", "estimate"], 4) == 135.4995
    assert round(b.loc["time", "estimate"], 7) == -0.5477701
    assert round(b.loc["level", "estimate"], 5) == -17.25168
    # treated: intercept (_cons + _z), pre-trend (_t + _z_t), step (_x + _z_x); _z_x itself
    assert round(b.loc["const", "estimate"] + b.loc["treated", "estimate"], 4) == 132.2258
    assert round(b.loc["time", "estimate"] + b.loc["treated_time", "estimate"], 6) == -1.779474
    assert round(b.loc["level", "estimate"] + b.loc["treated_level", "estimate"], 4) == -20.0581
    assert round(b.loc["treated_level", "estimate"], 6) == -2.806417
    # post-intervention trends (itsa's posttrend lincom)
    post = m.post_trends().set_index("group")["estimate"]
    assert round(post["California"], 6) == -3.274126
    assert round(post["controls"], 6) == -1.051279
    # the printed p-values of the differences in level and slope change
    c = m.contrast_summary().set_index("term")["p_value"]
    assert round(c["level_change_difference"], 3) == 0.631
    assert round(c["slope_change_difference"], 3) == 0.136
    # the treated counterfactual in 1989 (first post year): pre-trend extended, 98.416 in the help file
    cf = m.plot_data().query("group == 'California' and month == 1989")["counterfactual"].iloc[0]
    assert round(cf, 3) == 98.416
    for frame in (m.tidy(), m.summary(), m.contrast_summary(), m.post_trends(), m.effect_summary([0, 5])):
        check_tidy(frame)


def test_within_unit_newey_west_differs_only_in_standard_errors(prop99):
    stacked, within = _linden(prop99), _linden(prop99, "within_unit")
    assert np.allclose(stacked.fit_.params, within.fit_.params)
    p = within.contrast_summary().set_index("term")["p_value"]
    assert round(p["slope_change_difference"], 4) == 0.1368 and round(p["level_change_difference"], 3) == 0.631


def test_averaging_the_controls_overstates_significance(prop99):
    """The issue's point: one averaged control series turns the pooled p = 0.136 into about 0.0009 (same estimate)."""
    d = prop99.assign(arm=np.where(prop99["state"] == "California", "programme", "comparison"))
    avg = d.groupby(["arm", "year"], as_index=False)["cigsale"].mean()
    m = ControlledITS(avg, 1989, time_col="year", outcome="cigsale", autocorrelation="newey_west", hac_lags=1)
    row = m.contrast_summary().set_index("term").loc["slope_change_difference"]
    assert row["estimate"] == pytest.approx(-0.9911435, abs=1e-6)
    assert row["p_value"] < 0.001


def test_newey_west_blocks_against_hand_sums():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(6), np.arange(6.0)])
    e = rng.normal(size=6)
    u = X * e[:, None]
    blocks = np.array([0, 0, 0, 1, 1, 1])
    meat = u.T @ u
    for i in (1, 2, 4, 5):  # lag-1 pairs inside a block: (0,1), (1,2), (3,4), (4,5)
        g = np.outer(u[i], u[i - 1])
        meat += 0.5 * (g + g.T)
    bread = np.linalg.inv(X.T @ X)
    assert np.allclose(newey_west_cov(X, e, 1, blocks), 6 / 4 * bread @ meat @ bread)
    g = np.outer(u[3], u[2])  # the stacked sequence adds the pair across the boundary
    meat_all = meat + 0.5 * (g + g.T)
    assert np.allclose(newey_west_cov(X, e, 1, None), 6 / 4 * bread @ meat_all @ bread)


def test_pooled_input_errors(prop99):
    with pytest.raises(InputError, match="no rows for the treated unit 'Atlantis'"):
        PooledControlledITS(prop99, 1989, unit_col="state", treated="Atlantis", time_col="year", outcome="cigsale")
    with pytest.raises(InputError, match="controls in column 'state' must be other units"):
        PooledControlledITS(prop99, 1989, unit_col="state", treated="California", controls=["Utopia"],
                            time_col="year", outcome="cigsale")
    unbalanced = prop99[~((prop99["state"] == "Utah") & (prop99["year"] == 2000))]
    with pytest.raises(InputError, match="must cover the same 'year' periods"):
        PooledControlledITS(unbalanced, 1989, unit_col="state", treated="California", time_col="year",
                            outcome="cigsale")
    with pytest.raises(InputError, match="the pooled model is OLS"):
        PooledControlledITS(prop99, 1989, unit_col="state", treated="California", time_col="year",
                            outcome="cigsale", autocorrelation="gls")
    gap = prop99[prop99["year"] != 1975]
    with pytest.raises(InputError, match=re.escape("(state = Alabama): column 'year' has a gap after 1974")):
        PooledControlledITS(gap, 1989, unit_col="state", treated="California", time_col="year", outcome="cigsale")


# -- any regular frequency ---------------------------------------------------------------------------------------
def _california(prop99):
    return prop99[prop99["state"] == "California"].sort_values("year", ignore_index=True)


def test_annual_series_as_integers_or_dates_equals_the_relabelled_monthly_fit(prop99):
    ca = _california(prop99)
    relabelled = ca.assign(step=pd.date_range("1970-01-01", periods=len(ca), freq="MS"))
    old = SegmentedRegression(relabelled, relabelled.loc[ca["year"] == 1989, "step"].iloc[0], time_col="step",
                              outcome="cigsale", autocorrelation="newey_west", hac_lags=1)
    years = SegmentedRegression(ca, 1989, time_col="year", outcome="cigsale", autocorrelation="newey_west",
                                hac_lags=1)
    dates = ca.assign(date=pd.to_datetime(dict(year=ca["year"], month=1, day=1)))
    annual = SegmentedRegression(dates, "1989-01-01", time_col="date", outcome="cigsale",
                                 autocorrelation="newey_west", hac_lags=1)
    assert years.settings.frequency == "integer" and annual.settings.frequency == "year"
    for m in (years, annual):
        assert np.allclose(m.tidy()["estimate"], old.tidy()["estimate"], rtol=1e-12)
        assert np.allclose(m.tidy()["std_error"], old.tidy()["std_error"], rtol=1e-12)
    eff = years.effect_summary([0, 11]).query("measure == 'absolute'")
    assert eff["month"].tolist() == [1989, 2000]
    assert annual.effect_summary([11])["month"].iloc[0] == pd.Timestamp("2000-01-01")
    with pytest.raises(InputError, match="horizons \\[12\\] lie beyond the last year 2000-01-01"):
        annual.effect_summary([12])


def _planted(times, t0_index):
    t = np.arange(len(times), dtype=float)
    post = (t >= t0_index).astype(float)
    return pd.DataFrame({"t": times, "y": 5 + 0.3 * t + 2 * post + 0.1 * post * (t - t0_index)})


@pytest.mark.parametrize("times, frequency", [
    (pd.date_range("2015-01-01", periods=40, freq="QS"), "quarter"),
    (pd.date_range("2023-01-04", periods=60, freq="7D"), "week"),
    (pd.Series(np.arange(100, 130)), "integer"),
])
def test_noise_free_series_recovered_at_any_frequency(times, frequency):
    d = _planted(list(times), 20)
    m = SegmentedRegression(d, d["t"].iloc[20], time_col="t", outcome="y")
    assert m.settings.frequency == frequency
    b = m.tidy().set_index("term")["estimate"]
    assert np.allclose(b[["const", "time", "level", "slope"]], [5, 0.3, 2, 0.1], atol=1e-9)
    assert m.effect_summary([5]).query("measure == 'absolute'")["estimate"].iloc[0] == pytest.approx(2.5)


def test_quarterly_and_weekly_seasonality_terms():
    q = _planted(list(pd.date_range("2015-01-01", periods=40, freq="QS")), 20)
    q["y"] += np.where(pd.DatetimeIndex(q["t"]).quarter == 3, 1.5, 0.0)
    m = SegmentedRegression(q, q["t"].iloc[20], time_col="t", outcome="y", seasonality="month")
    b = m.tidy().set_index("term")["estimate"]
    assert {"quarter2", "quarter3", "quarter4"} <= set(b.index)
    assert b["quarter3"] == pytest.approx(1.5) and b["level"] == pytest.approx(2.0)
    w = _planted(list(pd.date_range("2020-01-06", periods=156, freq="7D")), 100)
    fw = SegmentedRegression(w, w["t"].iloc[100], time_col="t", outcome="y", seasonality="fourier", harmonics=2)
    assert {"cos1", "sin1", "cos2", "sin2"} <= set(fw.tidy()["term"])
    with pytest.raises(InputError, match="seasonality='fourier' needs a sub-annual series"):
        SegmentedRegression(_planted(list(range(30)), 20), 20, time_col="t", outcome="y", seasonality="fourier")


@pytest.mark.parametrize("times, drop, message", [
    (pd.date_range("2015-01-01", periods=40, freq="QS"), 9, "column 't' has a gap after 2017-01-01 (quarters"),
    (pd.date_range("2023-01-04", periods=60, freq="7D"), 9, "column 't' has a gap after 2023-03-01 (weeks"),
    (pd.Series(np.arange(100, 140)), 9, "column 't' has a gap after 108 (periods"),
])
def test_gaps_name_the_column_and_the_first_gap(times, drop, message):
    d = _planted(list(times), 30).drop(index=drop)
    with pytest.raises(InputError, match=re.escape(message)):
        SegmentedRegression(d, d["t"].iloc[30], time_col="t", outcome="y")


def test_frequency_errors():
    d = _planted(list(pd.date_range("2023-01-04", periods=60, freq="7D")), 30)
    with pytest.raises(InputError, match="interruption 2023-08-03 is not on the weekly grid"):
        SegmentedRegression(d, "2023-08-03", time_col="t", outcome="y")
    odd = d.assign(t=pd.date_range("2023-01-04", periods=60, freq="5D"))
    with pytest.raises(InputError, match="must hold first days of months .* or dates 7 days apart"):
        SegmentedRegression(odd, odd["t"].iloc[30], time_col="t", outcome="y")
    with pytest.raises(InputError, match="column 't' must hold whole numbers for frequency='integer'"):
        SegmentedRegression(d, d["t"].iloc[30], time_col="t", outcome="y", frequency="integer")
    with pytest.raises(InputError, match="frequency: 'daily' is not one of"):
        SegmentedRegression(d, d["t"].iloc[30], time_col="t", outcome="y", frequency="daily")


# -- model comparison --------------------------------------------------------------------------------------------
def test_model_comparison_ols_f_test_matches_statsmodels(prop99):
    ca = _california(prop99)
    small = SegmentedRegression(ca, 1989, time_col="year", outcome="cigsale", impact="level", autocorrelation="none")
    big = SegmentedRegression(ca, 1989, time_col="year", outcome="cigsale", autocorrelation="none")
    tab = big.model_comparison(small, names=["level", "level + slope"]).set_index("model")
    f, p, q = big.fit_.result.compare_f_test(small.fit_.result)
    assert tab.loc["level + slope", "test"] == "F"
    assert tab.loc["level + slope", "statistic"] == pytest.approx(f, rel=1e-10)
    assert tab.loc["level + slope", "p_value"] == pytest.approx(p, rel=1e-10)
    assert (tab.loc["level + slope", "df_num"], tab.loc["level + slope", "df_den"]) == (1, 27)
    # log-likelihood and AIC as statsmodels' OLS (which counts k parameters, R's logLik.lm counts k + 1)
    assert tab.loc["level", "log_likelihood"] == pytest.approx(small.fit_.result.llf, rel=1e-12)
    assert tab.loc["level", "aic"] == pytest.approx(small.fit_.result.aic + 2, rel=1e-12)
    assert tab.loc["level", "deviance"] == pytest.approx(small.fit_.result.ssr, rel=1e-12)
    assert np.isnan(tab.loc["level", "p_value"])


def test_model_comparison_poisson_lr_and_quasi_f(prop99):
    d = pd.DataFrame({"month": pd.date_range("2018-01-01", periods=48, freq="MS")})
    rng = np.random.default_rng(7)
    d["denominator"] = 1000
    d["numerator"] = rng.poisson(100 * np.exp(0.004 * np.arange(48) + 0.1 * (np.arange(48) >= 24)))
    kw = {"family": "poisson", "autocorrelation": "none"}
    small = SegmentedRegression(d, "2020-01-01", impact="level", **kw)
    big = SegmentedRegression(d, "2020-01-01", **kw)
    row = model_comparison({"a": small, "b": big}).set_index("model").loc["b"]
    lr = 2 * (big.fit_.result.llf - small.fit_.result.llf)
    assert row["test"] == "LR chi-square" and row["statistic"] == pytest.approx(lr, rel=1e-9)
    q_small = SegmentedRegression(d, "2020-01-01", impact="level", family="quasipoisson", autocorrelation="none")
    q_big = SegmentedRegression(d, "2020-01-01", family="quasipoisson", autocorrelation="none")
    qrow = model_comparison([q_small, q_big]).iloc[1]
    assert qrow["test"] == "F (deviance)"
    assert qrow["statistic"] == pytest.approx(lr / q_big.fit_.scale, rel=1e-9)
    assert np.isnan(model_comparison([q_small]).iloc[0]["aic"])  # no likelihood for quasi families, as R


def test_model_comparison_with_hac_uses_a_wald_test_and_pooled_models_nest(prop99):
    full = _linden(prop99)
    common = PooledControlledITS(prop99, 1989, unit_col="state", treated="California", time_col="year",
                                 outcome="cigsale", hac_lags=1, hac_scope="stacked", impact="level")
    tab = full.model_comparison(common)
    row = tab.iloc[1]
    assert row["test"] == "Wald F (newey_west)" and row["df_num"] == 2
    extra = ["slope", "treated_slope"]  # impact="level" drops both slope terms
    b = full.fit_.params[extra].to_numpy()
    V = full.fit_.cov.loc[extra, extra].to_numpy()
    assert row["statistic"] == pytest.approx(float(b @ np.linalg.solve(V, b)) / 2, rel=1e-9)
    ca = _california(prop99)
    other = SegmentedRegression(ca, 1989, time_col="year", outcome="cigsale")
    assert model_comparison([other, full]).iloc[1]["test"] == "not nested"
    with pytest.raises(InputError, match="models of different families"):
        model_comparison([other, SegmentedRegression(ca.assign(n=ca["cigsale"].round(), d=1000.0), 1989,
                                                     time_col="year", numerator="n", denominator="d",
                                                     family="poisson")])
