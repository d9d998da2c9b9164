"""Group-time ATTs with covariates, aggte's aggregations, the not-yet-treated comparison, anticipation and the
multiplier-bootstrap default, against the R ``did`` package's own published output on ``mpdta``.

Sources of the published numbers (all printed by R ``did`` itself in its documentation):

* ``ATT_GT_RD``: man/att_gt.Rd of github.com/bcallaway11/did at commit 06d964965f887f2e923068fdda4e4180bceb0a27,
  section "Examples", the ``summary()`` of ``att_gt(yname="lemp", tname="year", idname="countyreal",
  gname="first.treat", xformla=~lpop, data=mpdta)`` (out2, doubly robust, never treated) and of the same call with
  ``control_group = "notyettreated"`` (out3). Estimates to 4 decimals, multiplier-bootstrap SEs (biters 1000), the
  pre-test p-value to 5 decimals.
* ``AGGTE_RD``: man/aggte.Rd at the same commit, ``aggte(out, type = "calendar")`` for ``xformla=NULL``.
* ``DID_BASICS``: docs/articles/did-basics.md (the pkgdown "Getting Started with the did Package" vignette) at
  commit bad9be29919649c4edd426a74583e805e62f3a6d, ``aggte(mw.attgt, type = "dynamic", balance_e = 1)``.

R's printed SEs are bootstrap SEs from an unseeded run (they differ between the package's own pages by up to 10%),
so SEs are judged within 15% relative; the pre-test p-value is an analytic Wald statistic and must match to all
printed digits, which pins the analytic covariance of the covariate-adjusted ATT(g,t) exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from beyond_averages import did, results
from beyond_averages.did.drdid import did_2x2, logit
from beyond_averages.files import InputError
from reference import reference_file

MPDTA = "reference_data/mpdta_did/mpdta.csv"
ARGS = dict(outcome="lemp", unit="countyreal", time="year", first_treated="first.treat",
            small_sample="none")  # R did's inference (no cohort multiplier, normal reference): its published SEs
SE_RTOL = 0.15

# man/att_gt.Rd, out2: xformla = ~lpop, est_method "dr" (default), never treated. (group, time): (ATT, boot SE)
LPOP_NEVER = {
    (2004, 2004): (-0.0145, 0.0219), (2004, 2005): (-0.0764, 0.0315), (2004, 2006): (-0.1404, 0.0371),
    (2004, 2007): (-0.1069, 0.0358), (2006, 2004): (-0.0005, 0.0236), (2006, 2005): (-0.0062, 0.0182),
    (2006, 2006): (0.0010, 0.0193), (2006, 2007): (-0.0413, 0.0197), (2007, 2004): (0.0267, 0.0138),
    (2007, 2005): (-0.0046, 0.0153), (2007, 2006): (-0.0284, 0.0184), (2007, 2007): (-0.0288, 0.0167),
}
LPOP_NEVER_PRETEST = 0.23267
# man/att_gt.Rd, out3: the same with control_group = "notyettreated"
LPOP_NOT_YET = {
    (2004, 2004): (-0.0212, 0.0209), (2004, 2005): (-0.0816, 0.0282), (2004, 2006): (-0.1382, 0.0385),
    (2004, 2007): (-0.1069, 0.0345), (2006, 2004): (-0.0075, 0.0213), (2006, 2005): (-0.0046, 0.0190),
    (2006, 2006): (0.0087, 0.0172), (2006, 2007): (-0.0413, 0.0194), (2007, 2004): (0.0269, 0.0150),
    (2007, 2005): (-0.0042, 0.0159), (2007, 2006): (-0.0284, 0.0190), (2007, 2007): (-0.0288, 0.0178),
}
LPOP_NOT_YET_PRETEST = 0.23326
# man/aggte.Rd: aggte(out, type = "calendar"), xformla = NULL. time: (ATT, boot SE); overall -0.0417 (SE 0.0173)
CALENDAR = {2004: (-0.0105, 0.0227), 2005: (-0.0704, 0.0354), 2006: (-0.0488, 0.0197), 2007: (-0.0371, 0.0141)}
CALENDAR_OVERALL = (-0.0417, 0.0173)
# did-basics.md: aggte(mw.attgt, type = "dynamic", balance_e = 1), xformla = ~1; overall -0.0288 (SE 0.0135)
BALANCE_E1 = {-2: (0.0065, 0.0237), -1: (-0.0028, 0.0207), 0: (-0.0066, 0.0155), 1: (-0.0510, 0.0171)}
BALANCE_E1_OVERALL = (-0.0288, 0.0135)


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(reference_file(MPDTA))


@pytest.fixture(scope="module")
def lpop(mpdta):
    return did.GroupTimeATT(mpdta, covariates=["lpop"], seed=7, **ARGS)


@pytest.fixture(scope="module")
def plain(mpdta):
    return did.GroupTimeATT(mpdta, seed=7, **ARGS)


def _check_cells(frame: pd.DataFrame, published: dict) -> None:
    t = frame.set_index(["group", "time"])
    assert sorted(t.index) == sorted(published)
    for key, (att, se) in published.items():
        assert round(t.loc[key, "estimate"], 4) == pytest.approx(att, abs=1e-12), key
        assert t.loc[key, "std_error"] == pytest.approx(se, rel=SE_RTOL), key  # bootstrap vs R's bootstrap
        assert t.loc[key, "analytic_std_error"] == pytest.approx(se, rel=SE_RTOL), key


# --------------------------------------------------------------------------- xformla = ~lpop (R did's own example)
def test_lpop_doubly_robust_reproduces_att_gt_documentation(lpop):
    _check_cells(lpop.att_gt(), LPOP_NEVER)
    pt = lpop.pretrend_test()
    assert round(pt["p_value"], 5) == LPOP_NEVER_PRETEST and pt["df"] == 5


def test_lpop_not_yet_treated_reproduces_att_gt_documentation(mpdta):
    fit = did.GroupTimeATT(mpdta, covariates=["lpop"], comparison="not_yet_treated", seed=7, **ARGS)
    _check_cells(fit.att_gt(), LPOP_NOT_YET)
    assert round(fit.pretrend_test()["p_value"], 5) == LPOP_NOT_YET_PRETEST
    # not yet treated: 2004's cells at 2004 and 2005 also compare with the 2006 and 2007 adopters
    n_ctrl = fit.att_gt().set_index(["group", "time"])["n_control"]
    assert n_ctrl[(2004, 2004)] == 309 + 40 + 131 and n_ctrl[(2004, 2006)] == 309 + 131
    assert n_ctrl[(2004, 2007)] == 309


def test_lpop_aggregations_are_aggte_weighted_means_of_the_reproduced_cells(lpop, mpdta):
    """R prints no aggregation of the lpop fit; its cells are reproduced above, and each aggregation is aggte's
    weighted mean of them (group sizes 20, 40, 131 from mpdta), so these are R's aggregates by its definitions."""
    att = {k: v[0] for k, v in LPOP_NEVER.items()}
    est = lpop.att_gt().set_index(["group", "time"])["estimate"]
    size = {2004: 20, 2006: 40, 2007: 131}
    dyn = lpop.aggregate("dynamic").set_index("event_time")["estimate"]
    assert dyn[3] == pytest.approx(est[(2004, 2007)], abs=1e-15)
    assert dyn[0] == pytest.approx(sum(size[g] * est[(g, g)] for g in size) / 191, abs=1e-12)
    assert round(dyn[0], 4) == round(sum(size[g] * att[(g, g)] for g in size) / 191, 4)
    grp = lpop.aggregate("group").set_index("group")["estimate"]
    assert grp[2004] == pytest.approx(np.mean([est[(2004, t)] for t in range(2004, 2008)]), abs=1e-12)
    cal = lpop.aggregate("calendar").set_index("time")["estimate"]
    assert cal[2004] == pytest.approx(est[(2004, 2004)], abs=1e-15)
    assert cal[2007] == pytest.approx(sum(size[g] * est[(g, 2007)] for g in size) / 191, abs=1e-12)
    post = [(g, t) for (g, t) in est.index if t >= g]
    simple = sum(size[g] * est[(g, t)] for g, t in post) / sum(size[g] for g, _ in post)
    assert lpop.overall("simple")["estimate"].iloc[0] == pytest.approx(simple, abs=1e-12)
    assert lpop.overall("dynamic")["estimate"].iloc[0] == pytest.approx(dyn[dyn.index >= 0].mean(), abs=1e-12)


