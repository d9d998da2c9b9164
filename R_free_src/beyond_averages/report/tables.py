"""Shared table helpers: display labels, estimate (CI) strings and HTML output without the pandas index."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from beyond_averages import labels



def display_columns(frame: pd.DataFrame, extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    mapping = dict(labels.COLUMNS)
    if extra:
        mapping.update(extra)
    return frame.rename(columns={c: mapping.get(c, c) for c in frame.columns})


def format_number(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def format_count(value) -> str:
    """A released count: redacted values show as '[REDACTED]'."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value):
        return "[REDACTED]"
    return f"{int(round(value)):,}"


def format_estimate_ci(estimate, lower, upper, digits: int = 2) -> str:
    """'1.23 (0.45 to 2.01)': 'to' rather than a dash, so negative bounds stay readable."""
    if estimate is None or pd.isna(estimate):
        return "–"
    return f"{estimate:.{digits}f} ({lower:.{digits}f} to {upper:.{digits}f})"


def format_p(p) -> str:
    if p is None or pd.isna(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_text(p) -> str:
    """'p < 0.001' or 'p = 0.042' for sentences (tables use :func:`format_p`)."""
    shown = format_p(p)
    return f"p < {shown[1:]}" if shown.startswith("<") else f"p = {shown}"


def html_table(frame: pd.DataFrame, extra: Mapping[str, str] | None = None):
    """A pandas Styler without the index, for a notebook cell whose output becomes a book table.

    The Styler's table id is derived from the content (pandas draws a random one), so reruns give the same HTML.
    """
    shown = display_columns(frame, extra)
    digest = hashlib.sha256(pd.util.hash_pandas_object(shown.astype(str), index=False).values.tobytes())
    return shown.style.hide(axis="index").set_uuid(digest.hexdigest()[:8])
