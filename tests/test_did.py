"""Difference-in-differences: published results on mpdta, hand-worked SEs, planted effects, bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from beyond_averages import did, results
from beyond_averages.did.inference import (
    draw_weights, few_clusters_message, fixest_k, small_sample_factor, wild_cluster_bootstrap,
)
from beyond_averages.did.simulate import SCENARIOS
from beyond_averages.did.sparse import SparseRule
from beyond_averages.files import InputError
from beyond_averages.report import did as did_report
from reference import reference_file

MPDTA = "reference_data/mpdta_did/mpdta.csv"  # R did package's mpdta (tests/reference.py)
CS_ARGS = dict(outcome="lemp", unit="countyreal", time="year", first_treated="first.treat")
SIM_ARGS = dict(outcome="y", unit="unit", time="period", first_treated="first_treated")
R_DID = dict(small_sample="none")  # R did's inference (no cohort multiplier, normal reference): its published SEs


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(reference_file(MPDTA))


@pytest.fixture(scope="module")
def cs_mpdta(mpdta):
    return did.GroupTimeATT(mpdta, **CS_ARGS, **R_DID)


# --------------------------------------------------------------------------- published results (R did / fixest)
# bcallaway11/did README (did 2.5.x): att_gt(lemp, first.treat, countyreal, year, xformla=~1, est_method="reg"),
# never-treated controls, varying base period. Printed to 4 decimals; SEs there are multiplier-bootstrap SEs.
README_ATT_GT = {
    (2004, 2004): (-0.0105, 0.0241), (2004, 2005): (-0.0704, 0.0313), (2004, 2006): (-0.1373, 0.0380),
    (2004, 2007): (-0.1008, 0.0337), (2006, 2004): (0.0065, 0.0223), (2006, 2005): (-0.0028, 0.0196),
    (2006, 2006): (-0.0046, 0.0188), (2006, 2007): (-0.0412, 0.0202), (2007, 2004): (0.0305, 0.0154),
    (2007, 2005): (-0.0027, 0.0168), (2007, 2006): (-0.0311, 0.0190), (2007, 2007): (-0.0261, 0.0182),
}
README_DYNAMIC = {-3: 0.0305, -2: -0.0006, -1: -0.0245, 0: -0.0199, 1: -0.0510, 2: -0.1373, 3: -0.1008}
README_DYNAMIC_OVERALL = -0.0772
README_GROUP = {2004: -0.0797, 2006: -0.0229, 2007: -0.0261}
# bootstrap SEs differ between runs (the twfeweights README prints 0.0238 where did's prints 0.0241): analytic SEs
# must lie within 15% of the printed bootstrap SEs.
SE_RTOL = 0.15


def test_att_gt_reproduces_did_readme(cs_mpdta):
    t = cs_mpdta.att_gt().set_index(["group", "time"])
    assert len(t) == len(README_ATT_GT)
    for (g, yr), (att, se) in README_ATT_GT.items():
        assert round(t.loc[(g, yr), "estimate"], 4) == pytest.approx(att, abs=1e-12), (g, yr)
        assert t.loc[(g, yr), "std_error"] == pytest.approx(se, rel=SE_RTOL), (g, yr)


def test_pretest_p_value_matches_did_exactly(cs_mpdta):
    # "P-value for pre-test of parallel trends assumption: 0.16812" (analytic Wald, printed to 5 decimals)
    assert round(cs_mpdta.pretrend_test()["p_value"], 5) == 0.16812
    assert cs_mpdta.pretrend_test()["df"] == 5


def test_aggregations_reproduce_did_readme(cs_mpdta):
    dyn = cs_mpdta.aggregate("dynamic").set_index("event_time")
    assert list(dyn.index) == sorted(README_DYNAMIC)
    for k, v in README_DYNAMIC.items():
        assert round(dyn.loc[k, "estimate"], 4) == pytest.approx(v, abs=1e-12), k
    dyn_overall = cs_mpdta.overall("dynamic").iloc[0]
    assert round(dyn_overall["estimate"], 4) == pytest.approx(README_DYNAMIC_OVERALL, abs=1e-12)
    assert dyn_overall["std_error"] == pytest.approx(0.0196, rel=SE_RTOL)
    grp = cs_mpdta.aggregate("group").set_index("group")
    for k, v in README_GROUP.items():
        assert round(grp.loc[k, "estimate"], 4) == pytest.approx(v, abs=1e-12), k
    # bcallaway11/twfeweights README: sum(wO * attgt) = -0.03101828 (did's group aggregation); did README SE 0.0123
    grp_overall = cs_mpdta.overall("group").iloc[0]
    assert grp_overall["estimate"] == pytest.approx(-0.03101828, abs=5e-9)
    assert grp_overall["std_error"] == pytest.approx(0.0123, rel=SE_RTOL)
    simple = cs_mpdta.overall("simple").iloc[0]
    assert round(simple["estimate"], 4) == -0.0400  # aggte(type = "simple") on mpdta: -0.04


def test_universal_base_matches_twfeweights_readme(mpdta):
    # bcallaway11/twfeweights README: att_gt(..., base_period = "universal"), attgt printed to 9 digits
    expected = {(2004, 2004): -0.010503246, (2004, 2005): -0.070423158, (2004, 2006): -0.137258739,
                (2004, 2007): -0.100811363, (2006, 2003): -0.003769294, (2006, 2004): 0.002750819,
                (2006, 2006): -0.004594607, (2006, 2007): -0.041224472, (2007, 2003): 0.003306357,
                (2007, 2004): 0.033813012, (2007, 2005): 0.031087119, (2007, 2007): -0.026054411}
    t = did.GroupTimeATT(mpdta, base_period="universal", **CS_ARGS, **R_DID).att_gt().set_index(["group", "time"])
    for key, v in expected.items():
        assert t.loc[key, "estimate"] == pytest.approx(v, abs=5e-10), key


def test_twfe_matches_fixest_on_mpdta(mpdta):
    # twfeweights README: fixest::feols(lemp ~ post | countyreal + year, cluster = "countyreal"):
    # post -0.036549, Std. Error 0.013265, Pr(>|t|) 0.006079
    fit = did.TwoWayFixedEffects(mpdta, **CS_ARGS)
    r = fit.summary().iloc[0]
    assert round(r["estimate"], 6) == -0.036549
    assert round(r["std_error"], 6) == 0.013265
    assert round(r["p_value"], 6) == 0.006079
    assert fit.k_params == 6  # 1 slope + 5 year effects; county effects nested in the clusters
    lm_default = did.TwoWayFixedEffects(mpdta, small_sample="linearmodels", **CS_ARGS).summary().iloc[0]
    assert round(lm_default["std_error"], 5) == 0.01482  # linearmodels' own default, documented as different
    cr0 = did.TwoWayFixedEffects(mpdta, small_sample="cr0", **CS_ARGS).summary().iloc[0]
    assert (r["std_error"] / cr0["std_error"]) ** 2 == pytest.approx(500 / 499 * 2499 / 2494)


def test_multiplier_bootstrap_is_seeded_and_close_to_analytic(mpdta):
    a = did.GroupTimeATT(mpdta, n_boot=999, seed=3, **CS_ARGS, **R_DID).att_gt()
    b = did.GroupTimeATT(mpdta, n_boot=999, seed=3, **CS_ARGS, **R_DID).att_gt()
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_allclose(a["std_error"], a["analytic_std_error"], rtol=0.15)
    assert 2.3 < a["crit_value"].iloc[0] < 3.3  # uniform band wider than 1.96 (did's README bands imply ~2.7)
    analytic = did.GroupTimeATT(mpdta, inference="analytic", **CS_ARGS, **R_DID).att_gt()  # pointwise normal intervals
    assert (a["ci_upper"] - a["ci_lower"] > analytic["ci_upper"] - analytic["ci_lower"]).all()


# --------------------------------------------------------------------------- hand-checkable small-sample factor
def test_fixest_cr1_on_hand_checkable_panel():
    # 4 units x 3 periods, unit 1 and 2 treated from period 2. Dummy-variable OLS by hand, CR0 sandwich by hand,
    # fixest factor G/(G-1) (N-1)/(N-K) = 4/3 * 11/8 = 11/6 with K = 1 slope + 3 period effects.
    y = np.array([1.0, 3.0, 4.0, 2.0, 5.0, 5.5, 0.5, 1.0, 2.5, 1.5, 1.0, 3.0])
    unit = np.repeat([1, 2, 3, 4], 3)
    period = np.tile([1, 2, 3], 4)
    first = np.repeat([2, 2, 0, 0], 3)
    d = ((first > 0) & (period >= first)).astype(float)
    data = pd.DataFrame({"y": y, "u": unit, "t": period, "g": first})
    X = np.column_stack([d, (unit[:, None] == np.arange(1, 5)).astype(float),
                         (period[:, None] == np.array([2, 3])).astype(float)])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    u = y - X @ beta
    bread = np.linalg.inv(X.T @ X)
    meat = sum(np.outer(X[unit == g].T @ u[unit == g], X[unit == g].T @ u[unit == g]) for g in range(1, 5))
    se_cr0 = np.sqrt((bread @ meat @ bread)[0, 0])
    args = dict(outcome="y", unit="u", time="t", first_treated="g")
    warnings.simplefilter("ignore")  # two treated clusters: the few-clusters warning is expected here
    fit_cr0 = did.TwoWayFixedEffects(data, small_sample="cr0", **args)
    assert fit_cr0.params_["treated"] == pytest.approx(beta[0], abs=1e-12)
    assert fit_cr0.summary()["std_error"].iloc[0] == pytest.approx(se_cr0, rel=1e-10)
    fit = did.TwoWayFixedEffects(data, **args)
    assert fit.k_params == 4
    assert fit.summary()["std_error"].iloc[0] == pytest.approx(se_cr0 * np.sqrt(11 / 6), rel=1e-10)
    assert small_sample_factor("fixest", 12, 4, 4) == pytest.approx(11 / 6)
    assert fixest_k(1, [4, 3], [True, False]) == 4
    assert fixest_k(1, [4, 3], [False, False]) == 7  # both counted, one redundant level


# --------------------------------------------------------------------------- wild cluster bootstrap, few clusters
def test_wild_bootstrap_matches_brute_force():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(8), 6)
    x = np.column_stack([rng.normal(size=48), rng.normal(size=48)])
    y = 0.3 * x[:, 0] + rng.normal(size=48) + rng.normal(size=8)[g]
    res = wild_cluster_bootstrap(y, x, g, 0, n_boot=199, kind="webb", seed=11)
    # brute force: same draws, restricted residuals, refit, CR0 t statistics
    v = draw_weights("webb", (199, 8), np.random.default_rng(11))
    b_r = np.linalg.lstsq(x[:, [1]], y, rcond=None)[0]
    fit_r = x[:, [1]] @ b_r
    u_r = y - fit_r
    bread = np.linalg.inv(x.T @ x)

    def tstat(yy):
        b = bread @ x.T @ yy
        e = yy - x @ b
        s = np.stack([x[g == k].T @ e[g == k] for k in range(8)])
        return b[0] / np.sqrt((bread @ s.T @ s @ bread)[0, 0])

    t_obs = tstat(y)
    t_b = np.array([tstat(fit_r + u_r * v[i][g]) for i in range(199)])
    assert res["t_stat"] == pytest.approx(t_obs, rel=1e-10)
    assert res["p_value"] == pytest.approx(np.mean(np.abs(t_b) >= abs(t_obs)), abs=1e-12)


def test_wild_bootstrap_on_mpdta_agrees_with_analytic(mpdta):
    fit = did.TwoWayFixedEffects(mpdta, wild_bootstrap=999, seed=1, **CS_ARGS)
    assert fit.wild_bootstrap_["weights"] == "webb"
    assert fit.wild_bootstrap_["p_value"] < 0.02  # analytic p = 0.006
    assert fit.summary()["wild_p_value"].iloc[0] == fit.wild_bootstrap_["p_value"]


def test_few_treated_clusters_rule():
    assert few_clusters_message(25) is None
    assert "< 20" in few_clusters_message(19)
    assert "< 10" in few_clusters_message(9) and "wild cluster bootstrap" in few_clusters_message(9)
    d = did.simulate_staggered_panel(n_units=60, n_periods=6, waves=(4,), wave_shares=(0.1,), seed=2)
    with pytest.warns(UserWarning, match="treated clusters"):
        fit = did.TwoWayFixedEffects(d, **SIM_ARGS)
    assert fit.n_treated_clusters < 10
    assert "Caution" in did_report.twfe_sentence(fit)


# --------------------------------------------------------------------------- planted effects
@pytest.fixture(scope="module", params=list(SCENARIOS))
def planted(request):
    m, p = did.simulate_measures_panel(n_practices=60, n_months=30, start="2019-01-01",
                                       waves=("2020-01-01", "2020-07-01"), effects=request.param, seed=11)
    return request.param, did.build_did_panel(m, p)


def test_planted_effects_recovered_by_quintile(planted):
    scenario, panel = planted
    truth = np.array(SCENARIOS[scenario])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tw = did.TwoWayFixedEffects(panel, by="imd_quintile", weights="denominator", contrast=(1, 5)).summary()
        cs_fit = did.GroupTimeATT(panel, by="imd_quintile", weights="denominator")
        cs = pd.concat([cs_fit.tidy(), cs_fit.contrast(1, 5)], ignore_index=True)
    assert list(tw["level"]) == [1, 2, 3, 4, 5, None] and list(cs["level"][:5]) == [1, 2, 3, 4, 5]
    for table, tol in ((tw, 0.8), (cs, 1.5)):
        est = table["estimate"].to_numpy()[:5]
        se = table["std_error"].to_numpy()[:5]
        assert np.all(np.abs(est - truth) < np.maximum(tol, 4 * se)), (scenario, est)
        contrast = table["estimate"].iloc[5]
        true_contrast = truth[0] - truth[4]
        if true_contrast == 0:
            assert table["ci_lower"].iloc[5] < 0 < table["ci_upper"].iloc[5] or abs(contrast) < tol
        else:
            assert np.sign(contrast) == np.sign(true_contrast)
            assert table["ci_lower"].iloc[5] > 0 if true_contrast > 0 else table["ci_upper"].iloc[5] < 0


def test_within_practice_gap_did_has_right_sign(planted):
    scenario, panel = planted
    ineq = did.within_practice_inequality(panel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = did.TwoWayFixedEffects(ineq, outcome="gap", weights="denominator").summary().iloc[0]
    true_gap_change = SCENARIOS[scenario][4] - SCENARIOS[scenario][0]  # gap = Q5 - Q1
    if true_gap_change == 0:
        assert abs(r["estimate"]) < 1.0
    else:
        assert np.sign(r["estimate"]) == np.sign(true_gap_change)
        assert abs(r["estimate"] - true_gap_change) < 1.5


def test_twfe_biased_but_group_time_att_unbiased_under_heterogeneity():
    d = did.simulate_staggered_panel(n_units=600, n_periods=10, seed=4)
    truth = d.loc[(d["first_treated"] > 0) & (d["period"] >= d["first_treated"]), "true_effect"].mean()
    tw = did.TwoWayFixedEffects(d, **SIM_ARGS).tidy().iloc[0]
    cs = did.GroupTimeATT(d, **SIM_ARGS).tidy().iloc[0]
    assert abs(cs["estimate"] - truth) < 3 * cs["std_error"]
    assert tw["estimate"] < truth - 1.0  # already-treated controls drag TWFE well below the truth


def test_not_yet_treated_comparison_without_never_treated():
    d = did.simulate_staggered_panel(n_units=400, n_periods=10, wave_shares=(0.3, 0.3, 0.4),
                                     heterogeneous=False, seed=8)
    with pytest.raises(InputError, match="no never-treated units"):
        did.GroupTimeATT(d, **SIM_ARGS)
    fit = did.GroupTimeATT(d, comparison="not_yet_treated", **SIM_ARGS)
    r = fit.tidy().iloc[0]
    assert abs(r["estimate"] - 2.0) < 4 * r["std_error"]


# --------------------------------------------------------------------------- within-practice inequality, by hand
def test_within_practice_sii_and_gap_by_hand():
    rows = []
    for q, (n, d) in enumerate([(50, 100), (60, 100), (0, 0), (70, 100), (80, 100)], start=1):
        rows.append({"practice_id": "P1", "month": pd.Timestamp("2020-01-01"), "imd_quintile": q,
                     "numerator": n, "denominator": d, "programme_start": pd.NaT})
    out = did.within_practice_inequality(pd.DataFrame(rows)).iloc[0]
    assert out["gap"] == pytest.approx(75.0 - 55.0)  # the default pools Q4+Q5 (150/200) and Q1+Q2 (110/200)
    assert out["gap_weight"] == pytest.approx(200 * 200 / 400)
    extremes = did.within_practice_inequality(pd.DataFrame(rows), rule=SparseRule(1)).iloc[0]
    assert extremes["gap"] == pytest.approx(30.0)
    # four equal groups at ranks 1/8, 3/8, 5/8, 7/8 (the empty quintile carries no weight): slope of 50,60,70,80
    assert out["sii"] == pytest.approx(np.polyfit([1 / 8, 3 / 8, 5 / 8, 7 / 8], [50, 60, 70, 80], 1)[0])
    flat = pd.DataFrame(rows).assign(numerator=lambda f: f["denominator"] // 2)
    assert did.within_practice_inequality(flat).iloc[0]["sii"] == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- bad input
@pytest.fixture()
def small():
    m, p = did.simulate_measures_panel(n_practices=12, n_months=12, start="2020-01-01",
                                       waves=("2020-06-01",), seed=1)
    return m, p


def test_duplicated_rows_rejected(small):
    m, p = small
    with pytest.raises(InputError, match=r"duplicated rows .*practice_id, month, imd_quintile"):
        did.build_did_panel(pd.concat([m, m.iloc[[0]]]), p)


def test_practice_with_two_start_dates_rejected(small):
    m, p = small
    extra = pd.DataFrame({"practice_id": [p["practice_id"].iloc[0]], "programme_start": [pd.Timestamp("2020-09-01")]})
    with pytest.raises(InputError, match=r"programme: practice_id 'P\d+' has 2 different programme_start dates"):
        did.build_did_panel(m, pd.concat([p, extra]))
    data = did.build_did_panel(m, p)
    data.loc[data.index[0], "programme_start"] = pd.Timestamp("2020-03-01")
    with pytest.raises(InputError, match="unit 'P0001' has 2 different adoption dates"):
        did.TwoWayFixedEffects(data, by="imd_quintile")


def test_adoption_outside_panel_rejected(small):
    m, p = small
    late = p.assign(programme_start=pd.Timestamp("2022-01-01"))
    with pytest.raises(InputError, match="after the last period of the panel"):
        did.build_did_panel(m, late)
    early = p.assign(programme_start=pd.Timestamp("2019-01-01"))
    with pytest.raises(InputError, match="before the first period"):
        did.build_did_panel(m, early)
    first = p.assign(programme_start=pd.Timestamp("2020-01-01"))
    with pytest.raises(InputError, match="no pre-treatment period"):
        did.build_did_panel(m, first)


def test_no_comparison_units_rejected(small):
    m, _ = small
    everyone = pd.DataFrame({"practice_id": m["practice_id"].unique(), "programme_start": pd.Timestamp("2020-06-01")})
    with pytest.raises(InputError, match="no comparison group"):
        did.build_did_panel(m, everyone)
    panel = did.build_did_panel(m, _)
    panel = panel.assign(programme_start=pd.Timestamp("2020-06-01"))
    with pytest.raises(InputError, match="no never-treated units"):
        did.GroupTimeATT(panel, by="imd_quintile")


def test_unbalanced_panel_rejected(small):
    m, p = small
    with pytest.raises(InputError, match=r"unbalanced panel: 1 unit\(s\) lack some of the 12 periods"):
        did.build_did_panel(m.drop(index=5), p)


def test_bad_counts_and_columns_rejected(small):
    m, p = small
    bad = m.copy()
    bad.loc[3, "numerator"] = bad.loc[3, "denominator"] + 1
    with pytest.raises(InputError, match=r"measures: columns 'numerator'/'denominator' .*0 <= numerator <= denominator"
                       r": row 3: "):
        did.build_did_panel(bad, p)
    with pytest.raises(InputError, match="column 'imd_quintile' must be 1..5: row 0: "):
        did.build_did_panel(m.assign(imd_quintile=m["imd_quintile"].where(m.index > 0, 6)), p)
    with pytest.raises(InputError, match="missing column"):
        did.build_did_panel(m.drop(columns="denominator"), p)
    with pytest.raises(ValueError, match="comparison must be"):
        did.GroupTimeATT(did.build_did_panel(m, p), comparison="everyone")


def test_load_did_panel_names_files(tmp_path, small):
    from beyond_averages.files import write_parquet

    m, p = small
    write_parquet(m, tmp_path / "m.parquet")
    write_parquet(pd.concat([p, p.iloc[[0]].assign(programme_start=pd.Timestamp("2020-08-01"))]),
                  tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"p\.parquet: practice_id"):
        did.load_did_panel(tmp_path / "m.parquet", tmp_path / "p.parquet")
    with pytest.raises(InputError, match="file not found"):
        did.load_did_panel(tmp_path / "missing.parquet", tmp_path / "p.parquet")
    write_parquet(p, tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"m\.parquet: column 'area' must be 'other_area'"):
        did.load_did_panel(tmp_path / "m.parquet", tmp_path / "p.parquet", area="other_area")
    assert len(did.load_did_panel(tmp_path / "m.parquet", tmp_path / "p.parquet", area="synthetic")) == len(m)


# --------------------------------------------------------------------------- API shape
def test_result_protocol(cs_mpdta, mpdta):
    tw = did.TwoWayFixedEffects(mpdta, **CS_ARGS)
    es = did.EventStudy(mpdta, window=(-3, 3), **CS_ARGS)
    for fit in (tw, es, cs_mpdta):
        assert isinstance(fit, results.Estimator) and not hasattr(fit, "plot")
        for frame in (fit.tidy(), fit.summary(), fit.effect_summary(), fit.plot_data()):
            results.check_tidy(frame, type(fit).__name__)
    assert list(cs_mpdta.summary().columns[:6]) == ["term", *results.TIDY_COLUMNS]
    for kind in ("dynamic", "group"):
        results.check_tidy(cs_mpdta.aggregate(kind), kind)
        assert len(cs_mpdta.overall(kind)) == 1
    assert cs_mpdta.aggregate("dynamic")["event_time"].dtype == "int64"
    assert "Comparing each adoption wave" in did_report.group_time_sentence(cs_mpdta)
    assert "-0.04" in did_report.group_time_sentence(cs_mpdta)
    assert did_report.twfe_sentence(tw).startswith("Two-way fixed effects estimate the programme's effect at -0.04")
    s = es.summary()
    assert s.loc[s["event_time"] == -1, "estimate"].iloc[0] == 0.0
    assert set(es.pretrend_test()) >= {"wald", "df", "p_value_f", "p_value_chi2"}
    assert "pre-adoption coefficients" in did_report.event_study_sentence(es)


def test_contrasts_are_one_row_frames(small):
    m, p = small
    panel = did.build_did_panel(m, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tw = did.TwoWayFixedEffects(panel, by="imd_quintile", contrast=(1, 5), wild_bootstrap=99)
        cs = did.GroupTimeATT(panel, by="imd_quintile", comparison="not_yet_treated")
    for frame in (tw.contrast(), tw.effect_summary(), cs.contrast(1, 5), cs.effect_summary(contrast=(1, 5))):
        results.check_tidy(frame)
        assert len(frame) == 1 and frame["term"].iloc[0] == "imd_quintile=1 - imd_quintile=5"
    assert tw.contrast()["wild_p_value"].notna().all() and tw.contrast(2, 4)["wild_p_value"].isna().all()
    pd.testing.assert_frame_equal(tw.tidy().iloc[[5]].drop(columns="level").reset_index(drop=True), tw.contrast())
    by_level = cs.overall("dynamic").set_index("level")["estimate"]
    diff = cs.contrast(1, 5, kind="dynamic")["estimate"].iloc[0]
    assert diff == pytest.approx(by_level[1] - by_level[5], abs=1e-12)
    assert set(cs.aggregate("group")["level"]) == {1, 2, 3, 4, 5}


@pytest.mark.slow
def test_monte_carlo_bias_and_coverage():
    mc = did.monte_carlo(n_sims=200, seed=2024).set_index("estimator")
    assert abs(mc.loc["group_time_att", "bias"]) < 0.05
    assert 0.92 <= mc.loc["group_time_att", "coverage"] <= 0.98
    assert mc.loc["twfe", "bias"] < -1.0
    assert mc.loc["twfe", "coverage"] < 0.2
