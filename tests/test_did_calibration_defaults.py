"""The group-time ATT's small-sample default (``small_sample="cohort"``) on hand-worked cases, and the
few-treated-clusters warning given once per analysis (issue #12).

Hand-worked case: with two periods, one unit per cluster, one adoption cohort and never-treated comparisons, the
group-time ATT is a difference in mean changes, and the default's SE, degrees of freedom and p-value are those of
Welch's two-sample t-test on the units' changes (scipy's ``ttest_ind(equal_var=False)``), while R ``did``'s
(``small_sample="none"``) SE is the same with each group's variance divided by n_k instead of n_k - 1, and a
normal reference. The calibration by simulation is ``bench/did_calibration.py`` (docs/did.md).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from beyond_averages import did
from beyond_averages.did.analysis import FEW_CLUSTERS
from beyond_averages.did.inference import cohort_cluster_scale, share_term_factor, t_band_critical, welch_df

TREATED_CHANGE = np.array([1.0, 2.5, 0.5, 3.0])  # 4 treated clusters: their outcome change from period 1 to 2
CONTROL_CHANGE = np.array([0.2, -0.4, 0.9, 0.1, 0.0, -0.3])  # 6 never-treated clusters
ARGS = dict(outcome="y", unit="unit", time="period", first_treated="first")


def two_by_two() -> pd.DataFrame:
    change = np.concatenate([TREATED_CHANGE, CONTROL_CHANGE])
    first = np.r_[np.full(TREATED_CHANGE.size, 2), np.zeros(CONTROL_CHANGE.size)]
    level = np.arange(change.size) * 0.7  # unit levels: differenced away
    return pd.DataFrame({"unit": np.repeat(np.arange(change.size), 2), "period": np.tile([1, 2], change.size),
                         "first": np.repeat(first, 2), "y": np.column_stack([level, level + change]).ravel()})


def fit(**options) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 4 treated clusters: the few-clusters warning is expected
        return did.GroupTimeATT(two_by_two(), inference="analytic", **ARGS, **options).tidy().iloc[0]


def test_default_is_welch_t_test_on_cluster_changes():
    row = fit()
    welch = stats.ttest_ind(TREATED_CHANGE, CONTROL_CHANGE, equal_var=False)
    assert row["estimate"] == pytest.approx(TREATED_CHANGE.mean() - CONTROL_CHANGE.mean(), abs=1e-12)
    se = np.sqrt(TREATED_CHANGE.var(ddof=1) / 4 + CONTROL_CHANGE.var(ddof=1) / 6)
    assert row["std_error"] == pytest.approx(se, rel=1e-10)
    assert row["df"] == pytest.approx(welch.df, rel=1e-10)
    assert row["p_value"] == pytest.approx(welch.pvalue, rel=1e-8)
    half = stats.t.ppf(0.975, welch.df) * se
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((row["estimate"] - half, row["estimate"] + half))


def test_r_did_option_keeps_the_plain_influence_function_variance_and_normal_reference():
    row = fit(small_sample="none")
    se = np.sqrt(TREATED_CHANGE.var(ddof=0) / 4 + CONTROL_CHANGE.var(ddof=0) / 6)
    assert row["std_error"] == pytest.approx(se, rel=1e-10) and np.isnan(row["df"])
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(row["estimate"]) / se), rel=1e-10)
    with pytest.raises(ValueError, match="small_sample must be one of 'cohort', 'cohort_share_debiased', 'none'"):
        fit(small_sample="CR2")


def test_cohort_scale_and_welch_df_by_hand():
    codes = np.array([0, 0, 0, 0, 1, 1, -2])  # a cohort of 4 clusters, one of 2, one cluster without data
    np.testing.assert_allclose(cohort_cluster_scale(codes), [np.sqrt(4 / 3)] * 4 + [np.sqrt(2)] * 2 + [1.0])
    psi = np.array([[1.0], [-1.0], [2.0], [0.0], [3.0], [1.0], [0.0]])
    v0, v1 = 6.0, 10.0  # sums of squares of cohort 0 and cohort 1
    assert welch_df(psi, codes)[0] == pytest.approx((v0 + v1) ** 2 / (v0**2 / 3 + v1**2 / 1))
    assert t_band_critical(stats.norm.ppf(0.975), 11) == pytest.approx(stats.t.ppf(0.975, 11))
    assert t_band_critical(2.5, None) == 2.5


def test_uniform_band_moves_to_the_t_reference():
    data = did.simulate_staggered_panel(n_units=60, n_periods=8, seed=4)
    cols = dict(outcome="y", unit="unit", time="period", first_treated="first_treated", n_boot=199, seed=1)
    r_did = did.GroupTimeATT(data, small_sample="none", **cols).aggregate("dynamic")
    default = did.GroupTimeATT(data, **cols).aggregate("dynamic")
    assert r_did["df"].isna().all() and r_did["crit_value"].nunique() == 1  # R: one normal-scale sup-t quantile
    # the default: one normal-scale sup-t quantile too, read on each row's t(df) at the same tail probability
    normal_scale = stats.norm.ppf(stats.t.cdf(default["crit_value"], default["df"]))
    np.testing.assert_allclose(normal_scale, normal_scale[0], rtol=1e-9)
    assert normal_scale[0] > stats.norm.ppf(0.975) and (default["interval"] == "uniform").all()
    assert (default["crit_value"] > normal_scale[0]).all() and (default["df"] < 60).all()


def test_few_clusters_warning_is_given_once_per_analysis():
    measures, programme = did.simulate_measures_panel(n_practices=30, n_months=18, start="2019-01-01",
                                                      waves=("2019-07-01", "2019-12-01"), seed=2)
    panel = did.build_did_panel(measures, programme)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = did.run_did_analysis(panel)
    few = [w for w in caught if re.match(FEW_CLUSTERS, str(w.message))]
    n_treated = analysis.gta_quintile.n_treated_clusters
    assert n_treated < 20 and len(few) == 1, [str(w.message) for w in few]
    assert str(few[0].message) == analysis.gta_quintile.few_clusters_message
    assert f"only {n_treated} treated clusters" in str(few[0].message)


def test_share_term_factor_removes_the_estimated_atts_noise():
    """E |omega att_hat|^2 = |omega att|^2 + tr(omega' omega Sigma): the factor leaves |omega att|^2 on average."""
    rng = np.random.default_rng(7)
    omega = rng.normal(size=(12, 3))
    spread = rng.normal(scale=0.1, size=(12, 3))  # clusters' influence on the three ATT estimates
    att = np.array([2.0, -1.0, 0.5])  # large against the noise, so that the factor is never clipped at 0
    draws = att + rng.standard_normal((20_000, 12)) @ spread  # att_hat with covariance spread' spread
    kept = [share_term_factor(omega @ a, omega, spread) ** 2 * np.sum((omega @ a) ** 2) for a in draws]
    assert np.mean(kept) == pytest.approx(np.sum((omega @ att) ** 2), rel=0.01)
    noise = np.sum((omega.T @ omega) * (spread.T @ spread))
    b = omega @ att
    assert share_term_factor(b, omega, spread) == pytest.approx(np.sqrt(1 - noise / (b @ b)))
    assert share_term_factor(np.zeros(12), omega, spread) == 1.0  # no share term
    assert share_term_factor(omega @ np.full(3, 1e-3), omega, spread) == 0.0  # all noise: clipped


def test_share_debiasing_changes_only_the_share_term_of_an_aggregate():
    """One adoption wave: no share term (one group's share is 1), so the overall dynamic SE under
    ``small_sample="cohort_share_debiased"`` is the cohort-multiplied influence alone; with two waves the share term
    is shrunk, never the cells' part (the default); ``"cohort"`` multiplies the whole influence."""
    data = did.simulate_staggered_panel(n_units=60, n_periods=8, seed=4)
    cols = dict(outcome="y", unit="unit", time="period", first_treated="first_treated", inference="analytic")
    first = data.groupby("unit")["first_treated"].first()
    one_wave = data[data["unit"].isin(first.index[(first == first[first > 0].min()) | (first == 0)])]
    debiased = "cohort_share_debiased"
    fits = {ss: did.GroupTimeATT(one_wave, small_sample=ss, warn=False, **cols) for ss in (debiased, "none")}
    scale = fits[debiased]._cluster_scale
    level = fits["none"]._fits[None]
    from beyond_averages.did.aggregation import EventWindow

    _, raw = level.aggregate("dynamic", EventWindow())
    expected = np.sqrt(((raw * scale[:, None]) ** 2).sum(0))[-1]
    assert fits[debiased].overall("dynamic")["std_error"].iloc[0] == pytest.approx(expected, rel=1e-10)
    two = did.GroupTimeATT(data, warn=False, small_sample=debiased, **cols)
    _, psi, parts = two._fits[None].aggregate("dynamic", EventWindow(), parts=True)
    cells, between, omega, spread = parts[-1]
    assert np.any(between != 0)
    np.testing.assert_allclose(psi[:, -1], cells + share_term_factor(between, omega, spread) * between)
    assert did.GroupTimeATT(data, warn=False, **cols).small_sample == debiased   # the default
    default = did.GroupTimeATT(data, warn=False, small_sample="cohort", **cols)   # the multiplier on all of it
    _, psi_default = default._fits[None].aggregate("dynamic", EventWindow())
    _, raw_two = did.GroupTimeATT(data, warn=False, small_sample="none", **cols)._fits[None].aggregate(
        "dynamic", EventWindow())
    np.testing.assert_allclose(psi_default, raw_two * default._cluster_scale[:, None], rtol=1e-12, atol=0)
