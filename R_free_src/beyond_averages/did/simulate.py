"""Seeded simulated panels with planted effects, and the Monte Carlo comparing TWFE with the group-time ATT.

Everything here is SYNTHETIC: pure functions of their arguments and seed (``numpy.random.default_rng``), used by
tests, the docs example and the bench script. No real practice or person is represented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from beyond_averages.deprivation import QUINTILES
from beyond_averages.did.staggered import GroupTimeATT
from beyond_averages.did.twfe import TwoWayFixedEffects

#: Planted programme effects (percentage points) by IMD quintile 1..5 (1 = most deprived).
SCENARIOS: dict[str, tuple[float, ...]] = {
    "null": (0.0, 0.0, 0.0, 0.0, 0.0),
    "uniform": (4.0, 4.0, 4.0, 4.0, 4.0),
    "narrowing": (8.0, 6.0, 4.0, 2.0, 1.0),  # larger gain in Q1, where the indicator starts lower
    "widening": (1.0, 2.0, 4.0, 6.0, 8.0),
}


def simulate_staggered_panel(
    n_units: int = 300, n_periods: int = 10, waves: Sequence[int] = (4, 6, 8),
    wave_shares: Sequence[float] = (0.2, 0.2, 0.2), heterogeneous: bool = True, noise_sd: float = 1.0,
    seed: int = 1,
) -> pd.DataFrame:
    """A balanced panel ``unit, period (1..T), first_treated (0 = never), y, true_effect``.

    ``waves`` are the adoption periods and ``wave_shares`` the share of units adopting in each (the rest never
    adopt). ``y = unit effect + period effect + true_effect + noise``. With ``heterogeneous`` the effect differs by
    wave and grows with exposure: wave k (0-based, earliest first) has ``(3 - k) * (1 + 0.5 * e)`` at event time
    e >= 0, the setting in which static TWFE is biased (already-treated units act as controls). Otherwise the effect
    is 2.
    """
    rng = np.random.default_rng(seed)
    shares = np.asarray(wave_shares, dtype=float)
    probs = np.append(shares, 1 - shares.sum())
    which = rng.choice(len(probs), size=n_units, p=probs)
    first = np.where(which < len(waves), np.asarray(list(waves) + [0])[which], 0)
    alpha = rng.normal(0, 1, n_units) + 0.3 * which  # level differences between waves
    period = np.arange(1, n_periods + 1)
    lam = 0.3 * period + rng.normal(0, 0.2, n_periods)
    e = period[None, :] - first[:, None]
    treated = (first[:, None] > 0) & (e >= 0)
    if heterogeneous:
        k = np.where(which < len(waves), which, 0)[:, None]
        tau = np.where(treated, (3.0 - k) * (1.0 + 0.5 * e), 0.0)
    else:
        tau = np.where(treated, 2.0, 0.0)
    y = alpha[:, None] + lam[None, :] + tau + rng.normal(0, noise_sd, (n_units, n_periods))
    return pd.DataFrame({
        "unit": np.repeat(np.arange(1, n_units + 1), n_periods), "period": np.tile(period, n_units),
        "first_treated": np.repeat(first, n_periods), "y": y.ravel(), "true_effect": tau.ravel(),
    })


def simulate_measures_panel(
    n_practices: int = 60, n_months: int = 36, start: str = "2019-01-01",
    waves: Sequence[str] = ("2020-04-01", "2020-10-01"), adopt_share: float = 0.4,
    effects: str | Mapping[int, float] | Sequence[float] = "narrowing", mean_list_size: int = 1500,
    zero_cell_share: float = 0.02, area: str = "synthetic", seed: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A SYNTHETIC measures table and programme table in the compendium's schema.

    Returns ``(measures, programme)``: measures has ``area, month, practice_id, imd_quintile, numerator,
    denominator`` for every month x practice x quintile (some denominators 0); programme has ``practice_id,
    programme_start`` for adopters only, split evenly over ``waves``. The indicator starts lower in more deprived
    quintiles (about 55% in Q1 to 70% in Q5, plus practice and month effects); adopters gain ``effects[q]``
    percentage points in quintile q from their start month on (a scenario name from :data:`SCENARIOS` or five
    numbers).
    """
    rng = np.random.default_rng(seed)
    eff = np.asarray(SCENARIOS[effects] if isinstance(effects, str) else
                     [effects[q] for q in QUINTILES] if isinstance(effects, Mapping) else effects, dtype=float)
    months = pd.date_range(start, periods=n_months, freq="MS")
    pids = [f"P{i:04d}" for i in range(1, n_practices + 1)]
    n_adopt = int(round(adopt_share * n_practices))
    adopters = rng.choice(n_practices, n_adopt, replace=False)
    starts = np.full(n_practices, np.datetime64("NaT"), dtype="datetime64[ns]")
    for j, idx in enumerate(np.sort(adopters)):
        starts[idx] = np.datetime64(pd.Timestamp(waves[j % len(waves)]))
    size = rng.gamma(4.0, mean_list_size / 4.0, n_practices)
    mix = rng.dirichlet(np.full(5, 1.5), n_practices)
    base_q = np.array([55.0, 59.0, 63.0, 66.0, 70.0])
    practice_re = rng.normal(0, 4, n_practices)
    trend = 3.0 * np.sin(np.arange(n_months) / 6.0)
    rows = []
    for i, pid in enumerate(pids):
        den_q = rng.poisson(size[i] * mix[i])
        den_q[rng.random(5) < zero_cell_share] = 0
        for q in range(5):
            den = rng.binomial(den_q[q], 0.97, n_months) if den_q[q] > 0 else np.zeros(n_months, int)
            on = ~np.isnat(starts[i]) & (months.values >= starts[i])
            p = np.clip((base_q[q] + practice_re[i] + trend + eff[q] * on) / 100.0, 0.01, 0.99)
            num = rng.binomial(den, p)
            rows.append(pd.DataFrame({"month": months, "practice_id": pid, "imd_quintile": q + 1,
                                      "numerator": num, "denominator": den}))
    measures = pd.concat(rows, ignore_index=True)
    measures.insert(0, "area", area)
    measures["imd_quintile"] = measures["imd_quintile"].astype("int64")
    adopt = ~np.isnat(starts)
    programme = pd.DataFrame({"practice_id": np.array(pids)[adopt], "programme_start": starts[adopt]})
    return measures, programme


