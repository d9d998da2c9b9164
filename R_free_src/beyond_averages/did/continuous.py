"""A continuous outcome (an area's ``continuous_outcome``: the mean of each eligible patient's latest recorded value,
e.g. HbA1c in mmol/mol) analysed with the chapter's estimators on the mean scale.

``run_continuous_analysis(area)`` reads the value measures (:mod:`beyond_averages.measures.values`) and the
programme, and fits:

* the group-time ATT (:class:`~beyond_averages.did.GroupTimeATT`, Callaway and Sant'Anna) on each practice x
  quintile's monthly mean, by IMD quintile, units weighted by their mean number of patients with a value, and the
  contrast between two quintiles (joint influence functions); the same on the practice's mean over all quintiles;
* the slope index of inequality on the mean scale (PHE's method, ``value_type`` "normal": the values are
  regressed on the quintiles' cumulative population midpoints weighted by the number with a value), within each
  practice-month, and the group-time ATT on it (the programme's effect on within-practice inequality);
* the same SII for adopting and never-adopting practices pooled, in the month before the first wave and in the last
  month, with PHE's Monte Carlo limits from each quintile's standard error ``sd / sqrt(n)`` computed from the sums;
* a controlled interrupted time series of the first wave's monthly mean against never adopters, by quintile, with
  the Gaussian family (:func:`beyond_averages.its.continuous.controlled_mean_its`).

Orientation as :mod:`beyond_averages.equity`: a positive SII means a higher mean among the less deprived. An area
without a continuous outcome gives an analysis with ``outcome`` None and nothing fitted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from beyond_averages import paths
from beyond_averages.config import Area, ContinuousOutcome, list_areas, load_area, load_study
from beyond_averages.did.analysis import FEW_CLUSTERS
from beyond_averages.did.panel import Comparison, validate_panel
from beyond_averages.did.staggered import GroupTimeATT
from beyond_averages.equity import SIISettings, SlopeIndexOfInequality
from beyond_averages.equity.engine import sii_engine
from beyond_averages.files import read_parquet
from beyond_averages.its.comparative import ControlledQuintileITS
from beyond_averages.its.continuous import controlled_mean_its
from beyond_averages.measures import attach_programme
from beyond_averages.measures.values import read_value_measures, value_measures_path

KEYS = ["practice_id", "month"]


@dataclass(frozen=True)
class ContinuousSettings:
    """Options of :func:`run_continuous_analysis`: the comparison group and contrast of the group-time ATT, its
    multiplier bootstrap (draws, seed), the Monte Carlo repetitions of the pooled SII's limits and the months after
    the first wave at which the ITS effects are read (the last is the headline)."""

    comparison: Comparison = "never_treated"
    contrast: tuple[int, int] = (1, 5)
    n_boot: int = 999
    seed: int = 20240601
    sii_repetitions: int = 10_000
    its_horizons: tuple[int, ...] = (6, 12, 24)

    def __post_init__(self):
        if self.comparison not in ("never_treated", "not_yet_treated"):
            raise ValueError(f"comparison must be 'never_treated' or 'not_yet_treated'; got {self.comparison!r}")
        c = tuple(int(q) for q in self.contrast)
        if len(c) != 2 or c[0] == c[1] or not all(1 <= q <= 5 for q in c):
            raise ValueError(f"contrast must be two different IMD quintiles 1..5; got {self.contrast!r}")
        object.__setattr__(self, "contrast", c)


@dataclass
class ContinuousAnalysis:
    """Everything the chapter shows; with ``outcome`` None (the area defines none) only ``area`` is set."""

    area: Area
    outcome: ContinuousOutcome | None
    settings: ContinuousSettings
    panel: pd.DataFrame | None = None              # practice x quintile x month: sums, mean, programme_start
    practice_panel: pd.DataFrame | None = None     # practice x month, quintiles pooled
    inequality_panel: pd.DataFrame | None = None   # practice x month: within-practice SII of the means
    gta_quintile: GroupTimeATT | None = None
    gta_overall: GroupTimeATT | None = None
    gta_sii: GroupTimeATT | None = None
    pooled_sii: pd.DataFrame | None = None         # adopters / never adopted x baseline / last month, PHE limits
    its: ControlledQuintileITS | None = None       # the first wave against never adopters, by quintile
    book_area: Area | None = None                  # the book's area, when it defines no outcome and ``area`` does


def mean_and_se(n, total, squares) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation (n - 1 divisor) and standard error ``sd / sqrt(n)`` from a count, a sum and a sum
    of squares; NaN where there are too few values (no mean without one, no SD without two)."""
    n = np.asarray(n, dtype=float)
    total = np.asarray(total, dtype=float)
    squares = np.asarray(squares, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, total / n, np.nan)
        var = np.where(n > 1, np.maximum(squares - n * mean**2, 0.0) / (n - 1), np.nan)
    sd = np.sqrt(var)
    return mean, sd, sd / np.sqrt(np.where(n > 0, n, np.nan))


