"""Interrupted time series of a continuous outcome: the monthly mean of the first wave's adopting practices against
practices that never adopted, by IMD quintile, with the Gaussian family (:class:`ControlledQuintileITS`: the
controlled difference per quintile and the Q1 - Q5 difference of the controlled effects).

The series are the pooled means (sum of the latest values over the number with one) of each arm, quintile and
month, from the value measures (:mod:`beyond_averages.measures.values`). They enter the models unrounded: only
model estimates reach a page.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from beyond_averages.its.comparative import ControlledQuintileITS
from beyond_averages.its.settings import ITSSettings

PROGRAMME, COMPARISON = "programme", "comparison"


def arm_mean_series(panel: pd.DataFrame, wave_start) -> pd.DataFrame:
    """``month, imd_quintile, arm, value_n, mean``: the practices that adopted at ``wave_start`` (``programme``)
    and those that never adopted (``comparison``), sums pooled per month and quintile."""
    start = panel["programme_start"]
    arm = np.where(start == pd.Timestamp(wave_start), PROGRAMME, np.where(start.isna(), COMPARISON, ""))
    cells = panel.assign(arm=arm)
    cells = cells[cells["arm"] != ""]
    g = cells.groupby(["imd_quintile", "arm", "month"], as_index=False)[["value_n", "value_sum"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        g["mean"] = np.where(g["value_n"] > 0, g["value_sum"] / g["value_n"], np.nan)
    return g.drop(columns="value_sum")


def controlled_mean_its(panel: pd.DataFrame, settings: ITSSettings | None = None) -> ControlledQuintileITS:
    """The controlled ITS of the first wave's mean, by quintile (Gaussian family)."""
    wave_start = panel["programme_start"].dropna().min()
    series = arm_mean_series(panel, wave_start).sort_values(["imd_quintile", "arm", "month"])
    # ControlledQuintileITS models ``per * numerator / denominator``: a mean is that with numerator = the mean,
    # denominator = 1 and per = 1, so the model, its GLS errors and the Q1 - Q5 contrast apply to the mean as they
    # do to a rate.
    series = series.assign(numerator=series["mean"], denominator=1.0)
    s = replace(settings or ITSSettings(), family="gaussian", per=1.0)
    return ControlledQuintileITS(series, pd.Timestamp(wave_start), treated=PROGRAMME, comparison=COMPARISON,
                                 settings=s)
