"""Tests for beyond_averages.equity: PHE's SII test data, hand-worked cases, planted truths, properties, errors."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from beyond_averages.equity import (
    SIISettings,
    SlopeIndexOfInequality,
    absolute_gap,
    concentration_index,
    equity_by_group,
    phe_sii,
    relative_gap,
    relative_rank,
    wilson_interval,
)
from beyond_averages.equity.engine import sii_engine
from beyond_averages.files import InputError
from beyond_averages.report.equity import sii_figure, sii_sentence
from beyond_averages.results import Estimator, check_tidy
from reference import reference_file

SII_CSV = "reference_data/phe_sii/SII_testdata.csv"  # PHEindicatormethods' test sheet (tests/reference.py)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "equity.md"
CLS = {"lower_cl": "LowerCL", "upper_cl": "UpperCL"}
SE = {"se": "StandardError"}

# (first RecordNo, rows, phe_sii arguments) -- the calls of tests/testthat/testSII.R (PHEindicatormethods 2.1.0).
# Deliberate difference: for the "proportion - intercept" block (286) testSII.R passes value_type = 1 to the
# proportion data; we pass 2, the type the block describes. The SII, RII and intercept do not depend on value_type
# without transform, and the expected limits of block 286 equal those of the proportion block 91.
REFERENCE_CASES = [
    (1, 20, dict(value_type=0, value="Value", **SE)),
    (1, 20, dict(value_type=0, value="Value", **CLS)),
    (21, 20, dict(value_type=0, value="Value", confidence=0.99, **CLS)),
    (21, 20, dict(value_type=0, value="Value", confidence=99, **SE)),
    (41, 20, dict(value_type=0, value="Value", **SE)),
    (61, 10, dict(value_type=0, value="Value", **SE)),
    (71, 20, dict(value_type=1, value="Value", **SE)),
    (71, 20, dict(value_type=1, value="Value", **CLS)),
    (91, 20, dict(value_type=2, value="Value", **SE)),
    (91, 20, dict(value_type=2, value="Value", **CLS)),
    (91, 20, dict(value_type=2, x="Count", **CLS)),
    (111, 20, dict(value_type=2, value="Value", multiplier=100, **CLS)),
    (131, 20, dict(value_type=2, value="Value", multiplier=-100, **CLS)),
    (226, 20, dict(value_type=0, value="Value", confidence=(95, 99), **SE)),
    (246, 20, dict(value_type=0, value="Value", intercept=True, **CLS)),
    (266, 20, dict(value_type=1, value="Value", intercept=True, **CLS)),
    (286, 20, dict(value_type=2, value="Value", intercept=True, **CLS)),
    (306, 20, dict(value_type=1, value="Value", intercept=True, transform=True, **CLS)),
    (326, 20, dict(value_type=2, value="Value", intercept=True, transform=True, **CLS)),
    (346, 20, dict(value_type=2, value="Value", intercept=True, transform=True, multiplier=-1, **CLS)),
    (366, 20, dict(value_type=1, value="Value", intercept=True, transform=True, confidence=(95, 98), **CLS)),
    (386, 20, dict(value_type=1, value="Value", intercept=True, transform=True, multiplier=-1, **CLS)),
    (406, 20, dict(value_type=1, value="Value", intercept=True, transform=True, confidence=98, **CLS)),
    (426, 20, dict(value_type=1, value="Value", transform=True, **CLS)),
    (446, 20, dict(value_type=2, value="Value", transform=True, **CLS)),
    (466, 20, dict(value_type=2, value="Value", intercept=True, transform=True, confidence=98, **CLS)),
    (486, 20, dict(value_type=2, value="Value", intercept=True, transform=True, confidence=(95, 98), **CLS)),
]


@pytest.fixture(scope="module")
def sii_data() -> pd.DataFrame:
    return pd.read_csv(reference_file(SII_CSV)).set_index("RecordNo", drop=False)


def block(data: pd.DataFrame, first: int, rows: int) -> pd.DataFrame:
    return data.loc[first : first + rows - 1]


def case_id(case) -> str:
    first, _, kw = case
    return f"{first}-" + "-".join(f"{k}={v}" for k, v in kw.items() if k not in ("value", "lower_cl", "upper_cl"))


# ---------------------------------------------------------------------------------------------------------------
# Known answers: PHEindicatormethods' SII test data
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", REFERENCE_CASES, ids=case_id)
def test_sii_point_estimates_match_phe_test_data(sii_data, case):
    """SII, RII and intercept are deterministic: they must match the expected values to 1e-6 relative.

    (They agree to ~1e-14: the closed-form weighted least squares equals R's lm fit. Block 61, quintiles, holds
    SII and RII from PHE's independent Excel tool.)
    """
    first, rows, kw = case
    data = block(sii_data, first, rows)
    fit = SlopeIndexOfInequality(data, quantile="Quantile", population="Population", by=["Area"], rii=True,
                                 repetitions=1000, **kw)
    for area, row in fit.estimates.set_index("Area").iterrows():
        expected = data[data["Area"] == area].iloc[0]
        assert row["sii"] == pytest.approx(expected["sii"], rel=1e-6)
        if not math.isnan(expected["rii"]):  # the "without rii" blocks hold no RII
            assert row["rii"] == pytest.approx(expected["rii"], rel=1e-6)
        if not math.isnan(expected["Intercept"]):
            assert row["intercept"] == pytest.approx(expected["Intercept"], rel=1e-6)


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=case_id)
def test_sii_confidence_limits_match_phe_within_monte_carlo_error(sii_data, case):
    """Simulated limits must agree with PHE's within 6% of the interval's half-width.

    Why 6%: a limit is an order statistic of R draws. For a roughly normal SII distribution with spread sigma, the
    Monte Carlo SE of the 2.5th percentile is sqrt(p(1-p)/R) / phi(1.96) * sigma = 0.019 sigma at R = 20,000 (ours)
    and 0.0085 sigma at R = 100,000 (PHE's), 0.021 sigma combined, i.e. ~1.1% of the half-width (1.96 sigma). At
    the 0.5th percentile (99% limits) it is 0.038 sigma, ~1.5% of 2.58 sigma; for the 10,000-repetition block
    (41) ~1.7%. 6% is therefore >= 3.5 combined Monte Carlo SEs for every limit, yet 20 times smaller than the
    error a wrong SE scale, wrong transform or wrong percentile position would cause. The seed is fixed, so the
    result is deterministic; the worst case observed is ~3% (seeds 1-3).
    """
    first, rows, kw = case
    data = block(sii_data, first, rows)
    out = phe_sii(data, "Quantile", "Population", by=["Area"], rii=True, repetitions=20_000, seed=1, **kw)
    checked = 0
    for area, result in out.groupby("Area"):
        expected = data[data["Area"] == area].iloc[0]
        for measure in ("sii", "rii"):
            rows_m = result[result["measure"] == measure].sort_values("confidence")
            for j, (_, row) in enumerate(rows_m.iterrows(), start=1):
                lo, hi = expected[f"{measure}_lowercl_{j}"], expected[f"{measure}_uppercl_{j}"]
                if math.isnan(lo):
                    continue  # block 61 (quintiles) only has point estimates from the Excel tool
                half = (hi - lo) / 2.0
                assert abs(row["ci_lower"] - lo) <= 0.06 * half, (area, measure, row["confidence"])
                assert abs(row["ci_upper"] - hi) <= 0.06 * half, (area, measure, row["confidence"])
                checked += 1
    assert checked > 0 or first == 61


def test_summary_layout_for_multiple_levels_and_intercept(sii_data):
    out = phe_sii(block(sii_data, 366, 20), "Quantile", "Population", by=["Area"], value="Value", value_type=1,
                  transform=True, rii=True, intercept=True, confidence=(95, 98), repetitions=2000, **CLS)
    assert list(out.columns) == ["Area", "measure", "confidence", "estimate", "std_error", "ci_lower", "ci_upper",
                                 "p_value"]
    check_tidy(out)
    assert out["measure"].tolist() == ["sii", "sii", "rii", "rii", "intercept"] * 2
    assert out["confidence"].tolist()[:5] == pytest.approx([0.95, 0.98, 0.95, 0.98, np.nan], nan_ok=True)
    assert (out["ci_lower"] <= out["estimate"]).iloc[:4].all() and (out["estimate"] <= out["ci_upper"]).iloc[:4].all()
    # the 98% interval contains the 95% one (same draws)
    sii = out[(out["Area"] == "area1") & (out["measure"] == "sii")]
    assert sii["ci_lower"].iloc[1] <= sii["ci_lower"].iloc[0] and sii["ci_upper"].iloc[1] >= sii["ci_upper"].iloc[0]


# ---------------------------------------------------------------------------------------------------------------
# Reproducibility and Monte Carlo machinery
# ---------------------------------------------------------------------------------------------------------------
def test_same_seed_same_limits_bit_for_bit(sii_data):
    data = block(sii_data, 1, 20)
    kw = dict(by=["Area"], value="Value", rii=True, repetitions=1000, **SE)
    a = phe_sii(data, "Quantile", "Population", seed=5, **kw)
    b = phe_sii(data, "Quantile", "Population", seed=5, **kw)
    c = phe_sii(data, "Quantile", "Population", seed=6, **kw)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not np.array_equal(a["ci_lower"].to_numpy(), c["ci_lower"].to_numpy())


def test_limits_do_not_depend_on_chunk_size():
    rng = np.random.default_rng(0)
    t = rng.normal(10, 1, (7, 5))
    se = rng.uniform(0.1, 0.5, (7, 5))
    pop = rng.integers(100, 1000, (7, 5)).astype(float)
    s = SIISettings(repetitions=1000, rii=True, seed=3)
    big = sii_engine(t, se, pop, s, np.random.default_rng(3))
    small = sii_engine(t, se, pop, s, np.random.default_rng(3), memory=1.0)  # one group per chunk
    for m in ("sii", "rii"):
        for got, want in zip(small["limits"][0.95][m][:2], big["limits"][0.95][m][:2], strict=True):
            np.testing.assert_array_equal(got, want)


def test_reliability_stat_keeps_first_batch_limits_and_reports_mad(sii_data):
    data = block(sii_data, 1, 20)
    kw = dict(by=["Area"], value="Value", rii=True, repetitions=2000, seed=11, **SE)
    plain = phe_sii(data, "Quantile", "Population", **kw)
    rel = phe_sii(data, "Quantile", "Population", reliability_stat=True, **kw)
    assert "ci_mad" in rel.columns and "ci_mad" not in plain.columns
    # for the first group, the first of the ten batches is exactly the draws of the plain run
    first = (rel["Area"] == "area1").to_numpy()
    np.testing.assert_array_equal(rel["ci_lower"].to_numpy()[first], plain["ci_lower"].to_numpy()[first])
    half = (rel["ci_upper"] - rel["ci_lower"]) / 2
    assert ((rel["ci_mad"] > 0) & (rel["ci_mad"] < 0.15 * half)).all()


# ---------------------------------------------------------------------------------------------------------------
# Properties and planted truths
# ---------------------------------------------------------------------------------------------------------------
def quintile_frame(values, pops=(1000, 1500, 800, 1200, 500), se=0.01) -> pd.DataFrame:
    return pd.DataFrame({"imd_quintile": [1, 2, 3, 4, 5], "denominator": list(pops), "value": list(values),
                         "se": [se] * 5})


def test_relative_rank_is_the_cumulative_midpoint():
    assert relative_rank([12, 10, 78]) == pytest.approx([0.06, 0.17, 0.61])  # PHE's documented example
    assert relative_rank([1, 1, 1, 1, 1]) == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])


def test_planted_linear_gradient_is_recovered_exactly():
    pops = np.array([1000, 1500, 800, 1200, 500])
    ranks = relative_rank(pops)
    fit = SlopeIndexOfInequality(quintile_frame(3 + 2 * ranks), value="value", se="se", repetitions=1000)
    assert fit.sii == pytest.approx(2.0, rel=1e-12)
    assert fit.intercept == pytest.approx(3.0, rel=1e-12)
    assert fit.rii == pytest.approx(5.0 / 3.0, rel=1e-12)


def test_sii_is_zero_and_rii_one_when_rates_are_flat():
    fit = SlopeIndexOfInequality(quintile_frame([0.4] * 5), value="value", se="se", repetitions=1000,
                                 value_type="proportion", rii=True)
    assert fit.sii == pytest.approx(0.0, abs=1e-12)
    assert fit.rii == pytest.approx(1.0, abs=1e-12)
    ci = fit.summary().set_index("measure")
    assert ci.loc["sii", "ci_lower"] < 0 < ci.loc["sii", "ci_upper"]


@pytest.mark.parametrize("seed", range(5))
def test_sii_sign_follows_the_gradient(seed):
    rng = np.random.default_rng(seed)
    rising = 0.5 + np.sort(rng.uniform(0.0, 0.3, 5))  # modest gradient: fitted values stay positive
    pops = rng.integers(200, 5000, 5)
    up = SlopeIndexOfInequality(quintile_frame(rising, pops), value="value", se="se", repetitions=1000)
    down = SlopeIndexOfInequality(quintile_frame(rising[::-1], pops), value="value", se="se", repetitions=1000)
    assert up.sii > 0 and up.rii > 1
    assert down.sii < 0 and down.rii < 1


def test_invariant_to_row_order_given_the_rank():
    frame = quintile_frame([0.3, 0.35, 0.33, 0.42, 0.5])
    shuffled = frame.sample(frac=1.0, random_state=4)
    kw = dict(value="value", se="se", repetitions=1000, rii=True, seed=9)
    a, b = phe_sii(frame, "imd_quintile", "denominator", **kw), phe_sii(shuffled, "imd_quintile", "denominator", **kw)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_most_deprived_last_reverses_the_ranks():
    frame = quintile_frame([0.3, 0.35, 0.33, 0.42, 0.5])
    relabelled = frame.assign(imd_quintile=6 - frame["imd_quintile"])  # 5 = most deprived now
    kw = dict(value="value", se="se", repetitions=1000, rii=True, seed=9)
    a = SlopeIndexOfInequality(frame, **kw)
    b = SlopeIndexOfInequality(relabelled, most_deprived="last", **kw)
    assert b.sii == pytest.approx(a.sii, rel=1e-12) and b.rii == pytest.approx(a.rii, rel=1e-12)
    c = SlopeIndexOfInequality(relabelled, **kw)  # wrong orientation: the sign flips
    assert c.sii == pytest.approx(-a.sii, rel=1e-12)


def test_negative_multiplier_flips_sii_and_inverts_rii():
    frame = quintile_frame([0.3, 0.35, 0.33, 0.42, 0.5])
    kw = dict(value="value", se="se", repetitions=1000, rii=True, value_type="proportion", seed=2)
    pos, neg = SlopeIndexOfInequality(frame, **kw), SlopeIndexOfInequality(frame, multiplier=-100, **kw)
    assert neg.sii == pytest.approx(-100 * pos.sii) and neg.rii == pytest.approx(1 / pos.rii)
    lim_p, lim_n = pos.summary().set_index("measure"), neg.summary().set_index("measure")
    # Same draws; PHE's positions round(R * 0.025) and round(R * 0.975) are not mirror images, so the flipped
    # limit is the neighbouring order statistic: equal to ~1e-4 relative, not exactly.
    assert lim_n.loc["sii", "ci_lower"] == pytest.approx(-100 * lim_p.loc["sii", "ci_upper"], rel=1e-3)
    assert lim_n.loc["rii", "ci_upper"] == pytest.approx(1 / lim_p.loc["rii", "ci_lower"], rel=1e-3)


# ---------------------------------------------------------------------------------------------------------------
# Gap, ratio, Wilson, concentration index: hand-worked cases
# ---------------------------------------------------------------------------------------------------------------
def test_wilson_interval_hand_worked():
    # 20/100, z = 1.959964: (2x + z^2 -/+ z sqrt(z^2 + 4x(1-p))) / (2(n + z^2))
    z = 1.959963984540054
    lo_hand = (40 + z**2 - z * math.sqrt(z**2 + 80 * 0.8)) / (2 * (100 + z**2))
    lo, hi = wilson_interval(20, 100)
    assert lo == pytest.approx(lo_hand, rel=1e-12) and lo == pytest.approx(0.1334, abs=5e-5)
    assert hi == pytest.approx(0.2888, abs=5e-5)
    assert np.isnan(wilson_interval(0, 0)[0])


def test_absolute_gap_newcombe_example():
    """The textbook example 56/70 vs 48/80: difference 0.2, hybrid-score limits 0.0524 to 0.3339."""
    est, lo, hi = absolute_gap(48, 80, 56, 70)  # most deprived 48/80, least deprived 56/70
    assert est == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=5e-5) and hi == pytest.approx(0.3339, abs=5e-5)
    est, lo, hi = absolute_gap(48, 80, 56, 70, multiplier=100)
    assert (est, lo, hi) == pytest.approx((20.0, 5.243, 33.387), abs=5e-3)
    assert np.isnan(absolute_gap(1, 0, 5, 10)[0])


def test_relative_gap_log_ratio_hand_worked():
    est, lo, hi = relative_gap(20, 100, 40, 100)  # p_least / p_most = 0.4 / 0.2
    se = math.sqrt(1 / 40 - 1 / 100 + 1 / 20 - 1 / 100)
    assert est == pytest.approx(2.0)
    assert lo == pytest.approx(2 * math.exp(-1.959963984540054 * se)) and lo == pytest.approx(1.2630, abs=1e-4)
    assert hi == pytest.approx(3.1670, abs=1e-4)
    inv = relative_gap(20, 100, 40, 100, multiplier=-1)
    assert inv == pytest.approx((0.5, 1 / hi, 1 / lo))
    assert np.isnan(relative_gap(0, 100, 40, 100)[0]) and np.isnan(relative_gap(10, 100, 0, 100)[1])


def test_concentration_index_hand_worked():
    # equal fifths, y = 1..5: R = .1,.3,.5,.7,.9; mean 3; cov_w(y, R) = 0.2*(0.8+0.2+0+0.2+0.8) = 0.4; C = 0.8/3
    assert concentration_index([1, 2, 3, 4, 5], [1, 1, 1, 1, 1]) == pytest.approx(4 / 15)
    assert concentration_index([5, 4, 3, 2, 1], [1, 1, 1, 1, 1]) == pytest.approx(-4 / 15)
    assert concentration_index([2, 2, 2, 2, 2], [3, 1, 4, 1, 5]) == pytest.approx(0.0, abs=1e-15)
    assert concentration_index([1, 2, 3, 4, 5], [1] * 5, most_deprived="last") == pytest.approx(-4 / 15)


def test_concentration_index_equals_one_minus_twice_the_curve_area():
    y = np.array([0.5, 0.42, 0.4, 0.31, 0.2])
    pop = np.array([3000, 1200, 800, 2500, 500])
    share = pop / pop.sum()
    cum_y = np.concatenate([[0], np.cumsum(share * y) / (share * y).sum()])
    area = (share * (cum_y[:-1] + cum_y[1:]) / 2).sum()  # trapezium rule under the concentration curve
    assert concentration_index(y, pop) == pytest.approx(1 - 2 * area, rel=1e-12)
    two_d = concentration_index(np.vstack([y, y[::-1]]), np.vstack([pop, pop]), axis=1)
    assert two_d[0] == pytest.approx(1 - 2 * area)


# ---------------------------------------------------------------------------------------------------------------
# equity_by_group
# ---------------------------------------------------------------------------------------------------------------
def synthetic_measures(n_months=3, n_practices=4, seed=0) -> pd.DataFrame:
    """Synthetic (not real) monthly measures: planted proportions 0.50, 0.55, ..., 0.70 for Q1..Q5."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2021-01-01", periods=n_months, freq="MS")
    idx = pd.MultiIndex.from_product([months, [f"P{i:04d}" for i in range(1, n_practices + 1)], [1, 2, 3, 4, 5]],
                                     names=["month", "practice_id", "imd_quintile"])
    frame = idx.to_frame(index=False)
    frame["denominator"] = rng.integers(1, 200, len(frame)) * 20
    frame["numerator"] = (frame["denominator"] * (0.45 + 0.05 * frame["imd_quintile"])).round().astype(int)
    return frame


def test_equity_by_group_recovers_planted_gap_and_matches_the_estimator():
    frame = synthetic_measures()
    out = equity_by_group(frame, by=["month"], measures=("gap", "ratio", "sii", "rii", "concentration_index"))
    assert list(out.columns) == ["month", "measure", "estimate", "ci_lower", "ci_upper"]
    assert len(out) == 3 * 5
    gap = out[out["measure"] == "gap"]["estimate"]
    ratio = out[out["measure"] == "ratio"]["estimate"]
    assert gap.to_numpy() == pytest.approx([20.0] * 3)  # 100 * (0.70 - 0.50)
    assert ratio.to_numpy() == pytest.approx([1.4] * 3)
    month = frame[frame["month"] == frame["month"].iloc[0]]
    pooled = month.groupby("imd_quintile", as_index=False)[["numerator", "denominator"]].sum()
    fit = SlopeIndexOfInequality(pooled, x="numerator", se="denominator", value_type="proportion",
                                 multiplier=100, repetitions=1000)  # se unused by the point estimate
    first = out[out["month"] == frame["month"].iloc[0]].set_index("measure")["estimate"]
    assert first["sii"] == pytest.approx(fit.sii, rel=1e-12) and first["rii"] == pytest.approx(fit.rii, rel=1e-12)
    p = pooled["numerator"] / pooled["denominator"]
    assert first["concentration_index"] == pytest.approx(concentration_index(p, pooled["denominator"]))
    assert out[out["measure"] == "sii"]["ci_lower"].isna().all()  # no simulation asked for


def test_equity_by_group_simulated_limits_equal_the_estimator_with_wilson_limits():
    frame = synthetic_measures(n_months=1)
    out = equity_by_group(frame, by=[], measures=("sii", "rii"), simulate=True, repetitions=2000, seed=7)
    pooled = frame.groupby("imd_quintile", as_index=False)[["numerator", "denominator"]].sum()
    lo, hi = wilson_interval(pooled["numerator"], pooled["denominator"])
    pooled["lo"], pooled["hi"] = lo, hi
    ref = phe_sii(pooled, "imd_quintile", "denominator", x="numerator", lower_cl="lo", upper_cl="hi",
                  value_type=2, multiplier=100, rii=True, repetitions=2000, seed=7).set_index("measure")
    got = out.set_index("measure")
    for m in ("sii", "rii"):
        assert got.loc[m, "ci_lower"] == ref.loc[m, "ci_lower"] and got.loc[m, "ci_upper"] == ref.loc[m, "ci_upper"]


def test_equity_by_group_empty_quintiles_give_nan_not_errors():
    frame = synthetic_measures(n_months=1, n_practices=2)
    frame.loc[(frame["practice_id"] == "P0001") & (frame["imd_quintile"] == 1), ["numerator", "denominator"]] = 0
    frame = frame[~((frame["practice_id"] == "P0002") & (frame["imd_quintile"] == 3))]  # row absent altogether
    out = equity_by_group(frame, by=["practice_id"]).set_index(["practice_id", "measure"])["estimate"]
    assert np.isnan(out[("P0001", "gap")]) and np.isnan(out[("P0001", "ratio")]) and np.isnan(out[("P0001", "sii")])
    assert np.isfinite(out[("P0002", "gap")]) and np.isnan(out[("P0002", "sii")])
    relaxed = equity_by_group(frame, by=["practice_id"], min_quintiles=4).set_index(["practice_id", "measure"])
    assert np.isfinite(relaxed.loc[("P0001", "sii"), "estimate"])
    assert 0 < relaxed.loc[("P0002", "sii"), "estimate"] < 40  # planted gradient rises from Q1 to Q5


def test_equity_by_group_quintile_at_0_or_100_percent_gets_no_simulated_interval():
    frame = synthetic_measures(n_months=1, n_practices=3)
    full = (frame["practice_id"] == "P0001") & (frame["imd_quintile"] == 5)
    empty = (frame["practice_id"] == "P0002") & (frame["imd_quintile"] == 2)
    frame.loc[full, "numerator"] = frame.loc[full, "denominator"]
    frame.loc[empty, "numerator"] = 0
    out = equity_by_group(frame, by=["practice_id"], simulate=True, repetitions=1000).set_index(
        ["practice_id", "measure"])
    for practice in ("P0001", "P0002"):
        for m in ("sii", "rii"):
            assert np.isfinite(out.loc[(practice, m), "estimate"])
            assert out.loc[(practice, m), ["ci_lower", "ci_upper"]].isna().all()
    assert out.loc[("P0003", "sii"), ["ci_lower", "ci_upper"]].notna().all()


def test_equity_by_group_is_fast_at_full_scale():
    frame = synthetic_measures(n_months=84, n_practices=285, seed=1)
    start = time.perf_counter()
    out = equity_by_group(frame, by=["month", "practice_id"])
    elapsed = time.perf_counter() - start
    assert len(out) == 84 * 285 * 4
    assert elapsed < 5.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(imd_quintile=f["imd_quintile"].where(f.index != 3, 6)),
         r"measures: column 'imd_quintile' must hold IMD quintiles .*row 3 has 6"),
        (lambda f: f.assign(numerator=f["numerator"].where(f.index != 2, -1)),
         r"column 'numerator' must be a non-negative count; row 2 has -1"),
        (lambda f: f.assign(numerator=f["numerator"].where(f.index != 4, 10**6)),
         r"row 4: 'numerator' \(1000000\) exceeds 'denominator'"),
        (lambda f: f.drop(columns="denominator"), r"measures: missing column\(s\) 'denominator'"),
        (lambda f: f.assign(denominator=f["denominator"].astype(str)), r"column 'denominator' must be numeric"),
    ],
)
def test_equity_by_group_errors(change, message):
    with pytest.raises(InputError, match=message):
        equity_by_group(change(synthetic_measures(n_months=1, n_practices=1)))


