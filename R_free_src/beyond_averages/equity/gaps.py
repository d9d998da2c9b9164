"""Gaps between the least and most deprived groups, the fractional rank of grouped data and the concentration
index.

Orientation (see :mod:`beyond_averages.equity`): groups are ranked from the most deprived (rank 0) to the least
deprived (rank 1), so a positive gap, a ratio above 1 and a positive concentration index all mean the indicator is
higher among the less deprived.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from beyond_averages.equity.intervals import newcombe_interval, ratio_log_interval, safe_divide

MostDeprived = Literal["first", "last"]


def relative_rank(population, axis: int = -1) -> np.ndarray:
    """Cumulative population midpoints (PHE's ``FindXValues``; the fractional rank of a grouped distribution).

    Groups must already be ordered most deprived first along ``axis``. A group holding share ``a_i`` of the
    population gets rank ``sum(a_j, j < i) + a_i / 2``, so ranks lie in (0, 1) and their population-weighted mean
    is exactly 0.5. A zero-population group gets the rank of the boundary it sits on and carries no weight.
    """
    pop = np.asarray(population, dtype="float64")
    share = pop / pop.sum(axis=axis, keepdims=True)
    return np.cumsum(share, axis=axis) - share / 2.0


def difference_weight(n_a, n_b) -> np.ndarray:
    """``n_a n_b / (n_a + n_b)``, the inverse of the binomial variance factor ``1/n_a + 1/n_b`` of a difference of
    two proportions: the effective number of patients behind a gap. 0 where either side has no patient.

    Why: a gap measured on a handful of patients on one side is mostly noise however large the other side, so a
    mean of many practices' gaps (or of their changes) weighted by it is far more precise than one weighted by the
    practices' whole list sizes (the within-practice gap of :mod:`beyond_averages.did`, and the group gaps of
    :mod:`beyond_averages.did.group_gap`)."""
    a, b = np.asarray(n_a, dtype="float64"), np.asarray(n_b, dtype="float64")
    total = a + b
    return np.divide(a * b, total, out=np.zeros(np.broadcast(a, b).shape), where=(a > 0) & (b > 0))


def absolute_gap(x_most, n_most, x_least, n_least, *, confidence: float = 0.95, multiplier: float = 1.0):
    """Difference in proportions, least minus most deprived, with a Newcombe hybrid-score interval.

    ``p_least - p_most`` (times ``multiplier``, e.g. 100 for percentage points). The interval combines the two
    Wilson score intervals (Newcombe's "method 10"; Newcombe RG, Altman DG. Proportions and their differences.
    In: Altman DG et al. (eds), *Statistics with confidence*, 2nd edn, BMJ Books 2000): it stays inside [-1, 1]
    and behaves at 0% and 100%, unlike the Wald interval. Returns ``(estimate, ci_lower, ci_upper)`` arrays; NaN
    where either denominator is zero. A negative multiplier swaps the limits so that lower <= upper.
    """
    gap = safe_divide(x_least, n_least) - safe_divide(x_most, n_most)
    lower, upper = newcombe_interval(x_most, n_most, x_least, n_least, confidence)
    if multiplier < 0:
        return gap * multiplier, upper * multiplier, lower * multiplier
    return gap * multiplier, lower * multiplier, upper * multiplier


def relative_gap(x_most, n_most, x_least, n_least, *, confidence: float = 0.95, multiplier: float = 1.0):
    """Ratio of proportions, least over most deprived, with a log-ratio (Katz) interval.

    ``SE(log ratio) = sqrt(1/x_least - 1/n_least + 1/x_most - 1/n_most)``; the interval is
    ``exp(log ratio +/- z * SE)``. Returns ``(estimate, ci_lower, ci_upper)``. The estimate is NaN where either
    denominator is zero or ``x_most == 0`` (infinite ratio); the interval is NaN where either numerator is zero.
    A negative ``multiplier`` inverts the ratio (most / least), mirroring PHE's RII.
    """
    ratio, lower, upper = ratio_log_interval(x_least, n_least, x_most, n_most, confidence)
    if multiplier < 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / ratio, 1.0 / upper, 1.0 / lower
    return ratio, lower, upper


def concentration_index(value, population, *, most_deprived: MostDeprived = "first", axis: int = -1):
    """Relative concentration index for grouped data: ``C = 2 * cov_w(y, R) / mean_w(y)``.

    ``R`` is the fractional rank (:func:`relative_rank`, most deprived first), ``w`` the population shares, so
    equivalently ``C = (2 / mu) * sum(w_i * y_i * R_i) - 1`` or ``1 - 2 * (area under the concentration curve)``
    (World Bank, *Quantitative Techniques for Health Equity Analysis*, Technical Note #7). C lies in (-1, 1);
    positive means the indicator is concentrated among the less deprived. Works along ``axis`` of 2-D input (one
    row per group). Zero-population groups carry no weight; NaN if the weighted mean is zero.
    """
    y = np.asarray(value, dtype="float64")
    pop = np.asarray(population, dtype="float64")
    if most_deprived == "last":
        y, pop = np.flip(y, axis=axis), np.flip(pop, axis=axis)
    w = pop / pop.sum(axis=axis, keepdims=True)
    rank = relative_rank(pop, axis=axis)
    y = np.where(w > 0, y, 0.0)
    mu = (w * y).sum(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = 2.0 * (w * y * rank).sum(axis=axis) / mu - 1.0
    return np.where(mu != 0, c, np.nan) if np.ndim(c) else (float(c) if mu != 0 else math.nan)
