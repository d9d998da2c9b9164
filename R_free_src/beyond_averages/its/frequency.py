"""The time axis of an ITS series at any regular frequency: monthly, quarterly, annual, weekly or integer periods.

Every ITS model counts time in *periods* of the series' own frequency, so an annual or weekly series is fitted as it
is (no relabelling as consecutive months). A time column is read as:

* ``"month"``: first days of months, one month apart (the default of the measures table);
* ``"quarter"``: first days of months, three months apart (any day-1 date inside a calendar quarter names it);
* ``"year"``: first days of months, twelve months apart;
* ``"week"``: dates exactly seven days apart (any weekday, the same for every row);
* ``"integer"``: whole numbers one apart (e.g. calendar years 1970, 1971, ... as Linden's ``itsa`` reads them).

``frequency="auto"`` (the default of :class:`~beyond_averages.its.ITSSettings`) infers it from the column: integers
are ``"integer"``; first-of-month dates are ``"month"``, ``"quarter"`` or ``"year"`` by their smallest step; other
dates seven days apart are ``"week"``. The estimators resolve ``"auto"`` once, on the whole column, and keep the
result in their settings; a gap or a duplicate is then an :class:`~beyond_averages.files.InputError` naming the
column and the first offending period (:func:`beyond_averages.its.design.validate_series`).

Seasonality needs a calendar: position within the year and the number of periods a year (12 months, 4 quarters,
365.25 / 7 weeks); annual and integer series have none.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from beyond_averages.files import InputError
from beyond_averages.months import month_index

Frequency = Literal["auto", "month", "quarter", "year", "week", "integer"]
MONTH_STEPS = {1: "month", 3: "quarter", 12: "year"}
PERIOD_WORD = {"month": "month", "quarter": "quarter", "year": "year", "week": "week", "integer": "period"}
PERIODS_PER_YEAR = {"month": 12.0, "quarter": 4.0, "week": 365.25 / 7}


def is_integer_axis(values) -> bool:
    return pd.api.types.is_integer_dtype(pd.Series(values).dtype)


def infer_frequency(values, requested: str = "auto", where: str = "series", column: str = "month") -> str:
    """The frequency of a time column: ``requested`` unless it is ``"auto"``, else inferred (module docstring)."""
    if requested != "auto":
        if (requested == "integer") != is_integer_axis(values):
            kind = "whole numbers" if requested == "integer" else "dates"
            raise InputError(f"{where}: column {column!r} must hold {kind} for frequency={requested!r}")
        return requested
    if is_integer_axis(values):
        return "integer"
    times = pd.DatetimeIndex(pd.to_datetime(pd.Series(values), errors="coerce"))
    if times.isna().any():
        raise InputError(f"{where}: column {column!r} has missing or non-date values")
    if (times.day == 1).all():
        steps = np.abs(np.diff(month_index(times)))
        steps = steps[steps > 0]
        step = int(steps.min()) if len(steps) else 1
        if step not in MONTH_STEPS:
            raise InputError(f"{where}: column {column!r} steps by {step} months at the least; a regular series is "
                             "monthly (1), quarterly (3) or annual (12): pass frequency= or fix the column")
        return MONTH_STEPS[step]
    days = np.abs(np.diff(_days(times)))
    if len(days) and (days % 7 == 0).all():
        return "week"
    bad = times[times.day != 1][0]
    raise InputError(f"{where}: column {column!r} must hold first days of months (monthly, quarterly or annual "
                     f"series) or dates 7 days apart (weekly); found {bad.date()}")


def _days(times: pd.DatetimeIndex) -> np.ndarray:
    """Whole days since 1970-01-01, whatever the index's time resolution."""
    return times.to_numpy().astype("datetime64[D]").astype(np.int64)


def legacy_frequency(frequency: str, values) -> str:
    """``"auto"`` in the low-level design functions: months for dates, integers for whole numbers (the estimators
    resolve ``"auto"`` on the whole column first, with :func:`infer_frequency`)."""
    if frequency != "auto":
        return frequency
    return "integer" if is_integer_axis(values) else "month"


def period_index(values, frequency: str) -> np.ndarray:
    """Consecutive integers for consecutive periods of ``frequency`` (the difference of two is their distance)."""
    if frequency == "integer":
        return np.asarray(values, dtype=np.int64)
    times = pd.DatetimeIndex(pd.to_datetime(values))
    if frequency == "month":
        return month_index(times)
    if frequency == "quarter":
        return month_index(times) // 3
    if frequency == "year":
        return times.year.to_numpy(np.int64)
    if frequency == "week":
        return (_days(times) - 4) // 7  # weeks since Monday 1970-01-05 (any weekday of the series is fine)
    raise InputError(f"frequency: {frequency!r} is not one of month, quarter, year, week, integer")


def as_time(value, frequency: str, where: str):
    """A point on the time axis (the interruption, a COVID-19 bound): an int for integer series, else a Timestamp."""
    if frequency == "integer":
        try:
            if float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        except (TypeError, ValueError) as err:
            raise InputError(f"{where}: interruption {value!r} is not a whole-number period") from err
    try:
        return pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{where}: interruption {value!r} is not a date") from err


def shift(t0, periods: int, frequency: str):
    """The time ``periods`` periods after ``t0``."""
    if frequency == "integer":
        return int(t0) + int(periods)
    offset = {"month": pd.DateOffset(months=periods), "quarter": pd.DateOffset(months=3 * periods),
              "year": pd.DateOffset(years=periods), "week": pd.DateOffset(weeks=periods)}[frequency]
    return pd.Timestamp(t0) + offset


def show(value) -> str:
    """A time for messages: a date without the clock, or the integer."""
    return str(value.date()) if isinstance(value, pd.Timestamp) else str(value)


def seasonal_position(values, frequency: str) -> tuple[np.ndarray, float]:
    """Position within the year (1 .. periods a year) and the number of periods a year; for weeks the position is
    fractional (day of year / 7), so Fourier terms follow the calendar across 52- and 53-week years."""
    if frequency not in PERIODS_PER_YEAR:
        raise InputError(f"seasonality needs a sub-annual series; frequency {frequency!r} has no season")
    times = pd.DatetimeIndex(pd.to_datetime(values))
    if frequency == "month":
        return times.month.to_numpy(float), 12.0
    if frequency == "quarter":
        return times.quarter.to_numpy(float), 4.0
    return times.day_of_year.to_numpy(float) / 7.0, PERIODS_PER_YEAR["week"]