def test_equity_by_group_option_errors():
    frame = synthetic_measures(n_months=1, n_practices=1)
    with pytest.raises(InputError, match=r"measures must be a non-empty selection of .*got \['slope'\]"):
        equity_by_group(frame, measures=("slope",))
    with pytest.raises(InputError, match="min_quintiles must be between 2 and 5; got 6"):
        equity_by_group(frame, min_quintiles=6)


# ---------------------------------------------------------------------------------------------------------------
# SII input errors and warnings (PHE's checks; messages name the column and row)
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(value_type="rate2"), r"value_type should be 0, 1 or 2 .*got 'rate2'"),
        (dict(value_type=3), r"value_type should be 0, 1 or 2"),
        (dict(multiplier="none"), r"multiplier should be numeric; got 'none'"),
        (dict(multiplier=0), r"multiplier must be a finite non-zero number"),
        (dict(repetitions=0), r"number of repetitions must be a whole number, 1000 or greater"),
        (dict(repetitions="none"), r"repetitions should be numeric"),
        (dict(confidence=0.35), r"all confidence levels must be between 90 and 100 or between 0.9 and 1"),
        (dict(confidence=40), r"all confidence levels must be between 90 and 100"),
        (dict(confidence=135), r"all confidence levels must be between 90 and 100"),
        (dict(confidence=(95, "x")), r"confidence levels should be numeric; got 'x'"),
        (dict(transform=True, value_type=0), r"value_type should be 'rate' \(1\) or 'proportion' \(2\) when transform"),
        (dict(most_deprived="top"), r"most_deprived must be 'first' or 'last'; got 'top'"),
    ],
)
def test_settings_errors(options, message):
    with pytest.raises(InputError, match=message):
        SIISettings(**options)


