"""Wild cluster bootstrap confidence intervals by test inversion (beyond_averages.did.wild_ci) for TWFE and its
triple-difference contrast, on small hand-made panels whose truth is known.

What an inverted-test interval must satisfy (Roodman et al. 2019, "Fast and wild: bootstrap inference in Stata
using boottest"; R fwildclusterboot's ``confint``): it holds the point estimate, the bootstrap p-value just inside
each end is above alpha and just outside is at or below it, and at the null 0 it gives the same p-value as the
test itself. It also narrows as clusters are added.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.did import TwoWayFixedEffects
from beyond_averages.did.inference import wild_cluster_bootstrap
from beyond_averages.did.wild_ci import WildTest, wild_bootstrap_interval

EFFECT = 1.0


def panel(n_units: int, seed: int, by: bool = False) -> pd.DataFrame:
    """Units (clusters) over 6 periods, every other unit treated from period 4 with effect 1 (with ``by``: two
    strata per unit, the effect 1.5 in stratum 1 and 0.5 in stratum 5, so the contrast is 1), unit and period
    effects and cluster-correlated noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_units):
        first = 4 if u % 2 == 0 else 0
        shock, level = rng.normal(0, 0.5), rng.normal(0, 1)
        for stratum in ((1, 5) if by else (1,)):
            for t in range(1, 7):
                d = first > 0 and t >= first
                effect = (EFFECT + (0.5 if stratum == 1 else -0.5)) if by else EFFECT
                y = level + 0.2 * t + stratum * 0.1 + effect * d + shock * d + rng.normal(0, 0.5)
                rows.append((u, stratum, t, first, y))
    return pd.DataFrame(rows, columns=["unit", "stratum", "period", "first", "y"])


def fit(frame: pd.DataFrame, **kwargs) -> TwoWayFixedEffects:
    return TwoWayFixedEffects(frame, outcome="y", unit="unit", time="period", first_treated="first",
                              wild_bootstrap=399, **kwargs)


def p_value(model: TwoWayFixedEffects, null: float) -> float:
    """The bootstrap p-value of ``H0: effect = null`` with the model's own data and draws."""
    yd, xd = model._demeaned(model._x.to_numpy(float))
    return wild_cluster_bootstrap(yd, xd, model._clusters, 0, null=null, n_boot=399, kind="webb",
                                  seed=20240601)["p_value"]


@pytest.mark.filterwarnings("ignore:only")
def test_interval_inverts_the_test():
    model = fit(panel(16, seed=1))
    row = model.tidy().iloc[0]
    lo, hi = row["wild_ci_lower"], row["wild_ci_upper"]
    assert lo < row["estimate"] < hi
    se = row["std_error"]
    for end, inward in ((lo, +1), (hi, -1)):
        assert p_value(model, end + inward * 1e-3 * se) > 0.05     # not rejected just inside
        assert p_value(model, end - inward * 1e-3 * se) <= 0.05    # rejected just outside
        assert p_value(model, end) == pytest.approx(0.05, abs=3 / 399)  # the p-value at the end is about alpha
    assert row["wild_p_value"] == p_value(model, 0.0) == model.wild_bootstrap_["p_value"]


@pytest.mark.filterwarnings("ignore:only")
def test_interval_narrows_with_more_clusters():
    widths = []
    for n_units in (12, 48):
        row = fit(panel(n_units, seed=2)).tidy().iloc[0]
        widths.append(row["wild_ci_upper"] - row["wild_ci_lower"])
        analytic = row["ci_upper"] - row["ci_lower"]
        assert 0.5 < widths[-1] / analytic < 2.0   # same scale as the CR1 t(G - 1) interval
    assert widths[1] < 0.7 * widths[0]             # about 1/sqrt(4) of it with four times the clusters


def test_interval_at_a_different_level_is_nested():
    frame = panel(20, seed=3)
    yd_model = fit(frame, wild_ci=False)
    assert "ci_lower" not in yd_model.wild_bootstrap_           # wild_ci=False: p-value only
    yd, xd = yd_model._demeaned(yd_model._x.to_numpy(float))
    ci95 = wild_bootstrap_interval(yd, xd, yd_model._clusters, alpha=0.05, n_boot=399)
    ci80 = wild_bootstrap_interval(yd, xd, yd_model._clusters, alpha=0.20, n_boot=399)
    assert ci95["ci_lower"] < ci80["ci_lower"] < ci80["estimate"] < ci80["ci_upper"] < ci95["ci_upper"]
    assert ci95["estimate"] == pytest.approx(yd_model.params_["treated"], rel=1e-10)
    with pytest.raises(ValueError, match="alpha"):
        wild_bootstrap_interval(yd, xd, yd_model._clusters, alpha=1.0)


@pytest.mark.filterwarnings("ignore:only")
def test_fast_test_is_the_wild_cluster_bootstrap():
    # WildTest reuses per-cluster statistics across nulls; its p-values are those of the direct computation
    model = fit(panel(14, seed=5, by=True), by="stratum", contrast=(1, 5), wild_ci=False)
    cols = model._x.to_numpy(float).copy()
    cols[:, 1] = cols[:, 0] + cols[:, 1]   # the contrast re-parametrisation TwoWayFixedEffects uses
    yd, xd = model._demeaned(cols)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, yd.size)
    for kind in ("webb", "rademacher"):
        test = WildTest(yd, xd, model._clusters, 0, weights=weights, n_boot=299, kind=kind, seed=7)
        for null in (-1.0, 0.0, 0.4, 1.0, 2.5):
            direct = wild_cluster_bootstrap(yd, xd, model._clusters, 0, weights=weights, null=null, n_boot=299,
                                            kind=kind, seed=7)["p_value"]
            assert test.p_value(null) == direct


@pytest.mark.filterwarnings("ignore:only")
def test_contrast_gets_the_interval():
    # the triple difference (stratum 1 minus stratum 5) of the DiD chapter's TWFE: the bootstrapped coefficient is
    # the contrast itself, so its interval is on the contrast row
    model = fit(panel(24, seed=4, by=True), by="stratum", contrast=(1, 5))
    row = model.contrast().iloc[0]
    assert row["wild_ci_lower"] < row["estimate"] < row["wild_ci_upper"]
    per_level = model.tidy()
    assert per_level["wild_ci_lower"].iloc[:2].isna().all()   # the per-stratum effects are not bootstrapped
    assert per_level["wild_ci_lower"].iloc[2] == row["wild_ci_lower"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:only")
def test_coverage_with_few_clusters():
    # 200 panels of 12 clusters (6 treated): the inverted-test interval covers the planted effect about 95% of the
    # time; Monte Carlo SE of a 95% coverage over 200 draws is 1.5 points, so 90% is a 3-SE floor
    covered = 0
    for seed in range(200):
        row = fit(panel(12, seed=1000 + seed)).tidy().iloc[0]
        covered += row["wild_ci_lower"] < EFFECT < row["wild_ci_upper"]
    assert covered / 200 >= 0.90
