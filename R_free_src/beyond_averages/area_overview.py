"""Choosing the clinical area (issue 14 item 7): the baseline inequality and its trend for every area in ``areas/``.

Before choosing an area to evaluate, the student wants to see where inequality by deprivation is largest and which
way it was moving. Each area's measures table (``outputs/measures/<area>.parquet``, every area counted from the
same extract) is read once and summarised at one point a year: the status at the end of March, the end of the NHS
financial year on which the Quality and Outcomes Framework counts achievement. At each point the practices are
pooled by IMD quintile, the counts pass disclosure control (:mod:`beyond_averages.disclosure`), and the gap
(Q5 - Q1, percentage points, Newcombe interval) and the slope index of inequality (PHE's method, Monte Carlo
interval) are computed from the released counts (:func:`beyond_averages.equity.equity_by_group`).

The *baseline* is the last March before the area's first adoption wave. The *pre-programme trend* is the weighted
least-squares slope of the SII over the March points up to and including the baseline, each weighted by the inverse
of its variance (taken from its 95% interval), with a fixed-effect standard error: a description of the direction
of travel, not a forecast (the COVID-19 disruption of 2020-21 falls inside it).

Orientation as in :mod:`beyond_averages.equity`: a positive gap or SII means the indicator is higher among the less
deprived, i.e. the most deprived are behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from beyond_averages.config import Area, list_areas, load_area, load_study
from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED
from beyond_averages.disclosure import DisclosureRules, release_counts
from beyond_averages.equity import equity_by_group
from beyond_averages.files import InputError, read_parquet, require_columns
from beyond_averages.measures import read_measures

YEAR_END_MONTH = 3            # status at the end of March: the QOF year end
SII_REPETITIONS = 1000        # Monte Carlo draws of each SII interval (PHE uses 1,000 to 10,000)
Z95 = 1.959963984540054


@dataclass(frozen=True)
class AreaOverview:
    """The yearly inequality of every area, and one summary row per area."""

    areas: dict[str, Area]       # name -> area, in the order shown
    rates: pd.DataFrame          # area, month, imd_quintile, numerator, denominator (released), rate (%)
    equity: pd.DataFrame         # area, month, measure (gap, sii), estimate, ci_lower, ci_upper
    summary: pd.DataFrame        # one row per area: baseline month, Q1 and Q5 rates, gap, SII, SII trend
    missing: tuple[str, ...]     # areas in areas/ whose measures table was not found
    rules: DisclosureRules


def year_end_points(measures: pd.DataFrame) -> pd.DataFrame:
    """The rows of the March months (the yearly status points) of one area's measures table."""
    return measures[pd.to_datetime(measures["month"]).dt.month == YEAR_END_MONTH]


def first_wave(programme_file) -> pd.Timestamp:
    """The first adoption month of an area's programme table."""
    programme = read_parquet(programme_file)
    require_columns(programme, ["practice_id", "programme_start"], str(programme_file))
    starts = pd.to_datetime(programme["programme_start"]).dropna()
    if starts.empty:
        raise InputError(f"{programme_file}: column 'programme_start' has no adoption date, so no baseline year")
    return starts.min()


def sii_trend(months: pd.Series, sii: pd.DataFrame) -> tuple[float, float, float]:
    """Inverse-variance weighted slope of the SII per year, with its 95% interval (fixed-effect SE).

    ``sii`` holds ``estimate, ci_lower, ci_upper`` aligned with ``months``; points without an interval are left
    out, and fewer than two points give NaN.
    """
    se = (sii["ci_upper"].to_numpy(float) - sii["ci_lower"].to_numpy(float)) / (2 * Z95)
    y = sii["estimate"].to_numpy(float)
    x = pd.to_datetime(months).dt.year.to_numpy(float)
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    if ok.sum() < 2:
        return np.nan, np.nan, np.nan
    w, x, y = 1.0 / se[ok] ** 2, x[ok], y[ok]
    xbar = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xbar) ** 2)
    slope = np.sum(w * (x - xbar) * y) / sxx
    half = Z95 * np.sqrt(1.0 / sxx)
    return float(slope), float(slope - half), float(slope + half)


