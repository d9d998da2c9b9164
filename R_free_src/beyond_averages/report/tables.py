"""Shared table helpers and the one number-formatting policy of the book.

Every number that reaches a page is formatted here, so chapters agree:

* percentages (levels, shares): 1 decimal place (:func:`format_percent`);
* percentage-point effects, gaps and their confidence limits: 2 decimal places (:func:`format_pp`), with a signed
  form for changes (:func:`format_signed`, "+1.23");
* ratios and other unitless indices: 2 decimal places (:func:`format_ratio`);
* p-values: 3 decimal places, or "< 0.001" (one spelling, in tables and sentences: :func:`format_p`, :func:`p_text`);
* counts: integers with thousands separators (:func:`format_count`);
* a missing value is an en dash, never "nan"; a value that rounds to zero is never shown as "-0.00".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import pandas as pd

from beyond_averages import labels

MISSING = "–"
PERCENT_DIGITS, PP_DIGITS, RATIO_DIGITS, P_DIGITS = 1, 2, 2, 3
P_FLOOR = 0.001


def display_columns(frame: pd.DataFrame, extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    mapping = dict(labels.COLUMNS)
    if extra:
        mapping.update(extra)
    return frame.rename(columns={c: mapping.get(c, c) for c in frame.columns})


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_number(value, digits: int = 1, *, signed: bool = False) -> str:
    """``value`` to ``digits`` decimals with thousands separators: "–" when missing, never a negative zero
    ("-0.004" is "0.00"); ``signed`` puts "+" before positive values (zero stays unsigned)."""
    if _missing(value):
        return MISSING
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    text = f"{value:,.{digits}f}"
    if text.startswith("-") and not any(ch in "123456789" for ch in text):
        text = text[1:]  # rounds to zero: no sign
    if signed and not text.startswith("-") and any(ch in "123456789" for ch in text):
        text = "+" + text
    return text


def format_percent(value, *, sign: bool = True) -> str:
    """A percentage to 1 decimal place, '88.6%' (``sign=False``: '88.6', for a column headed '%')."""
    text = format_number(value, PERCENT_DIGITS)
    return text + "%" if sign and text != MISSING else text


def format_pp(value) -> str:
    """A percentage-point effect, gap or confidence limit to 2 decimal places."""
    return format_number(value, PP_DIGITS)


def format_signed(value, digits: int = PP_DIGITS) -> str:
    """A change with its sign, '+1.23' / '-0.45' ('0.00' when it rounds to zero)."""
    return format_number(value, digits, signed=True)


def format_ratio(value) -> str:
    """A ratio or unitless index (relative gap, RII, kappa, alpha, Durbin-Watson) to 2 decimal places."""
    return format_number(value, RATIO_DIGITS)


def format_level(confidence: float) -> str:
    """A confidence level as a percentage without needless decimals: 0.95 -> '95%'."""
    return f"{float(confidence) * 100:g}%"


def format_count(value) -> str:
    """A released count with thousands separators; a redacted (missing) count shows as '[REDACTED]'."""
    if _missing(value):
        return "[REDACTED]"
    return f"{round(float(value)):,}"


def join_words(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c': a list in a sentence."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def format_ci(lower, upper, digits: int = PP_DIGITS, *, signed: bool = False) -> str:
    """'0.45 to 2.01': 'to' rather than a dash, so negative bounds stay readable."""
    return f"{format_number(lower, digits, signed=signed)} to {format_number(upper, digits, signed=signed)}"


def format_estimate_ci(estimate, lower, upper, digits: int = PP_DIGITS) -> str:
    """'1.23 (0.45 to 2.01)'; '–' when the estimate is missing."""
    if _missing(estimate):
        return MISSING
    return f"{format_number(estimate, digits)} ({format_ci(lower, upper, digits)})"


def format_p(p) -> str:
    """A p-value to 3 decimal places, '< 0.001' below that (never '0.000')."""
    if _missing(p):
        return MISSING
    return f"< {P_FLOOR:.{P_DIGITS}f}" if float(p) < P_FLOOR else format_number(p, P_DIGITS)


def p_text(p) -> str:
    """'p < 0.001' or 'p = 0.042' for sentences."""
    shown = format_p(p)
    if shown == MISSING:
        return "p not available"
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def disclosure_clause(rules) -> str:
    """The statistical disclosure rule applied to released counts, as a clause (no capital, no full stop)."""
    return (f"counts of {rules.redact_at_or_below} or fewer are redacted and the others rounded to the nearest "
            f"{rules.round_to}")


def html_table(frame: pd.DataFrame, extra: Mapping[str, str] | None = None):
    """A pandas Styler without the index, for a notebook cell whose output becomes a book table.

    The Styler's table id is derived from the content (pandas draws a random one), so reruns give the same HTML.
    """
    shown = display_columns(frame, extra)
    digest = hashlib.sha256(pd.util.hash_pandas_object(shown.astype(str), index=False).values.tobytes())
    return shown.style.hide(axis="index").set_uuid(digest.hexdigest()[:8])
