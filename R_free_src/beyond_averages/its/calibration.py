"""Calibration of the Q1-vs-Q5 test: how often it rejects on simulated series (its size under the null, its
power on planted differences). ``docs/its.md`` has the table these functions reproduce; ``make bench`` runs them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages.its.comparative import QuintileContrastITS
from beyond_averages.its.simulate import simulate_quintile_series


def rejection_rate(scenario: str = "null", n_sims: int = 200, seed: int = 20240401, *, alpha: float = 0.05,
                   rho: float = 0.3, **options) -> pd.DataFrame:
    """Share of simulated series in which the Q1-vs-Q5 difference test rejects at ``alpha`` (a false-positive rate
    for ``scenario="null"``, power otherwise).

    Replicate ``i`` is :func:`beyond_averages.its.simulate.simulate_quintile_series` (``scenario``, AR(1) noise
    ``rho``, seed ``seed + i``, 84 months, interruption April 2021) fitted with :class:`QuintileContrastITS`;
    ``options`` are ITSSettings fields, by default gaussian, Fourier seasonality and ``autocorrelation='gls'`` (REML
    GLS, errors AR(1) plus white noise, on the difference series: the chapter's default). Returns one row per term:
    ``term, rejection_rate, mc_std_error, n_sims, nominal``, with ``mc_std_error = sqrt(r (1 - r) / n_sims)``.
    """
    opts = {"family": "gaussian", "seasonality": "fourier", "autocorrelation": "gls", "alpha": alpha, **options}
    hits = {"level_change_difference": 0, "slope_change_difference": 0}
    for i in range(int(n_sims)):
        data = simulate_quintile_series(scenario, seed=seed + i, rho=rho)
        tab = QuintileContrastITS(data, "2021-04-01", **opts).contrast_summary().set_index("term")
        for term in hits:
            hits[term] += int(tab.loc[term, "p_value"] < alpha)
    rates = {k: v / n_sims for k, v in hits.items()}
    return pd.DataFrame({"term": list(rates), "rejection_rate": list(rates.values()),
                         "mc_std_error": [np.sqrt(r * (1 - r) / n_sims) for r in rates.values()],
                         "n_sims": int(n_sims), "nominal": alpha})


def null_rejection_rate(n_sims: int = 200, seed: int = 20240401, *, alpha: float = 0.05, rho: float = 0.3,
                        **options) -> pd.DataFrame:
    """False-positive rate of the Q1-vs-Q5 difference test on NULL-scenario simulations: :func:`rejection_rate`
    with ``scenario="null"``; the default ``autocorrelation`` is the chapter's, ``'gls'`` (pass
    ``autocorrelation='newey_west'`` etc. to check the other options)."""
    return rejection_rate("null", n_sims, seed, alpha=alpha, rho=rho, **options)
