"""Calendar months as integers, the unit of time of every measure.

A month is ``year * 12 + (month - 1)``. Every status is taken at the **end** of a month (as QOF takes it at the
achievement date): a patient counts in month m if registered, alive and in the age band on the month's last day,
and an event counts for every month from its own month to ``lookback - 1`` months later.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

NEVER = np.iinfo(np.int32).max // 2  # a month index standing for "no end" (still registered, alive)


def month_index(values) -> np.ndarray:
    """Month index of each date (NaT -> ``NEVER``)."""
    ts = pd.DatetimeIndex(pd.to_datetime(values))
    out = (ts.year.to_numpy(dtype="int64", na_value=0) * 12 + ts.month.to_numpy(dtype="int64", na_value=1) - 1)
    out = out.astype(np.int64)
    out[ts.isna()] = NEVER
    return out


def month_index_of(date: dt.date | str | pd.Timestamp) -> int:
    ts = pd.Timestamp(date)
    return int(ts.year * 12 + ts.month - 1)


def month_start(index) -> pd.DatetimeIndex:
    """First day of each month index, as datetime64."""
    idx = np.asarray(index, dtype=np.int64)
    years = idx // 12
    months = idx % 12 + 1
    return pd.DatetimeIndex(pd.to_datetime(pd.DataFrame({"year": years, "month": months, "day": 1})))


def month_range(start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """Every month from ``start`` to ``end`` inclusive (first days)."""
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="MS")
