"""The one result protocol every estimator answers (segmented regressions, TWFE, event studies, group-time ATTs,
the slope index of inequality).

Shaped like pyfixest's split of estimation from presentation and CausalPy's experiment classes: an estimator
validates its input and fits on construction, keeps fitted quantities as attributes, and answers four methods, each
returning a :class:`pandas.DataFrame` with numbers left numeric (rounding, labels and CI strings belong to
``report/``):

- ``tidy()``: one row per estimated quantity: the key columns that say which quantity it is (for example ``term``,
  ``imd_quintile``, ``horizon``), then :data:`TIDY_COLUMNS` in that order.
- ``summary()``: ``tidy()`` plus the fit's information as further columns (observations, clusters, options used).
- ``effect_summary()``: the headline effect(s) only, in the same tidy columns (what a sentence of the chapter
  reports); keyword arguments choose which (horizons, a contrast).
- ``plot_data()``: the frame ``report/`` draws from; estimators never draw.

:func:`tidy_frame` builds such a frame and :func:`check_tidy` is what the protocol test asserts.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

TIDY_COLUMNS = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")


def tidy_frame(rows: Iterable[Mapping] | pd.DataFrame, keys: Sequence[str] = ("term",)) -> pd.DataFrame:
    """Rows (mappings or a frame) as a tidy frame: ``keys`` first, then :data:`TIDY_COLUMNS` (missing ones NaN),
    then any other columns in their order."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for column in TIDY_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
        frame[column] = frame[column].astype("float64")
    keys = [k for k in keys if k in frame.columns]
    rest = [c for c in frame.columns if c not in keys and c not in TIDY_COLUMNS]
    return frame[[*keys, *TIDY_COLUMNS, *rest]].reset_index(drop=True)


def normal_row(estimate: float, std_error: float, alpha: float = 0.05, df: float | None = None) -> dict:
    """Estimate, standard error, (1 - alpha) interval and two-sided p-value from a normal or, with ``df``, a t
    reference distribution."""
    dist = stats.t(df) if df is not None else stats.norm()
    q = dist.ppf(1 - alpha / 2)
    est, se = float(estimate), float(std_error)
    p = float(2 * dist.sf(abs(est / se))) if se > 0 else np.nan
    return {"estimate": est, "std_error": se, "ci_lower": est - q * se, "ci_upper": est + q * se, "p_value": p}


def check_tidy(frame: pd.DataFrame, what: str = "result") -> pd.DataFrame:
    """Raise ``TypeError``/``ValueError`` unless ``frame`` is a non-empty tidy frame with numeric
    :data:`TIDY_COLUMNS` in order after its key columns."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what}: expected a DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError(f"{what}: no rows")
    columns = list(frame.columns)
    missing = [c for c in TIDY_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"{what}: missing tidy column(s) {missing}; has {columns}")
    start = columns.index(TIDY_COLUMNS[0])
    if tuple(columns[start:start + len(TIDY_COLUMNS)]) != TIDY_COLUMNS:
        raise ValueError(f"{what}: tidy columns out of order: {columns}")
    for c in TIDY_COLUMNS:
        if not pd.api.types.is_float_dtype(frame[c]):
            raise ValueError(f"{what}: column {c!r} is {frame[c].dtype}, not float")
    return frame


class Estimator(abc.ABC):
    """Base of every estimator: the four methods of the protocol (see the module docstring)."""

    @abc.abstractmethod
    def tidy(self) -> pd.DataFrame:
        """One row per estimated quantity: key columns, then :data:`TIDY_COLUMNS`."""

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` plus the fit's information (override to add columns)."""
        return self.tidy()

    @abc.abstractmethod
    def effect_summary(self) -> pd.DataFrame:
        """The headline effect(s), in the columns of :meth:`tidy`."""

    def plot_data(self) -> pd.DataFrame:
        """What ``report/`` draws (override where a figure needs more than :meth:`tidy`)."""
        return self.tidy()
