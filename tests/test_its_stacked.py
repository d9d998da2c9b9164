"""The stacked controlled ITS of every adoption wave (:class:`beyond_averages.its.StackedControlledITS`), the ITS
chapter's headline: it recovers a planted event-time effect, its Q1 - Q5 row is the Q1 row minus the Q5 row, its
autocorrelation rule picks the AR model for AR(1) errors and not for white noise, and it says what it cannot do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from beyond_averages.files import InputError
from beyond_averages.its import StackedControlledITS
from beyond_averages.its.error_models import autocorrelation_rule

MONTHS = pd.date_range("2017-01-01", periods=84, freq="MS")
STARTS = {1: pd.Timestamp("2021-04-01"), 2: pd.Timestamp("2021-10-01"), 3: pd.Timestamp("2022-04-01")}
DEN = 1_000_000  # large denominators: the rate carries the simulated noise, not rounding


def ramp(e: np.ndarray, size: float) -> np.ndarray:
    """A planted effect that builds up over 12 months (not linear in event time), zero before the start."""
    return size * np.clip((e + 1) / 12, 0, 1) * (e >= 0)


def ar1(n: int, phi: float, sd: float, rng) -> np.ndarray:
    """AR(1) noise, stationary from the first month; ``phi = 1`` is a random walk started at 0."""
    out = np.zeros(n)
    out[0] = rng.normal(0, sd / np.sqrt(1 - phi ** 2)) if phi < 1 else 0.0
    for t in range(1, n):
        out[t] = phi * out[t - 1] + rng.normal(0, sd)
    return out


def simulate(effects: dict[int, float], *, phi: float = 0.0, sd: float = 0.05, seed: int = 1) -> pd.DataFrame:
    """Rows wave x quintile x arm x month: a seasonal, trending comparison series shared by the waves, and each
    wave's adopters = comparison + own offset and trend + the planted ramp (percentage points) + noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(MONTHS))
    season = 0.4 * np.sin(2 * np.pi * MONTHS.month.to_numpy() / 12)
    rows = []
    for q, size in effects.items():
        control = 70 + 0.02 * t + season + ar1(len(t), phi, sd, rng)
        for w, start in STARTS.items():
            e = t - int(np.searchsorted(MONTHS, start))
            treated = control + 1.5 * w - 0.01 * w * t + ramp(e, size) + ar1(len(t), phi, sd, rng)
            for arm, rate in (("programme", treated), ("comparison", control)):
                rows.append(pd.DataFrame({"wave": w, "imd_quintile": q, "arm": arm, "month": MONTHS,
                                          "numerator": np.round(rate / 100 * DEN), "denominator": float(DEN),
                                          "n_practices": 10}))
    return pd.concat(rows, ignore_index=True)


PLANTED = {1: 4.0, 2: 3.0, 3: 2.5, 4: 2.0, 5: 1.0}


@pytest.fixture(scope="module")
def fitted():
    return StackedControlledITS(simulate(PLANTED, seed=3), STARTS, seasonality="fourier", harmonics=2)


def test_recovers_a_planted_event_time_effect(fitted):
    eff = fitted.effect_summary((3, 6, 12, 24)).set_index(["group", "horizon"])
    covered = []
    for q, size in PLANTED.items():
        for h in (3, 6, 12, 24):
            truth = float(ramp(np.array([h]), size)[0])
            row = eff.loc[(str(q), h)]
            covered.append(row["ci_lower"] <= truth <= row["ci_upper"])
            assert abs(row["estimate"] - truth) < 0.1, (q, h, row["estimate"], truth)
    # 20 intervals at 95%: about one misses by chance (this seed: one); three or more would be wrong intervals
    assert sum(covered) >= 18, covered
    # a ramp is not linear in event time: at 3 months the effect is a quarter of its size, not a straight line's
    assert eff.loc[("1", 3), "estimate"] == pytest.approx(4.0 * 4 / 12, abs=0.1)