def build_value_panel(values: pd.DataFrame, programme: pd.DataFrame, source: str = "value measures",
                      programme_source: str = "programme") -> pd.DataFrame:
    """The practice x quintile x month panel of the value measures with ``programme_start`` and ``mean`` (missing
    where no patient has a value), checked as a DiD panel."""
    frame = attach_programme(values, programme, source=programme_source)
    frame["month"] = pd.to_datetime(frame["month"]).astype("datetime64[s]")
    frame["mean"] = mean_and_se(frame["value_n"], frame["value_sum"], frame["value_sum_sq"])[0]
    validate_panel(frame, outcome="mean", unit="practice_id", time="month", first_treated="programme_start",
                   by="imd_quintile", comparison="not_yet_treated", source=source)
    return frame.sort_values(["practice_id", "imd_quintile", "month"]).reset_index(drop=True)


def practice_means(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per practice-month: the mean over all its quintiles (sums pooled) and ``value_n``."""
    g = panel.groupby(KEYS, as_index=False, sort=True).agg(
        value_n=("value_n", "sum"), value_sum=("value_sum", "sum"), value_sum_sq=("value_sum_sq", "sum"),
        programme_start=("programme_start", "first"))
    g["mean"] = mean_and_se(g["value_n"], g["value_sum"], g["value_sum_sq"])[0]
    return g


def within_practice_sii(panel: pd.DataFrame) -> pd.DataFrame:
    """Per practice-month, the SII of the quintiles' means (PHE's weighted least squares on the mean scale, weights
    the number with a value); missing when fewer than two quintiles have a value. Also ``value_n`` (all quintiles)
    and ``programme_start``."""
    cells = panel.sort_values(KEYS + ["imd_quintile"])
    n_groups = len(cells) // 5
    pop = cells["value_n"].to_numpy(float).reshape(n_groups, 5)
    mean = np.nan_to_num(cells["mean"].to_numpy(float)).reshape(n_groups, 5)
    fit = sii_engine(mean, np.zeros_like(mean), pop, SIISettings(value_type="normal"), rng=None)
    sii = np.where((pop > 0).sum(axis=1) >= 2, fit["sii"], np.nan)
    out = cells[KEYS + ["programme_start"]].iloc[::5].reset_index(drop=True)
    out["sii"] = sii
    out["value_n"] = pop.sum(axis=1)
    return out


def pooled_sii(panel: pd.DataFrame, settings: ContinuousSettings) -> pd.DataFrame:
    """The SII of the means of adopting and never-adopting practices pooled, in the month before the first wave
    (``baseline``) and in the last month (``last``), with PHE's Monte Carlo limits (standard errors from the sums).
    Columns ``arm, period, month, estimate, ci_lower, ci_upper``."""
    first_wave = panel["programme_start"].min()
    months = np.sort(panel["month"].unique())
    before = months[months < np.datetime64(first_wave)]
    picks = {"baseline": before[-1], "last": months[-1]}
    cells = panel[panel["month"].isin(list(picks.values()))]
    cells = cells.assign(arm=np.where(cells["programme_start"].notna(), "adopters", "never adopted"))
    g = cells.groupby(["arm", "month", "imd_quintile"], as_index=False)[["value_n", "value_sum", "value_sum_sq"]].sum()
    g["mean"], _, g["se"] = mean_and_se(g["value_n"], g["value_sum"], g["value_sum_sq"])
    g = g[g["value_n"] > 1]
    s = SIISettings(value_type="normal", repetitions=settings.sii_repetitions, seed=settings.seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="some records have been removed", category=UserWarning)
        fit = SlopeIndexOfInequality(g, quantile="imd_quintile", population="value_n", value="mean", se="se",
                                     by=["arm", "month"], settings=s, source="pooled value means")
    out = fit.tidy()[["arm", "month", "estimate", "ci_lower", "ci_upper"]]
    period = {v: k for k, v in picks.items()}
    out.insert(1, "period", [period[np.datetime64(m, "s")] for m in out["month"].to_numpy()])
    return out.sort_values(["arm", "month"]).reset_index(drop=True)


def outcome_area(area: Area) -> Area | None:
    """The area whose continuous outcome the chapter shows: the book's own when it defines one, else the first
    area in ``areas/`` that does (so every book shows one, e.g. HbA1c in diabetes care), else None."""
    if area.continuous_outcome is not None:
        return area
    return next((a for a in map(load_area, list_areas()) if a.continuous_outcome is not None), None)


def run_continuous_analysis(area: str | Area, values_path=None, programme_path=None, *,
                            comparison: Comparison = "never_treated", contrast=(1, 5), **settings
                            ) -> ContinuousAnalysis:
    """The chapter's one call: read the value measures (default ``outputs/measures/<area>_values.parquet``) and
    programme (default ``programme_<area>.parquet`` in the study's extract) of the area :func:`outcome_area`
    picks and fit every estimator (the paths, when given, are that area's). When no area defines a
    ``continuous_outcome`` the analysis has nothing fitted (``outcome`` None) and reads nothing."""
    book_area = load_area(area) if isinstance(area, str) else area
    s = ContinuousSettings(comparison=comparison, contrast=tuple(contrast), **settings)
    area = outcome_area(book_area)
    if area is None:
        return ContinuousAnalysis(book_area, None, s)
    other = book_area if area.name != book_area.name else None
    study = load_study()
    default_values = value_measures_path(area.name, paths.MEASURES_DIR)
    values_path = paths.resolve(values_path) if values_path else default_values
    programme_path = study.area_inputs(area.name, None, programme_path)[1]
    values = read_value_measures(values_path)
    programme = read_parquet(programme_path, columns=["practice_id", "programme_start"])
    panel = build_value_panel(values, programme, str(values_path), str(programme_path))
    common = dict(outcome="mean", unit="practice_id", time="month", first_treated="programme_start",
                  weights="value_n", comparison=s.comparison, n_boot=s.n_boot, seed=s.seed)
    practice = practice_means(panel)
    inequality = within_practice_sii(panel)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FEW_CLUSTERS, category=UserWarning)
        gtq = GroupTimeATT(panel, by="imd_quintile", source="value panel", **common)
        gto = GroupTimeATT(practice, source="practice value panel", **common)
        gts = GroupTimeATT(inequality, source="within-practice SII of the means", **dict(common, outcome="sii"))
    if gtq.few_clusters_message:
        warnings.warn(gtq.few_clusters_message, UserWarning, stacklevel=2)
    return ContinuousAnalysis(area, area.continuous_outcome, s, panel, practice, inequality, gtq, gto, gts,
                              pooled_sii(panel, s), controlled_mean_its(panel), other)