@pytest.mark.parametrize(
    ("rows", "kw", "message"),
    [
        ((1, 20), dict(), r"SII requires a value column, or an x \(numerator\) column"),
        ((1, 20), dict(x="Count"), r"x \(numerator\) column can stand in for value only when value_type"),
        ((1, 20), dict(value="Value", lower_cl="LowerCL"), r"requires either lower_cl and upper_cl columns, or an se"),
        ((1, 20), dict(value="Value", se="StandardError", transform=True, value_type=1),
         r"se must be omitted when transform is true"),
        ((1, 20), dict(value="Value", se="Nope"), r"missing column\(s\) 'Nope'"),
        ((151, 10), dict(value="Value", se="StandardError", population="Grouping1"),
         r"column 'Grouping1' must be numeric"),
        ((151, 10), dict(value="Value", se="StandardError"),
         r"column 'Population' must be a positive population; row 152 \(Quantile 2\) has -200.0"),
        ((161, 5), dict(value="Value", se="StandardError"),
         r"column 'StandardError' must be a non-negative standard error; row 163 \(Quantile 3\) has -5.0"),
        ((191, 10), dict(value="Value", se="StandardError"), r"column 'StandardError' must be a non-negative"),
        ((191, 10), dict(value="Value", **CLS), r"column 'LowerCL' has a missing confidence limit; row 191"),
        ((181, 10), dict(value="Value", se="StandardError"), r"column 'Value' has a missing value; row 181"),
        ((166, 5), dict(x="Count", value_type=2, se="StandardError"),
         r"column 'Count' must be a positive count \(x\); row 168"),
        ((1, 20), dict(value="Value", value_type=2, se="StandardError"),
         r"column 'Value' must be a proportion between 0 and 1; row 1 "),
        ((171, 5), dict(value="Value", value_type=2, **CLS),
         r"column 'UpperCL' must be a confidence limit between 0 and 1; row 174"),
        ((176, 5), dict(value="Value", value_type=2, **CLS),
         r"column 'LowerCL' must be a confidence limit between 0 and 1; row 177"),
        ((1, 3), dict(value="Value", **CLS), r"number of quantiles in column 'Quantile' must be between 5 and 100; found 3"),
        ((1, 20), dict(value="Value", by=[], **CLS), r"row 1: quantile 1 appears more than once in its group"),
    ],
)
def test_sii_input_errors(sii_data, rows, kw, message):
    data = block(sii_data, *rows)
    # the R test for zero counts (rows 166:170) relies on the sheet's zero count at RecordNo 168
    kw = {"by": ["Area"], "population": "Population", **kw}
    with pytest.raises(InputError, match=message):
        SlopeIndexOfInequality(data, quantile="Quantile", repetitions=1000, **kw)