# --------------------------------------------------------------------------- aggte: calendar and balance_e
def test_calendar_aggregation_reproduces_aggte_documentation(plain):
    cal = plain.aggregate("calendar").set_index("time")
    assert list(cal.index) == sorted(CALENDAR)
    for t, (att, se) in CALENDAR.items():
        assert round(cal.loc[t, "estimate"], 4) == att and cal.loc[t, "std_error"] == pytest.approx(se, rel=SE_RTOL)
    o = plain.overall("calendar").iloc[0]
    assert round(o["estimate"], 4) == CALENDAR_OVERALL[0]
    assert o["std_error"] == pytest.approx(CALENDAR_OVERALL[1], rel=SE_RTOL)


def test_balance_e_reproduces_did_basics_vignette(plain):
    dyn = plain.aggregate("dynamic", balance_e=1).set_index("event_time")
    assert list(dyn.index) == sorted(BALANCE_E1)  # 2007 adopters dropped; e = -3 and e >= 2 leave the window
    for e, (att, se) in BALANCE_E1.items():
        assert round(dyn.loc[e, "estimate"], 4) == att and dyn.loc[e, "std_error"] == pytest.approx(se, rel=SE_RTOL)
    o = plain.overall("dynamic", balance_e=1).iloc[0]
    assert round(o["estimate"], 4) == BALANCE_E1_OVERALL[0]
    assert o["std_error"] == pytest.approx(BALANCE_E1_OVERALL[1], rel=SE_RTOL)


