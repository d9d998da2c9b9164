"""HonestDiD sensitivity (beyond_averages.did.honest) against the R package HonestDiD on its own example, the
Benzarti & Carloni (2019) event study of restaurant profits shipped as ``BCdata_EventStudy`` (4 pre-periods, 4
post-periods; target: the first post-period effect, 2009).

Where the expected numbers come from (all are outputs of the R package on these data; none is computed here):

* R_LOG: ``test/unit-tests-consistency.R.log`` (and ``.R.log.v2``) of github.com/mcaceresb/stata-honestdid, the log
  of ``test/unit-tests-consistency.R`` run with the R package: ``createSensitivityResults_relativeMagnitudes`` with
  ``gridPoints = 100, grid.lb = -1, grid.ub = 1, Mbarvec = 0, 0.5, .., 2`` and ``createSensitivityResults`` with
  ``Mvec = 0, 0.1, 0.2, 0.3``, printed by tibble to 3 significant digits;
* R_028: ``tests/reference_parity/_fixtures/honest_did_moments_R.json`` of github.com/brycewang-stanford/StatsPAI,
  written by its ``_generate_honest_did_moments_R.R`` with R 4.5.2 and HonestDiD 0.2.8 (default grid,
  ``method = "Conditional"`` for Mbar 0, 0.5, 1; ``method = "FLCI"`` for M 0, 0.01, 0.02), full precision;
* R_JL: ``test/reference.jl`` of github.com/eohne/HonestDiD.jl, "auto-generated reference values from the R
  HonestDiD package (BCdata_EventStudy)": ``ORIG_LB/UB``, ``SENS_COND`` (Conditional, M 0, 0.1, 0.2) and
  ``SENS_FLCI``, to 10 significant digits.

The HonestDiD vignette's own Delta^SDRM and Delta^SDNB runs print no digits in any source found; for Delta^SDRM the
test checks the identity Delta^SDRM(0) = Delta^SD(0) (both: violations linear in the post-periods) instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from beyond_averages import results
from beyond_averages.did import (
    EventStudy,
    GroupTimeATT,
    HonestDiD,
    honest_from,
    honest_sensitivity,
)
from beyond_averages.did.honest import (
    original_cs,
    relative_magnitudes_ci,
    smoothness_ci,
)
from beyond_averages.did.honest_arp import folded_normal_quantile, optimal_flci
from beyond_averages.did.simulate import simulate_staggered_panel
from reference import reference_file

L1 = np.array([1.0, 0.0, 0.0, 0.0])


@pytest.fixture(scope="module")
def bc():
    b = pd.read_csv(reference_file("reference_data/honestdid_bc/betahat.csv"))["betahat"].to_numpy(float)
    s = np.loadtxt(reference_file("reference_data/honestdid_bc/sigma.csv"), delimiter=",")
    assert b.shape == (8,) and s.shape == (8, 8)
    return b, s


def printed(x: float) -> str:
    """A number as R's tibble prints it (3 significant digits)."""
    return f"{x:.3g}"


# --------------------------------------------------------------------------------------------- parallel trends
def test_original_cs_is_r_construct_original_cs(bc):
    lo, hi = original_cs(*bc, 4, 4)
    assert lo == pytest.approx(0.15877494280765, abs=1e-13)    # R_JL ORIG_LB
    assert hi == pytest.approx(0.233147292681241, abs=1e-13)   # R_JL ORIG_UB


# --------------------------------------------------------------------------------------------- relative magnitudes
@pytest.mark.parametrize(("mbar", "lower", "upper"), [(0.0, "0.172", "0.232"), (1.0, "0.0707", "0.313"),
                                                      (2.0, "-0.0303", "0.414")])
def test_delta_rm_conditional_is_r_to_the_grid_point(bc, mbar, lower, upper):
    # R_LOG: Conditional, 100 grid points on [-1, 1]; the ends are grid points -1 + 2i/99
    lo, hi, open_end = relative_magnitudes_ci(*bc, 4, 4, mbar, l_vec=L1, method="Conditional", grid_points=100,
                                              grid_lb=-1, grid_ub=1)
    assert (printed(lo), printed(hi)) == (lower, upper)
    assert not open_end
    grid = np.linspace(-1, 1, 100)
    assert np.min(np.abs(grid - lo)) < 1e-12 and np.min(np.abs(grid - hi)) < 1e-12