def test_sii_warns_and_drops_incomplete_groups(sii_data):
    data = block(sii_data, 1, 20).drop(index=16)  # area2 loses quantile 6
    with pytest.warns(UserWarning, match=r"some records have been removed .*'Area': 'area2'"):
        fit = SlopeIndexOfInequality(data, quantile="Quantile", population="Population", by=["Area"],
                                     value="Value", repetitions=1000, **CLS)
    assert fit.estimates["Area"].tolist() == ["area1"]


def test_sii_warns_with_many_quantiles(sii_data):
    with pytest.warns(UserWarning, match="Small values can make SII unstable"):
        SlopeIndexOfInequality(block(sii_data, 211, 15), quantile="Quantile", population="Population",
                               value="Value", repetitions=1000, **CLS)


def test_scalar_attributes_need_a_single_group(sii_data):
    fit = SlopeIndexOfInequality(block(sii_data, 1, 20), quantile="Quantile", population="Population",
                                 by=["Area"], value="Value", repetitions=1000, **SE)
    with pytest.raises(InputError, match=re.escape("2 groups were fitted; read .estimates['sii'] instead")):
        _ = fit.sii


# ---------------------------------------------------------------------------------------------------------------
# Presentation and documentation
# ---------------------------------------------------------------------------------------------------------------
def test_result_protocol(sii_data):
    data = block(sii_data, 366, 20)
    fit = SlopeIndexOfInequality(data, quantile="Quantile", population="Population", by=["Area"], value="Value",
                                 value_type=1, transform=True, rii=True, intercept=True, confidence=(95, 98),
                                 reliability_stat=True, repetitions=2000, **CLS)
    assert isinstance(fit, Estimator)
    tidy, summary, effect = fit.tidy(), fit.summary(), fit.effect_summary()
    for frame in (tidy, summary, effect, fit.effect_summary("rii")):
        check_tidy(frame)
    assert list(tidy.columns[:3]) == ["Area", "measure", "confidence"] and tidy.columns[-1] == "ci_mad"
    assert set(tidy["measure"]) == {"sii", "rii", "intercept"}
    assert tidy["std_error"].isna().all() and tidy["p_value"].isna().all()  # simulated limits: no SE, no p
    pd.testing.assert_frame_equal(summary[tidy.columns], tidy)
    assert (summary["repetitions"] == 2000).all() and (summary["quantiles"] == 10).all()
    assert (effect["measure"] == "sii").all() and len(effect) == 2 * 2  # two areas, two levels
    pd.testing.assert_frame_equal(phe_sii(data, "Quantile", "Population", by=["Area"], value="Value", value_type=1,
                                          transform=True, rii=True, intercept=True, confidence=(95, 98),
                                          reliability_stat=True, repetitions=2000, **CLS), tidy)
    with pytest.raises(InputError, match="measure must be one of"):
        fit.effect_summary("gap")
    with pytest.raises(InputError, match=r"no 'rii' rows: pass rii=True"):
        SlopeIndexOfInequality(data, quantile="Quantile", population="Population", by=["Area"], value="Value",
                               repetitions=1000, **CLS).effect_summary("rii")
    assert not hasattr(fit, "plot")  # estimators never draw: beyond_averages.report.equity does