def test_contrast_row_is_the_difference_of_the_rows(fitted):
    eff = fitted.effect_summary((6, 12, 24)).set_index(["group", "horizon"])
    for h in (6, 12, 24):
        assert eff.loc[("1 - 5", h), "estimate"] == pytest.approx(
            eff.loc[("1", h), "estimate"] - eff.loc[("5", h), "estimate"], abs=1e-9)
    truth = float(ramp(np.array([24]), PLANTED[1] - PLANTED[5])[0])
    row = eff.loc[("1 - 5", 24)]
    assert row["ci_lower"] <= truth <= row["ci_upper"]


def test_horizon_averages_only_the_waves_followed_that_long(fitted):
    # wave 3 starts April 2022 and the series ends December 2023: followed for 20 months, not 24
    assert fitted.last_event_ == {1: 32, 2: 26, 3: 20}
    w24 = fitted.horizon_weights(24)
    assert set(w24) == {1, 2} and sum(w24.values()) == pytest.approx(1.0)
    eff = fitted.effect_summary((12, 24))
    assert set(eff.loc[eff["horizon"] == 24, "waves"]) == {"1, 2"}
    by_wave = fitted.effect_summary((24,), by_wave=True)
    one = by_wave[by_wave["group"] == "1"].set_index("wave")["estimate"]
    pooled = eff[(eff["group"] == "1") & (eff["horizon"] == 24)]["estimate"].iloc[0]
    assert pooled == pytest.approx(sum(w24[w] * one[w] for w in w24))
    with pytest.raises(InputError, match="no wave is followed for 40 months"):
        fitted.effect_summary((40,))


def test_rule_picks_ar_errors_for_ar1_residuals_and_not_for_white_noise():
    """Over 200 sets of three 60-month series: AR(1) residuals (phi = 0.6) -> the AR model essentially always; white
    noise -> independent errors except when one of the three Ljung-Box tests rejects by chance (1 - 0.95^3 = 14%)."""
    rng = np.random.default_rng(5)
    ar = [autocorrelation_rule([ar1(60, 0.6, 1.0, rng) for _ in range(3)])[0] for _ in range(200)]
    white = [autocorrelation_rule([rng.normal(size=60) for _ in range(3)])[0] for _ in range(200)]
    assert np.mean([c == "autocorrelated" for c in ar]) >= 0.97
    share = np.mean([c == "autocorrelated" for c in white])
    assert 0.065 <= share <= 0.215, share   # 14% +- 3 binomial standard errors


def test_estimator_reports_the_rules_choice():
    ar = StackedControlledITS(simulate({1: 2.0, 5: 1.0}, phi=0.7, sd=0.1, seed=8), STARTS)
    white = StackedControlledITS(simulate({1: 2.0, 5: 1.0}, phi=0.0, sd=0.1, seed=8), STARTS)
    d_ar, d_white = ar.diagnostics().set_index("group"), white.diagnostics().set_index("group")
    assert (d_ar["autocorrelation"] == "ar1_noise").all(), d_ar
    assert (d_ar["ar"] > 0.3).all(), d_ar["ar"]
    assert (d_white["autocorrelation"] == "independent").all(), d_white
    # a random walk (a look-back indicator's wander): the rule prefers it by REML and the intervals widen with h
    walk = StackedControlledITS(simulate({1: 2.0, 5: 1.0}, phi=1.0, sd=0.1, seed=8), STARTS)
    d_walk = walk.diagnostics().set_index("group")
    assert (d_walk["autocorrelation"] == "random_walk").all(), d_walk
    assert (d_walk["loglik_random_walk"] > d_walk["loglik_ar1_noise"] - 2).all()
    assert (d_ar["loglik_ar1_noise"] > d_ar["loglik_random_walk"] + 2).all(), d_ar
    se = walk.effect_summary((6, 12, 24)).query("group == '1'")["std_error"].to_numpy()
    assert se[0] < se[1] < se[2], se
    # with autocorrelated errors the intervals are wider than the same data's would be under independence
    forced = StackedControlledITS(simulate({1: 2.0, 5: 1.0}, phi=0.7, sd=0.1, seed=8), STARTS,
                                  autocorrelation="independent")
    se_ar = ar.effect_summary((24,))["std_error"].to_numpy()
    se_forced = forced.effect_summary((24,))["std_error"].to_numpy()
    assert (se_ar > se_forced).all()