@pytest.mark.slow
def test_delta_rm_default_grid_is_r_0_2_8_exactly(bc):
    # R_028 rm_e0 (Conditional, default grid of 1000 points on +-20 sd): agreement to rounding error
    expected = [(0.159151943866762, 0.232840433389798), (0.118889160931495, 0.270824190875899),
                (0.0672312507503984, 0.317924050158664)]
    for mbar, (lower, upper) in zip((0.0, 0.5, 1.0), expected, strict=True):
        lo, hi, _ = relative_magnitudes_ci(*bc, 4, 4, mbar, l_vec=L1, method="Conditional")
        assert (lo, hi) == pytest.approx((lower, upper), abs=1e-12)


def test_breakdown_of_delta_rm_is_1_5(bc):
    # R_LOG's Delta^RM table: Mbar 1.5 still excludes 0 (0.0303, 0.354), Mbar 2 does not (-0.0303, 0.414)
    est = honest_sensitivity(*bc, 4, 4, mbar=[0, 1.5, 2], rm_method="Conditional", grid_points=100, grid_lb=-1,
                             grid_ub=1)
    assert est.breakdown("DeltaRM") == 1.5
    rows = est.tidy().set_index("value").loc[[1.5, 2.0]]
    assert [printed(v) for v in rows["ci_lower"]] == ["0.0303", "-0.0303"]


# --------------------------------------------------------------------------------------------- smoothness
def test_delta_sd_conditional_is_r(bc):
    # R_JL SENS_COND (Conditional, default grid around the identified set under parallel trends)
    for m, lower, upper in [(0.0, 0.2100501789, 0.3277998271), (0.2, 0.02030132213, 0.5179737331)]:
        lo, hi, open_end = smoothness_ci(*bc, 4, 4, m, l_vec=L1, method="Conditional")
        assert (lo, hi) == pytest.approx((lower, upper), abs=1e-9)
        assert not open_end


@pytest.mark.parametrize(("m", "lower", "upper"), [
    (0.0, 0.131411315937022, 0.216169648182799),   # R_028 sd_e0
    (0.01, 0.154965267080773, 0.27038453032652),   # R_028
    (0.02, 0.177301087900198, 0.315956468194821),  # R_028
    (0.1, 0.1194440001, 0.4185082143),             # R_JL SENS_FLCI; R_LOG prints 0.119, 0.419
])
def test_flci_is_r_within_its_simulation_error(bc, m, lower, upper):
    # R takes the folded-normal quantile from 10^6 simulated draws and searches 100 standard deviations; the FLCI
    # here is the exact optimum. Same tolerance as StatsPAI's parity test against R (1e-3).
    lo, hi, _ = smoothness_ci(*bc, 4, 4, m, l_vec=L1, method="FLCI")
    assert lo == pytest.approx(lower, abs=1e-3) and hi == pytest.approx(upper, abs=1e-3)
    if m == 0.0:  # with no bias the FLCI is the minimum-variance linear-trend-robust estimator +- z sd, exactly
        flci = optimal_flci(bc[1], 4, 4, L1, 0.0, 0.05)
        assert flci["half_length"] == pytest.approx(0.04237916612, rel=2e-3)  # R_JL: R's simulated quantile


def test_folded_normal_quantile():
    assert folded_normal_quantile(0.95, 0.0) == pytest.approx(1.959963984540054, abs=1e-10)  # the normal's 97.5%
    c = folded_normal_quantile(0.95, 2.0)
    from scipy.stats import norm
    assert norm.cdf(c - 2) - norm.cdf(-c - 2) == pytest.approx(0.95, abs=1e-12)


def test_delta_sdrm_at_zero_is_delta_sd_at_zero(bc):
    # Rambachan & Roth: Delta^SDRM(0) = Delta^SD(0) (no change of slope after treatment); on one grid the two
    # conditional tests accept the same points, and R_LOG's Delta^SD conditional set (0.210, 0.328) lies within one
    # grid step of them
    grid = {"grid_points": 100, "grid_lb": -1, "grid_ub": 1}
    sdrm = relative_magnitudes_ci(*bc, 4, 4, 0.0, l_vec=L1, bound="linear_trend", method="Conditional", **grid)
    sd = smoothness_ci(*bc, 4, 4, 0.0, l_vec=L1, method="Conditional", **grid)
    assert sdrm == sd
    step = 2 / 99
    assert sd[0] == pytest.approx(0.2100501789, abs=step) and sd[1] == pytest.approx(0.3277998271, abs=step)