def test_event_window_min_e_max_e(plain):
    full = plain.aggregate("dynamic").set_index("event_time")["estimate"]
    win = plain.aggregate("dynamic", min_e=-1, max_e=1).set_index("event_time")["estimate"]
    assert list(win.index) == [-1, 0, 1]
    pd.testing.assert_series_equal(win, full.loc[[-1, 0, 1]])
    assert plain.overall("dynamic", max_e=1)["estimate"].iloc[0] == pytest.approx(full.loc[[0, 1]].mean())
    with pytest.raises(ValueError, match="min_e"):
        plain.aggregate("dynamic", min_e=2, max_e=1)


# --------------------------------------------------------------------------- the 2x2 estimators themselves
def test_intercept_only_2x2_estimators_equal_the_difference_of_means(mpdta):
    """With only an intercept, "reg", "ipw" and "dr" are the unadjusted DiD (did's documented coincidence), and
    so are their influence functions."""
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    g = mpdta.groupby("countyreal")["first.treat"].first().loc[wide.index].to_numpy()
    keep = (g == 2004) | (g == 0)
    dy = (wide[2006] - wide[2003]).to_numpy()[keep]
    d = (g[keep] == 2004).astype(float)
    diff = dy[d == 1].mean() - dy[d == 0].mean()
    n1, n0 = d.sum(), (1 - d).sum()
    inf0 = len(d) * (d * (dy - dy[d == 1].mean()) / n1 - (1 - d) * (dy - dy[d == 0].mean()) / n0)
    for method in ("dr", "ipw", "reg"):
        att, inf = did_2x2(method, dy, d, np.ones((len(d), 1)), np.ones(len(d)))
        assert att == pytest.approx(diff, abs=1e-13), method
        np.testing.assert_allclose(inf, inf0, atol=1e-9, err_msg=method)
    # ATT(2004, 2006), base 2003: -0.137258739 in the bcallaway11/twfeweights README (tests/test_did.py)
    assert diff == pytest.approx(-0.137258739, abs=5e-10)


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_influence_function_is_the_derivative_in_each_units_weight(mpdta, method):
    """The influence function of a weighted estimator is n times the derivative of the estimate in unit j's weight
    (at unit weights): checked by central differences for every unit of one lpop cell, so each formula (outcome
    regression, logit score, their estimation effects) is verified without reference to R."""
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    first = mpdta.groupby("countyreal")[["first.treat", "lpop"]].first().loc[wide.index]
    keep = first["first.treat"].isin([0, 2006]).to_numpy()
    dy = (wide[2007] - wide[2005]).to_numpy()[keep]
    d = (first["first.treat"].to_numpy()[keep] == 2006).astype(float)
    x = np.column_stack([np.ones(keep.sum()), first["lpop"].to_numpy()[keep]])
    n = len(d)
    _, inf = did_2x2(method, dy, d, x, np.ones(n))
    h = 1e-6
    for j in range(0, n, 7):
        wp, wm = np.ones(n), np.ones(n)
        wp[j] += h
        wm[j] -= h
        deriv = (did_2x2(method, dy, d, x, wp)[0] - did_2x2(method, dy, d, x, wm)[0]) / (2 * h)
        assert n * deriv == pytest.approx(inf[j], rel=1e-5, abs=1e-7), j


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_integer_weights_equal_duplicated_units(mpdta, method):
    """A unit weight of 2 is the unit counted twice: the weighted logit and least squares must give the estimate of
    the panel with those units duplicated (and scaling all weights changes nothing)."""
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    first = mpdta.groupby("countyreal")[["first.treat", "lpop"]].first().loc[wide.index]
    keep = first["first.treat"].isin([0, 2007]).to_numpy()
    dy = (wide[2006] - wide[2005]).to_numpy()[keep]
    d = (first["first.treat"].to_numpy()[keep] == 2007).astype(float)
    x = np.column_stack([np.ones(keep.sum()), first["lpop"].to_numpy()[keep]])
    w = np.where(np.arange(len(d)) % 3 == 0, 2.0, 1.0)
    rep = np.repeat(np.arange(len(d)), w.astype(int))
    weighted = did_2x2(method, dy, d, x, w)[0]
    assert weighted == pytest.approx(did_2x2(method, dy[rep], d[rep], x[rep], np.ones(len(rep)))[0], abs=1e-12)
    assert weighted == pytest.approx(did_2x2(method, dy, d, x, 5 * w)[0], abs=1e-12)
    assert abs(weighted - did_2x2(method, dy, d, x, np.ones(len(d)))[0]) > 1e-6  # the weights do matter