def test_bad_input_names_the_problem():
    data = simulate({1: 1.0, 5: 1.0}, seed=2)
    with pytest.raises(InputError, match=r"no start month given for wave\(s\) \[3\] of column 'wave'"):
        StackedControlledITS(data, {1: STARTS[1], 2: STARTS[2]})
    with pytest.raises(InputError, match="'month' must hold consecutive months"):
        StackedControlledITS(data[data["month"] != MONTHS[10]], STARTS)
    with pytest.raises(InputError, match="autocorrelation 'hac' is not one of"):
        StackedControlledITS(data, STARTS, autocorrelation="hac")
    with pytest.raises(InputError, match="wave 1 starts 2017-03-01, leaving 2 months before it"):
        StackedControlledITS(data, {**STARTS, 1: pd.Timestamp("2017-03-01")})


def test_truth_of_the_stacked_estimand_by_hand():
    """recovery.its_stacked_truth: each wave's pooled effect in its month start + h, averaged with the estimator's
    wave weights. Two waves of one practice each; wave 2 is not followed 3 months, so 3 months is wave 1 alone."""
    from types import SimpleNamespace

    from beyond_averages.recovery import its_stacked_truth

    months = pd.date_range("2021-01-01", periods=6, freq="MS")
    programme = pd.DataFrame({"practice_id": ["A", "B"],
                              "programme_start": pd.to_datetime(["2021-02-01", "2021-04-01"])})
    rows = []
    for pid, start in zip(programme["practice_id"], programme["programme_start"]):
        for q, gain in ((1, 20), (5, 10)):
            for m in months:
                e = (m.year - start.year) * 12 + m.month - start.month
                cf = 500
                rows.append({"practice_id": pid, "imd_quintile": q, "month": m, "denominator": 1000,
                             "numerator_counterfactual": cf,
                             "numerator": cf + (gain * (e + 1) * (2 if pid == "B" else 1) if e >= 0 else 0)})
    joined = pd.DataFrame(rows)
    weights = {1: {1: 0.25, 2: 0.75}, 3: {1: 1.0}}
    fake = SimpleNamespace(horizon_weights=lambda h: weights[h])
    truth = its_stacked_truth(joined, programme, fake, (1, 3)).set_index(["horizon", "target"])["truth"]
    # h = 1: wave 1 (A) gains 20 * 2 = 40 of 1000 in Q1 (4 pp), wave 2 (B) 2 * 20 * 2 = 80 (8 pp): 0.25 * 4 + 0.75 * 8
    assert truth[(1, "1")] == pytest.approx(0.25 * 4 + 0.75 * 8)
    assert truth[(1, "5")] == pytest.approx(0.25 * 2 + 0.75 * 4)
    assert truth[(1, "1-5")] == pytest.approx(truth[(1, "1")] - truth[(1, "5")])
    assert truth[(3, "1")] == pytest.approx(8.0)  # wave 1 alone: 20 * 4 of 1000


def test_block_reml_is_the_chapters_gls_likelihood():
    """On one block the AR(1)-plus-noise REML fit equals beyond_averages.its.inference.fit_gls_arma's, so the two
    error models the rule compares are fitted by the calibrated likelihood."""
    from beyond_averages.its.inference import fit_gls_arma
    from beyond_averages.its.error_models import fit_ar1_noise

    rng = np.random.default_rng(1)
    y_noise = ar1(60, 0.7, 1.0, rng) + rng.normal(0, 0.5, 60)
    X = np.column_stack([np.ones(60), np.arange(60.0)])
    y = X @ np.array([1.0, 0.1]) + y_noise
    errors = fit_gls_arma(y, X, np.arange(60), structure="ar1_noise")[3]
    phi, white, sigma2, loglik = fit_ar1_noise(y, X, [60])
    # same likelihood; the optimiser stops within its tolerance of the same maximum
    assert phi == pytest.approx(errors.phi[0], abs=1e-3)
    assert white == pytest.approx(errors.white_share, abs=1e-3)
    assert sigma2 == pytest.approx(errors.sigma2, rel=1e-3)
    assert loglik == pytest.approx(errors.loglik, abs=1e-5)