def test_sets_widen_with_the_bound(bc):
    est = honest_sensitivity(*bc, 4, 4, mbar=[0, 0.5, 1], bound="linear_trend", rm_method="Conditional",
                             grid_points=60, grid_lb=-1, grid_ub=1)
    rows = est.tidy().iloc[1:]
    assert rows["delta"].eq("DeltaSDRM").all()
    assert (np.diff(rows["ci_lower"]) <= 0).all() and (np.diff(rows["ci_upper"]) >= 0).all()
    assert (rows["ci_lower"] > 0).all()   # the 2009 effect survives Mbar = 1 (Rambachan & Roth, Figure 4)


def test_negative_bias_only_moves_the_lower_end_down(bc):
    # Delta^SDNB adds delta_post <= 0: theta = beta - delta >= beta, so the set keeps Delta^SD's upper end at M = 0
    sd = smoothness_ci(*bc, 4, 4, 0.0, l_vec=L1, method="Conditional", grid_points=200, grid_lb=-1, grid_ub=1)
    nb = smoothness_ci(*bc, 4, 4, 0.0, l_vec=L1, method="Conditional", bias_direction="negative", grid_points=200,
                       grid_lb=-1, grid_ub=1)
    assert nb[1] == sd[1] and nb[0] <= sd[0]


# --------------------------------------------------------------------------------------------- the estimator
def test_tidy_rows(bc):
    est = HonestDiD(*bc, 4, 4, m=[0.0], mbar=[0.0], rm_method="Conditional", grid_points=100, grid_lb=-1,
                    grid_ub=1)
    frame = results.check_tidy(est.tidy())
    assert list(frame.columns[:4]) == ["delta", "method", "parameter", "value"]
    assert frame["delta"].tolist() == ["none", "DeltaRM", "DeltaSD"]
    assert frame["method"].tolist() == ["Original", "Conditional", "FLCI"]
    original = est.original().iloc[0]
    assert original["ci_lower"] == pytest.approx(0.15877494280765, abs=1e-13)
    assert original["estimate"] == pytest.approx(bc[0][4]) and original["std_error"] == pytest.approx(
        np.sqrt(bc[1][4, 4]))
    assert frame["std_error"].iloc[1:].isna().all()
    robust = frame.iloc[1:]
    assert np.allclose(robust["estimate"], (robust["ci_lower"] + robust["ci_upper"]) / 2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_pre_periods": 3}, "expected"), ({"m": [-0.1]}, ">= 0"), ({"bound": "linear"}, "bound"),
    ({"l_vec": [1, 0]}, "l_vec"), ({"alpha": 1.5}, "alpha"),
])
def test_bad_inputs(bc, kwargs, message):
    options = {"num_pre_periods": 4, "num_post_periods": 4} | kwargs
    with pytest.raises(ValueError, match=message):
        HonestDiD(*bc, **options)


def test_from_event_study_takes_its_coefficients_and_vcov():
    panel = simulate_staggered_panel(n_units=120, n_periods=8, waves=(5,), wave_shares=(0.4,), heterogeneous=False,
                                     seed=3)
    es = EventStudy(panel, outcome="y", unit="unit", time="period", first_treated="first_treated", window=(-4, 3))
    est = honest_from(es, m=[0.0])
    names = [f"e{k}" for k in (-4, -3, -2, 0, 1, 2, 3)]
    assert est.event_times == [-4, -3, -2, 0, 1, 2, 3]
    np.testing.assert_array_equal(est.betahat, es.params_[names].to_numpy())
    np.testing.assert_array_equal(est.sigma, es.vcov_.loc[names, names].to_numpy())
    assert est.original().iloc[0]["estimate"] == pytest.approx(es.params_["e0"])
    lo, hi = est.tidy().iloc[1][["ci_lower", "ci_upper"]]
    assert lo < 2.0 < hi   # the planted effect (2) inside the linear-trend-robust interval


def test_from_group_time_att_needs_a_universal_base_period():
    panel = simulate_staggered_panel(n_units=150, n_periods=8, waves=(5,), wave_shares=(0.4,), heterogeneous=False,
                                     seed=4)
    opts = {"outcome": "y", "unit": "unit", "time": "period", "first_treated": "first_treated"}
    with pytest.raises(ValueError, match="universal"):
        honest_from(GroupTimeATT(panel, **opts))
    att = GroupTimeATT(panel, base_period="universal", **opts)
    est = honest_from(att, m=[0.0])
    dynamic = att.aggregate("dynamic")
    assert est.event_times == dynamic["event_time"].tolist()
    np.testing.assert_allclose(est.betahat, dynamic["estimate"].to_numpy())
    analytic = dynamic["analytic_std_error"] if "analytic_std_error" in dynamic else dynamic["std_error"]
    np.testing.assert_allclose(np.sqrt(np.diag(est.sigma)), analytic.to_numpy(), rtol=1e-10)
