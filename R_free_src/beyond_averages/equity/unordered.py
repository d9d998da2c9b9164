"""Inequality across the groups of an unordered dimension (ethnic group, sex, the cells of IMD x ethnic group):
no gradient, so no slope index; each group against a reference group, and two summaries of the spread.

* Difference from the reference group, ``p_group - p_reference`` (percentage points by default), with the Newcombe
  interval, and the ratio ``p_group / p_reference`` with the log-ratio interval: the two-group measures of
  :mod:`beyond_averages.equity.gaps`, with the reference in the place of the least deprived quintile.
* Between-group variance, ``BGV = sum_j s_j (r_j - mu)^2``: population shares ``s_j`` (here the eligible patients),
  group rates ``r_j`` and their population-weighted mean ``mu`` (the rate of all patients in the groups), in squared
  units of the rate; zero when every group has the same rate, and larger groups weigh more.
* Index of disparity, ``IDisp = 100 * mean_j |r_j - r_ref| / r_ref``: the mean absolute deviation of the group rates
  from a reference rate, as a percentage of it. The reference is the rate of all patients in the groups unless
  given; ``weighted=True`` weights the deviations by population shares. Both reproduce the published worked example
  of Chesson et al. (Sex Transm Dis 2017;44(9):513-8, Table 2: 133.0 and 114.8), ``tests/test_equity_dimensions.py``.

Groups without patients (or redacted) are left out of the summaries, and so are the dimension's "not recorded"
groups: they are not a population group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages.equity.gaps import absolute_gap, relative_gap
from beyond_averages.equity.intervals import wilson_interval
from beyond_averages.files import InputError

SUMMARY_MEASURES = ("between_group_variance", "index_of_disparity")


def _valid(rate, population):
    rate = np.asarray(rate, dtype="float64")
    population = np.asarray(population, dtype="float64")
    if rate.shape != population.shape:
        raise InputError(f"rates ({rate.shape}) and populations ({population.shape}) must have the same shape")
    keep = ~np.isnan(rate) & ~np.isnan(population) & (population > 0)
    return rate[keep], population[keep]


def between_group_variance(rate, population) -> float:
    """``sum_j s_j (r_j - mu)^2`` with population shares ``s_j`` and the weighted mean ``mu``; NaN with < 2 groups."""
    rate, population = _valid(rate, population)
    if len(rate) < 2:
        return float("nan")
    share = population / population.sum()
    mean = float(np.sum(share * rate))
    return float(np.sum(share * (rate - mean) ** 2))


def index_of_disparity(rate, population, reference: float | None = None, weighted: bool = False) -> float:
    """``100 * mean_j |r_j - r_ref| / r_ref`` (``weighted``: population-share-weighted mean); ``r_ref`` defaults to
    the population-weighted mean rate. NaN with fewer than two groups or a zero reference rate."""
    rate, population = _valid(rate, population)
    if len(rate) < 2:
        return float("nan")
    share = population / population.sum()
    ref = float(np.sum(share * rate)) if reference is None else float(reference)
    if ref == 0:
        return float("nan")
    deviation = np.abs(rate - ref)
    mean_deviation = float(np.sum(share * deviation)) if weighted else float(deviation.mean())
    return 100.0 * mean_deviation / ref


def compare_groups(frame: pd.DataFrame, dimension, *, group: str = "group", numerator: str = "numerator",
                   denominator: str = "denominator", multiplier: float = 100.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each group against the dimension's reference group, and the summaries of the spread.

    ``frame`` has one row per group (counts summed already, e.g. released counts at one month). Returns
    ``(groups, summary)``: ``groups`` with ``rate, ci_lower, ci_upper`` (Wilson, x ``multiplier``) and
    ``difference, difference_lower, difference_upper`` (Newcombe) and ``ratio, ratio_lower, ratio_upper`` (Katz)
    against the reference (NaN for the reference itself and the not-recorded groups); ``summary`` with
    ``measure, estimate`` for :data:`SUMMARY_MEASURES` over the known groups (rates x ``multiplier``).
    """
    out = frame.copy()
    x = out[numerator].to_numpy(dtype="float64")
    n = out[denominator].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = multiplier * x / n
    lo, hi = wilson_interval(np.nan_to_num(x), np.nan_to_num(n))
    missing = np.isnan(x) | np.isnan(n) | (n <= 0)
    out["ci_lower"] = np.where(missing, np.nan, multiplier * lo)
    out["ci_upper"] = np.where(missing, np.nan, multiplier * hi)
    codes = out[group].astype(str).to_numpy()
    at_ref = np.flatnonzero(codes == dimension.reference)
    comparable = np.array([dimension.is_known(c) for c in codes]) & (codes != dimension.reference) & ~missing
    for name in ("difference", "difference_lower", "difference_upper", "ratio", "ratio_lower", "ratio_upper"):
        out[name] = np.nan
    if len(at_ref) == 1 and not missing[at_ref[0]] and comparable.any():
        r = at_ref[0]
        rows = np.flatnonzero(comparable)
        ref_x, ref_n = np.full(len(rows), x[r]), np.full(len(rows), n[r])
        # The gap functions take (most deprived, least deprived) and return least minus most: here the reference
        # stands first, so the result is group minus reference, and the ratio group over reference.
        est, low, up = absolute_gap(ref_x, ref_n, x[rows], n[rows], multiplier=multiplier)
        at = out.index[rows]
        out.loc[at, ["difference", "difference_lower", "difference_upper"]] = np.column_stack([est, low, up])
        est, low, up = relative_gap(ref_x, ref_n, x[rows], n[rows])
        out.loc[at, ["ratio", "ratio_lower", "ratio_upper"]] = np.column_stack([est, low, up])
    known = np.array([dimension.is_known(c) for c in codes]) & ~missing
    rates, pops = out["rate"].to_numpy()[known], n[known]
    summary = pd.DataFrame({"measure": list(SUMMARY_MEASURES),
                            "estimate": [between_group_variance(rates, pops), index_of_disparity(rates, pops)],
                            "groups": int(known.sum())})
    return out, summary