def test_effect_sentence_and_figure(sii_data):
    import matplotlib.pyplot as plt

    data = block(sii_data, 1, 10)
    fit = SlopeIndexOfInequality(data, quantile="Quantile", population="Population", value="Value",
                                 repetitions=2000, seed=1, **SE)
    sentence = sii_sentence(fit.effect_summary(), unit=" years")
    assert sentence.startswith("The slope index of inequality is 6.93 years (95% CI ")
    assert "6.93 years higher at the least deprived end" in sentence
    lines = fit.plot_data()
    fitted = lines[lines["kind"] == "fitted"]
    assert fitted["fitted"].iloc[0] == pytest.approx(fit.intercept)
    assert fitted["fitted"].iloc[-1] == pytest.approx(fit.intercept + fit.sii)
    fig, ax = sii_figure(fit)
    assert ax.get_xlim() == (0.0, 1.0)
    plt.close(fig)


def test_transformed_plot_line_ends_at_the_back_transformed_fit(sii_data):
    data = block(sii_data, 346, 10)
    fit = SlopeIndexOfInequality(data, quantile="Quantile", population="Population", value="Value", value_type=2,
                                 transform=True, multiplier=-1, repetitions=1000, **CLS)
    fitted = fit.plot_data().query("kind == 'fitted'")["fitted"]
    assert fitted.iloc[0] == pytest.approx(fit.intercept) and fitted.iloc[-1] == pytest.approx(fit.intercept - fit.sii)


def test_docs_example_runs():
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/equity.md must contain a ```python example"
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - executing our own documentation
