"""The regressors of a segmented regression and the checks on a series, at any regular frequency.

Boundary semantics (see :mod:`beyond_averages.its.segmented`): the interruption period is the FIRST post period;
transition periods (``transition_months``, counted in the series' own periods) after it are left out of the fit and
the post segment starts after them; with ``covid="exclude"`` the periods ``covid_start`` to ``covid_end`` inclusive
are left out, with ``covid="indicator"`` they get a 0/1 term. Time is counted in periods of the series' frequency
(:mod:`beyond_averages.its.frequency`): months for the measures table, years for Linden's Prop 99 series.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from beyond_averages.files import InputError, require_columns
from beyond_averages.its.frequency import (
    PERIOD_WORD, as_time, infer_frequency, legacy_frequency, period_index, seasonal_position, shift, show,
)
from beyond_averages.its.settings import ITSSettings


def resolve_frequency(settings: ITSSettings, values, source: str, time_col: str) -> ITSSettings:
    """``settings`` with ``frequency="auto"`` replaced by the frequency of the whole time column."""
    freq = infer_frequency(values, settings.frequency, source, time_col)
    if freq in ("year", "integer") and settings.seasonality != "none":
        raise InputError(f"{source}: seasonality={settings.seasonality!r} needs a sub-annual series; column "
                         f"{time_col!r} is {freq!r}: use seasonality='none'")
    if settings.seasonality == "month" and freq not in ("month", "quarter"):
        raise InputError(f"{source}: seasonality='month' (one term per month or quarter) needs a monthly or "
                         f"quarterly series; column {time_col!r} is {freq!r}: use seasonality='fourier'")
    if freq == "integer" and settings.covid != "none":
        raise InputError(f"{source}: covid={settings.covid!r} needs dates; column {time_col!r} holds integer periods")
    return settings if freq == settings.frequency else replace(settings, frequency=freq)


def _times(values, freq: str):
    return pd.Series(values).to_numpy() if freq == "integer" else pd.to_datetime(pd.Series(values), errors="coerce")


def validate_series(frame: pd.DataFrame, time_col: str, value_cols: list[str], interruption,
                    settings: ITSSettings, denominator: str | None = None, source: str = "series",
                    group_col: str | None = None):
    """Check one regular series (or one per group); return the interruption (a Timestamp, or an int for integer
    periods). ``settings.frequency`` should be resolved (:func:`resolve_frequency`); ``"auto"`` is resolved here.

    Raises :class:`InputError` naming the column and the problem for: missing columns, a time column that is not of
    the frequency, unsorted or duplicated periods, gaps (naming the period before the first gap), missing values,
    zero or negative denominators, numerators above denominators (binomial), an interruption outside the series or
    off the grid, and fewer than ``settings.min_segment_points`` fitted periods before or after the interruption.
    """
    require_columns(frame, [time_col, *value_cols] + ([group_col] if group_col else []), source)
    freq = resolve_frequency(settings, frame[time_col], source, time_col).frequency
    word = PERIOD_WORD[freq]
    t0 = as_time(interruption, freq, source)
    if freq in ("month", "quarter", "year") and t0.day != 1:
        raise InputError(f"{source}: interruption {t0.date()} must be the first day of a month (the first post "
                         f"{word})")
    groups = [(None, frame)] if group_col is None else list(frame.groupby(group_col, sort=True))
    for key, part in groups:
        where = source if key is None else f"{source} ({group_col} = {key})"
        times = _times(part[time_col], freq)
        if freq != "integer" and times.isna().any():
            raise InputError(f"{where}: column {time_col!r} has missing or non-date values")
        infer_frequency(part[time_col], "auto" if freq != "integer" else "integer", where, time_col)
        m = period_index(times, freq)
        step = np.diff(m)
        if freq == "week" and len(times) and (times.dt.day_of_week != times.iloc[0].day_of_week).any():
            raise InputError(f"{where}: column {time_col!r} mixes weekdays; weekly dates must be 7 days apart")
        if np.any(step == 0):
            dup = show(pd.Series(times).iloc[int(np.flatnonzero(step == 0)[0]) + 1])
            raise InputError(f"{where}: column {time_col!r} has duplicated {word} {dup}")
        if np.any(step < 0):
            raise InputError(f"{where}: column {time_col!r} is not sorted ascending; sort by {time_col!r} first")
        if np.any(step > 1):
            gap = show(pd.Series(times).iloc[int(np.flatnonzero(step > 1)[0])])
            raise InputError(f"{where}: column {time_col!r} has a gap after {gap} ({word}s must be consecutive)")
        for col in value_cols:
            vals = pd.to_numeric(part[col], errors="coerce")
            if vals.isna().any():
                bad = show(pd.Series(times)[vals.isna().to_numpy()].iloc[0])
                raise InputError(f"{where}: column {col!r} has missing values (first in {bad}); "
                                 "redacted counts cannot be modelled")
        if denominator is not None:
            den = part[denominator].to_numpy(dtype=float)
            if np.any(den <= 0):
                bad = show(pd.Series(times)[den <= 0].iloc[0])
                raise InputError(f"{where}: column {denominator!r} has zero or negative denominators (first in {bad})")
            num = part[value_cols[0]].to_numpy(dtype=float)
            if np.any(num < 0):
                raise InputError(f"{where}: column {value_cols[0]!r} has negative counts")
            if settings.family in ("binomial", "quasibinomial") and np.any(num > den):
                raise InputError(f"{where}: column {value_cols[0]!r} exceeds {denominator!r} in some {word}; "
                                 "a binomial outcome needs numerator <= denominator")
        first, last = pd.Series(times).iloc[0], pd.Series(times).iloc[-1]
        if not first < t0 <= last:
            raise InputError(f"{where}: interruption {show(t0)} lies outside the series in {time_col!r} "
                             f"({show(first)} to {show(last)}); it must be after the first "
                             f"{word} and no later than the last")
        if freq == "week" and (t0 - first).days % 7:
            raise InputError(f"{where}: interruption {show(t0)} is not on the weekly grid of {time_col!r} "
                             f"(dates 7 days from {show(first)})")
        s = replace(settings, frequency=freq)
        keep = fit_mask(times, t0, s)
        m0 = period_index(_as_list(t0), freq)[0]
        n_pre = int(np.sum(keep & (m < m0)))
        n_post = int(np.sum(keep & (m >= m0)))
        if min(n_pre, n_post) < settings.min_segment_points:
            raise InputError(f"{where}: too few {word}s in column {time_col!r} to fit: {n_pre} before and "
                             f"{n_post} after "
                             f"the interruption {show(t0)} are used (after exclusions); the minimum is "
                             f"{settings.min_segment_points} on each side")
    return t0


def _as_list(t):
    return [t]


def fit_mask(months, t0, settings: ITSSettings) -> np.ndarray:
    """True for the periods used in the fit (drops transition periods and, with covid='exclude', the disruption)."""
    freq = legacy_frequency(settings.frequency, months)
    m = period_index(months, freq)
    m0 = period_index(_as_list(t0), freq)[0]
    keep = ~((m >= m0) & (m < m0 + settings.transition_months))
    if settings.covid == "exclude":
        keep &= ~covid_flag(months, settings).astype(bool)
    return keep


def covid_flag(months, settings: ITSSettings) -> np.ndarray:
    freq = legacy_frequency(settings.frequency, months)
    m = period_index(months, freq)
    lo, hi = period_index([pd.Timestamp(settings.covid_start), pd.Timestamp(settings.covid_end)], freq)
    return ((m >= lo) & (m <= hi)).astype(float)


def design_matrix(months, t0, settings: ITSSettings, origin=None, post: bool = True) -> pd.DataFrame:
    """Regressors for the given periods. ``post=False`` zeroes the level and slope terms (the counterfactual).
    ``time`` counts periods from ``origin`` (default: the first row)."""
    freq = legacy_frequency(settings.frequency, months)
    m = period_index(months, freq)
    m_origin = period_index(_as_list(origin), freq)[0] if origin is not None else m.min()
    m_post = period_index(_as_list(t0), freq)[0] + settings.transition_months
    is_post = (m >= m_post).astype(float) * float(post)
    cols = {"const": np.ones(len(m)), "time": (m - m_origin).astype(float)}
    if settings.impact in ("level_slope", "level"):
        cols["level"] = is_post
    if settings.impact in ("level_slope", "slope"):
        cols["slope"] = is_post * (m - m_post)
    if settings.seasonality == "fourier":
        cal, period = seasonal_position(months, freq)
        if 2 * settings.harmonics > period:
            raise InputError(f"harmonics: {settings.harmonics} is more than half the {period:g} periods a year "
                             f"of a {freq!r} series")
        for k in range(1, settings.harmonics + 1):
            cols[f"cos{k}"] = np.cos(2 * np.pi * k * cal / period)
            if 2 * k != period:  # sin(pi * position) is zero at every whole position
                cols[f"sin{k}"] = np.sin(2 * np.pi * k * cal / period)
    elif settings.seasonality == "month":
        cal, period = seasonal_position(months, freq)
        for k in range(2, int(period) + 1):
            cols[f"month{k:02d}" if freq == "month" else f"quarter{k}"] = (cal == k).astype(float)
    if settings.covid == "indicator":
        cols["covid"] = covid_flag(months, settings)
    return pd.DataFrame(cols, index=range(len(m)))


def horizon_months(t0, horizons, last, settings: ITSSettings, source: str):
    """Horizon h is the period h periods after the interruption (h = 0 is the interruption period itself)."""
    freq = legacy_frequency(settings.frequency, _as_list(t0))
    word = PERIOD_WORD[freq]
    hs = [int(h) for h in horizons]
    bad = [h for h in hs if h < settings.transition_months]
    if bad:
        raise InputError(f"{source}: horizons {bad} fall inside the {settings.transition_months}-{word} transition; "
                         f"use horizons >= {settings.transition_months}")
    months = [shift(t0, h, freq) for h in hs]
    late = [h for h, m in zip(hs, months) if m > last]
    if late:
        raise InputError(f"{source}: horizons {late} lie beyond the last {word} {show(last)} (no extrapolation)")
    return hs, months
