"""Seeded generators of SYNTHETIC monthly series for testing the ITS estimators (no real person or practice).

* :func:`simulate_quintile_series` -- one aggregated monthly series per IMD quintile with a planted level and slope
  change at the interruption (scenarios null, uniform, narrowing, widening).
* :func:`simulate_measures_demo` -- a small measures-shaped table (month x practice x quintile) and programme table
  with staggered adoption waves, for running the ITS chapter before the real measures exist.

Same seed -> same numbers bit for bit.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from beyond_averages.deprivation import QUINTILES
from beyond_averages.files import InputError

Scenario = Literal["null", "uniform", "narrowing", "widening"]

# Effect multiplier per quintile (Q1 most deprived): narrowing = bigger gain in Q1, widening = bigger gain in Q5.
SCENARIO_MULTIPLIERS: dict[str, dict[int, float]] = {
    "null": {q: 0.0 for q in QUINTILES},
    "uniform": {q: 1.0 for q in QUINTILES},
    "narrowing": {1: 1.5, 2: 1.25, 3: 1.0, 4: 0.75, 5: 0.5},
    "widening": {1: 0.5, 2: 0.75, 3: 1.0, 4: 1.25, 5: 1.5},
}


def _multipliers(scenario: str) -> dict[int, float]:
    if scenario not in SCENARIO_MULTIPLIERS:
        raise InputError(f"scenario {scenario!r} is not one of {', '.join(SCENARIO_MULTIPLIERS)}")
    return SCENARIO_MULTIPLIERS[scenario]


def simulate_quintile_series(scenario: Scenario = "uniform", *, seed: int = 1, start: str = "2017-01-01",
                             n_months: int = 84, interruption: str = "2021-04-01", level_effect: float = 0.03,
                             slope_effect: float = 0.001, baseline: float = 0.55, baseline_step: float = 0.04,
                             trend: float = 0.0005, seasonal_amplitude: float = 0.01, rho: float = 0.3,
                             noise_sd: float = 0.004, denominator: int = 20_000) -> pd.DataFrame:
    """Monthly proportions by quintile with a planted effect (all effects on the proportion scale, 0-1).

    Quintile q has baseline ``baseline + (q - 1) * baseline_step`` (Q1 lowest), a common linear ``trend`` per
    month, an annual sinusoid, AR(1) noise (``rho``, innovation SD ``noise_sd``) and binomial sampling of
    ``denominator`` patients. From the interruption (the first post month) quintile q gains
    ``m_q * (level_effect + slope_effect * months_since)``, with ``m_q`` from :data:`SCENARIO_MULTIPLIERS`.
    Columns: ``month, imd_quintile, numerator, denominator, true_level, true_slope``.
    """
    mult = _multipliers(scenario)
    rng = np.random.default_rng(seed)
    months = pd.date_range(start, periods=n_months, freq="MS")
    t = np.arange(n_months)
    since = (months.year * 12 + months.month - (pd.Timestamp(interruption).year * 12
                                                 + pd.Timestamp(interruption).month)).to_numpy()
    post = (since >= 0).astype(float)
    season = seasonal_amplitude * np.sin(2 * np.pi * months.month.to_numpy() / 12)
    frames = []
    for q in QUINTILES:
        eps = rng.normal(0, noise_sd, n_months)
        ar = np.zeros(n_months)
        for i in range(n_months):
            ar[i] = (rho * ar[i - 1] if i else 0.0) + eps[i]
        p = (baseline + (q - 1) * baseline_step + trend * t + season + ar
             + mult[q] * post * (level_effect + slope_effect * since))
        p = np.clip(p, 0.001, 0.999)
        num = rng.binomial(denominator, p)
        frames.append(pd.DataFrame({"month": months, "imd_quintile": q, "numerator": num,
                                    "denominator": denominator, "true_level": mult[q] * level_effect,
                                    "true_slope": mult[q] * slope_effect}))
    return pd.concat(frames, ignore_index=True)


def simulate_measures_demo(scenario: Scenario = "narrowing", *, seed: int = 7, n_practices: int = 40,
                           area: str = "demo", start: str = "2017-01-01", n_months: int = 84,
                           waves: tuple[str, ...] = ("2021-04-01", "2021-10-01", "2022-04-01"),
                           adoption_share: float = 0.4, level_effect: float = 0.04,
                           slope_effect: float = 0.001) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A SYNTHETIC measures table and programme table in the compendium's schema.

    Measures: ``area, month, practice_id, imd_quintile, numerator, denominator`` (one row per month x practice x
    quintile; some practice x quintile cells have zero denominators). Programme: ``practice_id, programme_start``
    for the ~``adoption_share`` of practices that adopt, spread over ``waves``. Recording dips in April-May 2020
    (COVID-19) and recovers by August 2020. Adopting practices gain ``m_q * (level_effect + slope_effect * k)``
    ``k`` months after their own start.
    """
    mult = _multipliers(scenario)
    rng = np.random.default_rng(seed)
    months = pd.date_range(start, periods=n_months, freq="MS")
    m_idx = (months.year * 12 + months.month - 1).to_numpy()
    covid = np.zeros(n_months)
    for date, dip in (("2020-04-01", 0.12), ("2020-05-01", 0.10), ("2020-06-01", 0.06), ("2020-07-01", 0.03)):
        covid[months == pd.Timestamp(date)] = dip
    season = 0.01 * np.sin(2 * np.pi * months.month.to_numpy() / 12)
    ids = [f"P{i + 1:04d}" for i in range(n_practices)]
    n_adopt = int(round(adoption_share * n_practices))
    adopters = rng.choice(n_practices, size=n_adopt, replace=False)
    starts = {ids[a]: pd.Timestamp(waves[k % len(waves)]) for k, a in enumerate(sorted(adopters))}
    rows = []
    for i, pid in enumerate(ids):
        mix = rng.dirichlet(np.full(5, 1.5))
        size = rng.integers(1500, 4000)
        practice_effect = rng.normal(0, 0.03)
        start_m = m_idx[0] - 1 if pid not in starts else starts[pid].year * 12 + starts[pid].month - 1
        since = m_idx - start_m
        treated = (pid in starts) & (since >= 0)
        for q in QUINTILES:
            den = rng.binomial(size, mix[q - 1]) * np.ones(n_months, dtype=np.int64)
            if mix[q - 1] < 0.03:
                den[:] = 0  # a practice with (almost) no patients in this quintile
            p = (0.55 + 0.04 * (q - 1) + practice_effect + 0.0004 * np.arange(n_months) + season - covid
                 + np.where(treated, mult[q] * (level_effect + slope_effect * since), 0.0))
            num = rng.binomial(den, np.clip(p, 0.01, 0.99))
            rows.append(pd.DataFrame({"area": area, "month": months, "practice_id": pid, "imd_quintile": q,
                                      "numerator": num, "denominator": den}))
    measures = pd.concat(rows, ignore_index=True)
    programme = pd.DataFrame({"practice_id": list(starts), "programme_start": list(starts.values())})
    programme["programme_start"] = pd.to_datetime(programme["programme_start"]).astype("datetime64[ns]")
    measures["month"] = measures["month"].astype("datetime64[ns]")
    return measures, programme.sort_values("practice_id", ignore_index=True)