def test_logit_matches_the_score_equations():
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(400), rng.normal(size=400)])
    d = (rng.random(400) < 1 / (1 + np.exp(-(0.3 - 0.8 * x[:, 1])))).astype(float)
    beta = logit(x, d, np.ones(400))
    p = 1 / (1 + np.exp(-(x @ beta)))
    np.testing.assert_allclose(x.T @ (d - p), 0, atol=1e-10)  # the MLE's first-order conditions


# --------------------------------------------------------------------------- anticipation, by hand
def test_anticipation_moves_the_base_period_back(mpdta):
    """anticipation = 1: post-treatment cells of group g use base g - 2, and the 2004 adopters (base 2002, outside
    the panel) are dropped; ATT(2006, 2006) is then the DiD of 2004 -> 2006 changes against the never treated."""
    fit = did.GroupTimeATT(mpdta, anticipation=1, inference="analytic", **ARGS)
    cells = fit.att_gt().set_index(["group", "time"])
    assert 2004 not in cells.index.get_level_values("group")
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    g = mpdta.groupby("countyreal")["first.treat"].first().loc[wide.index]
    ch = wide[2006] - wide[2004]
    assert cells.loc[(2006, 2006), "estimate"] == pytest.approx(ch[g == 2006].mean() - ch[g == 0].mean(), abs=1e-13)
    assert cells.loc[(2006, 2006), "base_code"] == 1  # 2004
    # not yet treated with anticipation: a group is a comparison only if it adopts after max(t, base) + 1, so the
    # 2007 adopters (who may react in 2006) compare with 2006 in the pre-period cell 2005 only
    nyt = did.GroupTimeATT(mpdta, anticipation=1, comparison="not_yet_treated", inference="analytic", **ARGS)
    n_ctrl = nyt.att_gt().set_index(["group", "time"])["n_control"]
    assert n_ctrl[(2006, 2005)] == 309 + 131 and n_ctrl[(2006, 2006)] == 309 and n_ctrl[(2006, 2007)] == 309