def _area_rates(name: str, measures: pd.DataFrame, rules: DisclosureRules) -> pd.DataFrame:
    pooled = (year_end_points(measures).groupby(["month", "imd_quintile"], as_index=False)
              [["numerator", "denominator"]].sum())
    released = release_counts(pooled, rules=rules, rate_column="rate")
    return released.assign(area=name)[["area", "month", "imd_quintile", "numerator", "denominator", "rate"]]


def _summary_row(name: str, area: Area, rates: pd.DataFrame, equity: pd.DataFrame, start: pd.Timestamp) -> dict:
    pre = rates[rates["month"] < start]
    if pre.empty:
        raise InputError(f"area {name}: no March before the first adoption wave ({start:%B %Y}), so no baseline")
    baseline = pre["month"].max()
    at = rates[rates["month"] == baseline].set_index("imd_quintile")
    eq = equity[equity["month"] == baseline].set_index("measure")
    sii_pre = equity[(equity["measure"] == "sii") & (equity["month"] <= baseline)].sort_values("month")
    slope, s_lo, s_hi = sii_trend(sii_pre["month"], sii_pre)
    return {
        "area": name, "title": area.title, "short_label": area.short_label, "baseline_month": baseline,
        "first_wave": start, "eligible": at["denominator"].sum(min_count=1),
        "rate_most_deprived": at.at[MOST_DEPRIVED, "rate"], "rate_least_deprived": at.at[LEAST_DEPRIVED, "rate"],
        **{f"{m}_{k}": eq.at[m, k] for m in ("gap", "sii") for k in ("estimate", "ci_lower", "ci_upper")},
        "sii_trend": slope, "sii_trend_lower": s_lo, "sii_trend_upper": s_hi,
        "trend_points": int(sii_pre["estimate"].notna().sum()),
        "trend_from": sii_pre["month"].min(),
    }


def run_area_overview(areas: list[str] | None = None, measures_dir: str | None = None,
                      extract_dir: str | None = None, study_config: str | None = None, *,
                      seed: int = 20170101) -> AreaOverview:
    """The overview chapter's analysis: every area of ``areas/`` (or ``areas``) whose measures table exists.

    ``measures_dir`` (default ``outputs/measures``) holds ``<area>.parquet``; ``extract_dir`` (default: the
    study's extract) holds each area's ``programme_<area>.parquet``, as its chapters read them
    (:meth:`Study.area_inputs`). Areas without a measures table are listed in ``missing``;
    none at all is an error naming the folder.
    """
    study = load_study(study_config)
    rules = study.disclosure_rules
    names = list(areas) if areas else list_areas()
    found: dict[str, Area] = {}
    missing: list[str] = []
    rate_frames, starts = [], {}
    for name in names:
        area = load_area(name)
        measures_path = f"{measures_dir}/{name}.parquet" if measures_dir else None
        programme_path = f"{extract_dir}/programme_{name}.parquet" if extract_dir else None
        measures_file, programme_file = study.area_inputs(name, measures_path, programme_path)
        if not measures_file.exists():
            missing.append(name)
            continue
        found[name] = area
        starts[name] = first_wave(programme_file)
        rate_frames.append(_area_rates(name, read_measures(measures_file), rules))
    if not found:
        where = measures_dir or "outputs/measures"
        raise InputError(f"{where}: no measures table for any of the areas {names}; run `make measures` per area")
    rates = pd.concat(rate_frames, ignore_index=True)
    # Equity from the released counts, so the page never shows what rounding hid.
    counted = rates.dropna(subset=["numerator", "denominator"])
    equity = equity_by_group(counted, by=("area", "month"), measures=("gap", "sii"), simulate=True,
                             repetitions=SII_REPETITIONS, seed=seed, source="released yearly counts")
    summary = pd.DataFrame([_summary_row(n, found[n], rates[rates["area"] == n], equity[equity["area"] == n],
                                         starts[n]) for n in found])
    return AreaOverview(areas=found, rates=rates, equity=equity, summary=summary, missing=tuple(missing),
                        rules=rules)