def population_att(waves: Sequence[int] = (4, 6, 8), wave_shares: Sequence[float] = (0.2, 0.2, 0.2),
                   n_periods: int = 10, heterogeneous: bool = True) -> float:
    """The ATT over treated post-adoption unit-periods in the population of :func:`simulate_staggered_panel`
    (waves in their expected shares): the estimand of the simple group-time aggregation."""
    num = den = 0.0
    for k, (g, share) in enumerate(zip(waves, wave_shares)):
        e = np.arange(0, n_periods - g + 1)
        tau = (3.0 - k) * (1.0 + 0.5 * e) if heterogeneous else np.full(e.size, 2.0)
        num += share * tau.sum()
        den += share * e.size
    return float(num / den)


def monte_carlo(n_sims: int = 200, seed: int = 2024, n_units: int = 300, n_periods: int = 10,
                heterogeneous: bool = True) -> pd.DataFrame:
    """Bias, RMSE and 95% CI coverage of static TWFE and the group-time ATT (simple aggregation, never-treated
    comparison, analytic SEs) on :func:`simulate_staggered_panel` draws (seeds ``seed + i``).

    The target is :func:`population_att`; ``coverage_sample`` is coverage of each draw's own ATT (wave shares as
    drawn), which the group-time SE over-covers by design because it also carries the uncertainty of the shares.
    """
    target = population_att(n_periods=n_periods, heterogeneous=heterogeneous)
    recs = []
    for i in range(n_sims):
        d = simulate_staggered_panel(n_units=n_units, n_periods=n_periods, heterogeneous=heterogeneous, seed=seed + i)
        post = (d["first_treated"] > 0) & (d["period"] >= d["first_treated"])
        sample = float(d.loc[post, "true_effect"].mean())
        args = dict(outcome="y", unit="unit", time="period", first_treated="first_treated")
        tw = TwoWayFixedEffects(d, **args).tidy().iloc[0]
        cs = GroupTimeATT(d, **args).tidy().iloc[0]
        for name, r in (("twfe", tw), ("group_time_att", cs)):
            recs.append({"estimator": name, "sim": i, "estimate": r["estimate"], "std_error": r["std_error"],
                         "covered": r["ci_lower"] <= target <= r["ci_upper"],
                         "covered_sample": r["ci_lower"] <= sample <= r["ci_upper"]})
    res = pd.DataFrame(recs)
    res["error"] = res["estimate"] - target
    out = res.groupby("estimator", sort=False).agg(
        n_sims=("sim", "size"), mean_estimate=("estimate", "mean"), bias=("error", "mean"),
        rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))), coverage=("covered", "mean"),
        coverage_sample=("covered_sample", "mean"), mean_std_error=("std_error", "mean"),
        sd_estimate=("estimate", "std"),
    ).reset_index()
    out.insert(1, "true_att", target)
    return out