# --------------------------------------------------------------------------- the bootstrap default
def test_bootstrap_is_the_default_seeded_with_a_uniform_band(mpdta, lpop):
    again = did.GroupTimeATT(mpdta, covariates=["lpop"], seed=7, **ARGS)
    pd.testing.assert_frame_equal(lpop.att_gt(), again.att_gt())  # same seed, same numbers
    other = did.GroupTimeATT(mpdta, covariates=["lpop"], seed=8, **ARGS).att_gt()
    assert not np.allclose(other["std_error"], lpop.att_gt()["std_error"])
    cells = lpop.att_gt()
    crit = cells["crit_value"].iloc[0]
    bonferroni = stats.norm.ppf(1 - 0.05 / (2 * len(cells)))  # 12 cells: 3.04
    assert 1.96 < crit < bonferroni and (cells["interval"] == "uniform").all()
    np.testing.assert_allclose(cells["ci_upper"] - cells["estimate"], crit * cells["std_error"])
    np.testing.assert_allclose(cells["std_error"], cells["analytic_std_error"], rtol=SE_RTOL)
    # per-key rows share a band; the overall row has a pointwise interval with the bootstrap SE
    dyn = lpop.aggregate("dynamic")
    assert (dyn["interval"] == "uniform").all() and 1.96 < dyn["crit_value"].iloc[0] < stats.norm.ppf(
        1 - 0.05 / (2 * len(dyn)))
    o = lpop.overall("dynamic").iloc[0]
    assert o["interval"] == "pointwise" and o["ci_upper"] - o["estimate"] == pytest.approx(1.959964 * o["std_error"])
    analytic = did.GroupTimeATT(mpdta, covariates=["lpop"], inference="analytic", **ARGS).att_gt()
    np.testing.assert_allclose(analytic["std_error"], analytic["analytic_std_error"])
    assert (analytic["interval"] == "pointwise").all()


# --------------------------------------------------------------------------- API shape and bad input
def test_frames_are_tidy_with_numeric_keys(lpop):
    dyn = lpop.aggregate("dynamic")
    assert dyn["event_time"].dtype == "int64" and list(dyn["event_time"]) == [-3, -2, -1, 0, 1, 2, 3]
    assert lpop.aggregate("calendar")["time"].tolist() == [2004, 2005, 2006, 2007]
    assert lpop.aggregate("group")["group"].tolist() == [2004, 2006, 2007]
    for kind in ("simple", "dynamic", "group", "calendar"):
        results.check_tidy(lpop.aggregate(kind), kind)
        results.check_tidy(lpop.overall(kind), kind)
        assert list(lpop.overall(kind)["term"]) == ["overall"]
    s = lpop.summary().iloc[0]
    assert (s["est_method"], s["covariates"], s["inference"], s["n_boot"]) == ("dr", "lpop", "bootstrap", 999)


def test_bad_covariate_and_options_are_named(mpdta):
    bad = mpdta.assign(region=np.where(mpdta["countyreal"] % 2 == 0, "north", "south"))
    with pytest.raises(InputError, match="covariate column 'region' is not numeric"):
        did.GroupTimeATT(bad, covariates=["region"], **ARGS)
    with pytest.raises(InputError, match="nope"):
        did.GroupTimeATT(mpdta, covariates=["nope"], **ARGS)
    with pytest.raises(ValueError, match="est_method"):
        did.GroupTimeATT(mpdta, covariates=["lpop"], est_method="ols", **ARGS)
    with pytest.raises(ValueError, match="n_boot >= 99"):
        did.GroupTimeATT(mpdta, n_boot=10, **ARGS)
    with pytest.raises(ValueError, match="anticipation"):
        did.GroupTimeATT(mpdta, anticipation=-1, **ARGS)
    missing = mpdta.copy()
    missing.loc[0, "lpop"] = np.nan  # R drops the unit with a warning; so do we, and say how many
    assert did.GroupTimeATT(missing, covariates=["lpop"], inference="analytic", **ARGS).n_units_dropped == 1


def test_few_clusters_warning_can_be_left_to_the_caller(mpdta):
    few = mpdta[(mpdta["first.treat"] == 0) | mpdta["countyreal"].isin(
        mpdta.loc[mpdta["first.treat"] == 2006, "countyreal"].unique()[:8])]
    with pytest.warns(UserWarning, match="only 8 treated clusters"):
        did.GroupTimeATT(few, inference="analytic", **ARGS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = did.GroupTimeATT(few, inference="analytic", warn=False, **ARGS)
    assert quiet.few_clusters_message.startswith("only 8 treated clusters")
