"""The regressors of a segmented regression and the checks on a monthly series.

Boundary semantics (see :mod:`beyond_averages.its.segmented`): the interruption month is the FIRST post month;
transition months after it are left out of the fit and the post segment starts after them; with ``covid="exclude"``
the months ``covid_start`` to ``covid_end`` inclusive are left out, with ``covid="indicator"`` they get a 0/1 term.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages.files import InputError, require_columns
from beyond_averages.its.settings import ITSSettings
from beyond_averages.months import month_index


def validate_series(frame: pd.DataFrame, time_col: str, value_cols: list[str], interruption,
                    settings: ITSSettings, denominator: str | None = None, source: str = "series",
                    group_col: str | None = None) -> pd.Timestamp:
    """Check one monthly series (or one per group); return the interruption as a Timestamp.

    Raises :class:`InputError` naming the column and the problem for: missing columns, a time column that is not
    month starts, unsorted or duplicated months, gaps, missing values, zero or negative denominators, numerators
    above denominators (binomial), an interruption outside the series, and fewer than
    ``settings.min_segment_points`` fitted months before or after the interruption.
    """
    require_columns(frame, [time_col, *value_cols] + ([group_col] if group_col else []), source)
    try:
        t0 = pd.Timestamp(interruption)
    except (TypeError, ValueError) as err:
        raise InputError(f"{source}: interruption {interruption!r} is not a date") from err
    if t0.day != 1:
        raise InputError(f"{source}: interruption {t0.date()} must be the first day of a month (the first post month)")
    groups = [(None, frame)] if group_col is None else list(frame.groupby(group_col, sort=True))
    for key, part in groups:
        where = source if key is None else f"{source} ({group_col} = {key})"
        months = pd.to_datetime(part[time_col], errors="coerce")
        if months.isna().any():
            raise InputError(f"{where}: column {time_col!r} has missing or non-date values")
        if (months.dt.day != 1).any():
            raise InputError(f"{where}: column {time_col!r} must hold first days of months; "
                             f"found {months[months.dt.day != 1].iloc[0].date()}")
        m = month_index(months)
        if np.any(np.diff(m) == 0):
            dup = months.iloc[int(np.flatnonzero(np.diff(m) == 0)[0]) + 1]
            raise InputError(f"{where}: column {time_col!r} has duplicated month {dup.date()}")
        if np.any(np.diff(m) < 0):
            raise InputError(f"{where}: column {time_col!r} is not sorted ascending; sort by {time_col!r} first")
        if np.any(np.diff(m) > 1):
            gap = months.iloc[int(np.flatnonzero(np.diff(m) > 1)[0])]
            raise InputError(f"{where}: column {time_col!r} has a gap after {gap.date()} (months must be consecutive)")
        for col in value_cols:
            vals = pd.to_numeric(part[col], errors="coerce")
            if vals.isna().any():
                bad = months[vals.isna()].iloc[0].date()
                raise InputError(f"{where}: column {col!r} has missing values (first in {bad}); "
                                 "redacted counts cannot be modelled")
        if denominator is not None:
            den = part[denominator].to_numpy(dtype=float)
            if np.any(den <= 0):
                bad = months[den <= 0].iloc[0].date()
                raise InputError(f"{where}: column {denominator!r} has zero or negative denominators (first in {bad})")
            num = part[value_cols[0]].to_numpy(dtype=float)
            if np.any(num < 0):
                raise InputError(f"{where}: column {value_cols[0]!r} has negative counts")
            if settings.family in ("binomial", "quasibinomial") and np.any(num > den):
                raise InputError(f"{where}: column {value_cols[0]!r} exceeds {denominator!r} in some month; "
                                 "a binomial outcome needs numerator <= denominator")
        if not months.iloc[0] < t0 <= months.iloc[-1]:
            raise InputError(f"{where}: interruption {t0.date()} lies outside the series in {time_col!r} "
                             f"({months.iloc[0].date()} to {months.iloc[-1].date()}); it must be after the first "
                             "month and no later than the last")
        keep = fit_mask(months, t0, settings)
        n_pre = int(np.sum(keep & (months < t0).to_numpy()))
        n_post = int(np.sum(keep & (months >= t0).to_numpy()))
        if min(n_pre, n_post) < settings.min_segment_points:
            raise InputError(f"{where}: too few months in column {time_col!r} to fit: {n_pre} before and "
                             f"{n_post} after "
                             f"the interruption {t0.date()} are used (after exclusions); the minimum is "
                             f"{settings.min_segment_points} on each side")
    return t0


def fit_mask(months, t0: pd.Timestamp, settings: ITSSettings) -> np.ndarray:
    """True for the months used in the fit (drops transition months and, with covid='exclude', the disruption)."""
    m = month_index(months)
    m0 = month_index([t0])[0]
    keep = ~((m >= m0) & (m < m0 + settings.transition_months))
    if settings.covid == "exclude":
        keep &= ~covid_flag(months, settings).astype(bool)
    return keep


def covid_flag(months, settings: ITSSettings) -> np.ndarray:
    m = month_index(months)
    lo, hi = month_index([pd.Timestamp(settings.covid_start), pd.Timestamp(settings.covid_end)])
    return ((m >= lo) & (m <= hi)).astype(float)


def design_matrix(months, t0: pd.Timestamp, settings: ITSSettings, origin: pd.Timestamp | None = None,
                  post: bool = True) -> pd.DataFrame:
    """Regressors for the given months. ``post=False`` zeroes the level and slope terms (the counterfactual)."""
    months = pd.DatetimeIndex(pd.to_datetime(months))
    m = month_index(months)
    m_origin = month_index([origin])[0] if origin is not None else m.min()
    m_post = month_index([t0])[0] + settings.transition_months
    is_post = (m >= m_post).astype(float) * float(post)
    cols = {"const": np.ones(len(m)), "time": (m - m_origin).astype(float)}
    if settings.impact in ("level_slope", "level"):
        cols["level"] = is_post
    if settings.impact in ("level_slope", "slope"):
        cols["slope"] = is_post * (m - m_post)
    cal = months.month.to_numpy()
    if settings.seasonality == "fourier":
        for k in range(1, settings.harmonics + 1):
            cols[f"cos{k}"] = np.cos(2 * np.pi * k * cal / 12)
            if k < 6:  # sin(pi * month) is zero for every month
                cols[f"sin{k}"] = np.sin(2 * np.pi * k * cal / 12)
    elif settings.seasonality == "month":
        for k in range(2, 13):
            cols[f"month{k:02d}"] = (cal == k).astype(float)
    if settings.covid == "indicator":
        cols["covid"] = covid_flag(months, settings)
    return pd.DataFrame(cols, index=range(len(m)))


def horizon_months(t0: pd.Timestamp, horizons, last: pd.Timestamp, settings: ITSSettings, source: str):
    """Horizon h is the month h months after the interruption month (h = 0 is the interruption month itself)."""
    hs = [int(h) for h in horizons]
    bad = [h for h in hs if h < settings.transition_months]
    if bad:
        raise InputError(f"{source}: horizons {bad} fall inside the {settings.transition_months}-month transition; "
                         f"use horizons >= {settings.transition_months}")
    months = [t0 + pd.DateOffset(months=h) for h in hs]
    late = [h for h, m in zip(hs, months) if m > last]
    if late:
        raise InputError(f"{source}: horizons {late} lie beyond the last month {last.date()} (no extrapolation)")
    return hs, months
