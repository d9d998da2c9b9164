"""ITS estimators against published / reference analyses on public data.

Sicily (Lopez Bernal, Cummins, Gasparrini 2017, IJE): the models of the authors' stored R code
(`gasparrini/2017_lopezbernal_IJE_codedata`, Rcode.R: model1 Poisson, model2 quasi-Poisson, model3 quasi-Poisson
+ harmonic(month, 2, 12), model4 + change in slope) are mirrored exactly; the rate ratios are asserted to the 3
decimals of R's ``ci.exp`` output, the dispersion to 2-3 decimals.
California Proposition 99 (Linden 2015 `itsa` example, OLS + Newey-West lag 1): the estimator is checked against an
independent numpy computation (OLS normal equations and a hand-written Bartlett-kernel Newey-West covariance with
Stata's n/(n-k) factor), and its coefficients against the digits Linden prints for California in the help file of
``power itsa`` (intercept 132.2258, pre-trend -1.779474, step -20.0581, post-trend -3.274126: the treated unit's
own segment coefficients, which the fully interacted multiple-group model shares with the single-group fit; source
and the multiple-group reproduction: ``tests/test_its_pooled.py``).
"""

import numpy as np
import pandas as pd
import pytest

from beyond_averages.its import SegmentedRegression
from reference import reference_file


@pytest.fixture(scope="module")
def sicily():
    d = pd.read_csv(reference_file("reference_data/sicily_its/sicily.csv"))
    d["month_date"] = pd.to_datetime(dict(year=d["year"], month=d["month"], day=1))
    return d


def _fit(d, **kw):
    # R's glm: no autocorrelation correction (stated, since the package default is the calibrated 'gls')
    kw.setdefault("autocorrelation", "none")
    return SegmentedRegression(d, "2005-01-01", time_col="month_date", numerator="aces", denominator="stdpop",
                               per=1e5, **kw)


def _rr(model, term="level"):
    r = model.summary().set_index("term").loc[term]
    return round(r["ratio"], 3), round(r["ratio_ci_lower"], 3), round(r["ratio_ci_upper"], 3)


def test_sicily_model1_poisson_step_change(sicily):
    m = _fit(sicily, family="poisson", impact="level")
    assert _rr(m) == (0.894, 0.865, 0.925)
    assert _rr(m, "time") == (1.005, 1.004, 1.006)


def test_sicily_model2_quasipoisson_overdispersion(sicily):
    m = _fit(sicily, family="quasipoisson", impact="level")
    assert m.fit_.scale == pytest.approx(3.559, abs=5e-4)
    assert _rr(m) == (0.894, 0.839, 0.953)
    disp = m.diagnostics().set_index("statistic").loc["dispersion", "value"]
    assert disp == pytest.approx(3.559, abs=5e-4)


def test_sicily_model3_seasonally_adjusted(sicily):
    m = _fit(sicily, family="quasipoisson", impact="level", seasonality="fourier", harmonics=2)
    assert _rr(m) == (0.885, 0.839, 0.933)
    assert m.fit_.scale == pytest.approx(2.262, abs=5e-4)
    # R: exp(coef(model3)["time"] * 12), the annual trend
    assert np.exp(12 * m.summary().set_index("term").loc["time", "estimate"]) == pytest.approx(1.0669, abs=5e-4)
    # the level change is a rate ratio at every horizon (log link, no slope term)
    eff = m.effect_summary([0, 12]).query("measure == 'ratio'")
    assert np.allclose(eff["estimate"], 0.885072, atol=1e-5)


def test_sicily_model4_change_in_slope(sicily):
    """R codes the slope as I(time - 36):smokban (1 in the first post month); ours is 0 there, so R's level
    coefficient equals ours minus the slope coefficient; the slope itself is identical."""
    m = _fit(sicily, family="quasipoisson", seasonality="fourier", harmonics=2)
    tab = m.summary().set_index("term")
    assert round(tab.loc["slope", "ratio"], 4) == 1.0015
    r_level = np.exp(tab.loc["level", "estimate"] - tab.loc["slope", "estimate"])
    assert round(r_level, 3) == 0.876


def test_sicily_counterfactual_is_pre_trend(sicily):
    m = _fit(sicily, family="poisson", impact="level")
    b = m.summary().set_index("term")["estimate"]
    cf = m.plot_data()
    t = np.arange(len(sicily))
    assert np.allclose(cf["counterfactual"], 1e5 * np.exp(b["const"] + b["time"] * t))
    post = cf["period"] == "post"
    assert np.allclose(cf.loc[post, "fitted"] / cf.loc[post, "counterfactual"], np.exp(b["level"]))


def _newey_west(X, e, lags):
    n, k = X.shape
    S = (X * e[:, None]).T @ (X * e[:, None])
    for lag in range(1, lags + 1):
        w = 1 - lag / (lags + 1)
        G = (X[lag:] * e[lag:, None]).T @ (X[:-lag] * e[:-lag, None])
        S += w * (G + G.T)
    bread = np.linalg.inv(X.T @ X)
    return n / (n - k) * bread @ S @ bread


def test_prop99_california_newey_west_against_hand_computation():
    d = pd.read_csv(reference_file("reference_data/prop99_cigsales/smoking_prop99.csv"))
    ca = d[d["state"] == "California"].sort_values("year", ignore_index=True)
    ca["date"] = pd.to_datetime(dict(year=ca["year"], month=1, day=1))
    # annual data on a monthly grid would have gaps; fit it as consecutive "months" with the same spacing
    ca["step"] = pd.date_range("1970-01-01", periods=len(ca), freq="MS")
    m = SegmentedRegression(ca, ca.loc[ca["year"] == 1989, "step"].iloc[0], time_col="step", outcome="cigsale",
                            autocorrelation="newey_west", hac_lags=1)
    t = (ca["year"] - 1970).to_numpy(float)
    post = (ca["year"] >= 1989).to_numpy(float)
    X = np.column_stack([np.ones_like(t), t, post, post * (ca["year"] - 1989).to_numpy()])
    y = ca["cigsale"].to_numpy(float)
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    se = np.sqrt(np.diag(_newey_west(X, y - X @ beta, 1)))
    tab = m.summary().set_index("term")
    assert np.allclose(tab["estimate"].to_numpy(), beta, rtol=1e-10)
    assert np.allclose(tab["std_error"].to_numpy(), se, rtol=1e-8)
    # Linden's printed digits for California (power_itsa.sthlp, see the module docstring)
    assert round(tab.loc["const", "estimate"], 4) == 132.2258
    assert round(tab.loc["time", "estimate"], 6) == -1.779474
    assert round(tab.loc["level", "estimate"], 4) == -20.0581
    assert round(tab.loc["time", "estimate"] + tab.loc["slope", "estimate"], 6) == -3.274126
    assert m.diagnostics().set_index("statistic").loc["durbin_watson", "value"] == pytest.approx(0.535, abs=1e-3)
