"""Every inequality measure for many groups at once (months, practices, months x practices) as one tidy frame:
the panel routine behind the ITS and DiD chapters and the study-population chapter.

Orientation (see :mod:`beyond_averages.equity`): a positive gap or SII, a ratio or RII above 1 and a positive
concentration index mean the indicator is higher among the less deprived.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED, QUINTILES
from beyond_averages.equity.engine import SIISettings, Z95, sii_engine, to_scale
from beyond_averages.equity.gaps import absolute_gap, concentration_index, relative_gap
from beyond_averages.equity.intervals import safe_divide, wilson_interval
from beyond_averages.equity.sii import show_value
from beyond_averages.files import InputError, require_columns

Measure = Literal["gap", "ratio", "sii", "rii", "concentration_index"]
MEASURES: tuple[str, ...] = ("gap", "ratio", "sii", "rii", "concentration_index")


def equity_by_group(
    frame: pd.DataFrame,
    *,
    by: Sequence[str] = ("month",),
    quintile: str = "imd_quintile",
    numerator: str = "numerator",
    denominator: str = "denominator",
    measures: Sequence[Measure] = ("gap", "ratio", "sii", "rii"),
    multiplier: float = 100.0,
    confidence: float = 0.95,
    min_quintiles: int = 5,
    simulate: bool = False,
    repetitions: int = 1000,
    seed: int = 20170101,
    source: str = "measures",
) -> pd.DataFrame:
    """Gap, ratio, SII, RII (and concentration index) of a proportion by IMD quintile, per group.

    ``frame`` is long (e.g. the measures table: one row per month x practice x quintile). Rows sharing the ``by``
    keys and quintile are summed first, so ``by=("month",)`` pools practices and ``by=("month", "practice_id")``
    gives one result per practice-month. Returns a tidy frame ``[by...], measure, estimate, ci_lower, ci_upper``
    in ``by`` order, then ``measures`` order.

    * ``gap`` = (p_Q5 - p_Q1) * multiplier (percentage points by default), Newcombe interval; ``ratio`` =
      p_Q5 / p_Q1, log-ratio interval (:func:`absolute_gap`, :func:`relative_gap`). NaN if Q1 or Q5 is empty.
    * ``sii``, ``rii``: PHE's method with value_type "proportion", no transform, on the quintiles with a positive
      denominator, ranks most deprived first; NaN when fewer than ``min_quintiles`` quintiles are populated (PHE
      requires all five, the default). Point estimates are the closed-form weighted least squares. Limits only if
      ``simulate``: Monte Carlo as in :class:`SlopeIndexOfInequality`, each quintile's standard error taken from
      its 95% Wilson limits on the logit scale (the Fingertips route); groups with a quintile at 0% or 100% get
      NaN limits (the logit is infinite, as in PHE, which rejects zero counts). Otherwise the limits are NaN.
    * ``concentration_index``: :func:`concentration_index` of the quintile proportions, no interval.

    ``imd_quintile`` must hold the quintiles of :mod:`beyond_averages.deprivation` (1 = most deprived).
    """
    by = [by] if isinstance(by, str) else list(by)
    require_columns(frame, by + [quintile, numerator, denominator], source)
    keys_out = by
    if not by:  # one overall result: group on a constant
        by = ["_all"]
        frame = frame.assign(_all=0)
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise InputError(f"measures must be a non-empty selection of {MEASURES}; got {list(measures)!r}")
    if not 2 <= min_quintiles <= len(QUINTILES):
        raise InputError(f"min_quintiles must be between 2 and {len(QUINTILES)}; got {min_quintiles!r}")
    bad_q = ~frame[quintile].isin(QUINTILES)
    if bad_q.any():
        row = frame.index[bad_q.to_numpy()][0]
        raise InputError(f"{source}: column {quintile!r} must hold IMD quintiles {QUINTILES} "
                         f"(beyond_averages.deprivation); row {show_value(row)} has {show_value(frame.at[row, quintile])}")
    for col in (numerator, denominator):
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise InputError(f"{source}: column {col!r} must be numeric; got dtype {frame[col].dtype}")
        bad = frame[col].isna() | (frame[col] < 0)
        if bad.any():
            row = frame.index[bad.to_numpy()][0]
            raise InputError(f"{source}: column {col!r} must be a non-negative count; row {show_value(row)} has "
                             f"{show_value(frame.at[row, col])}")
    over = frame[numerator] > frame[denominator]
    if over.any():
        row = frame.index[over.to_numpy()][0]
        raise InputError(f"{source}: row {show_value(row)}: {numerator!r} ({show_value(frame.at[row, numerator])}) exceeds "
                         f"{denominator!r} ({show_value(frame.at[row, denominator])})")
    settings = SIISettings(value_type="proportion", multiplier=multiplier, repetitions=repetitions,
                           confidence=confidence, rii=True, seed=seed)

    sums = frame.groupby(by + [quintile], sort=True, observed=True, dropna=False)[[numerator, denominator]].sum()
    wide = sums.unstack(quintile, fill_value=0).reindex(
        columns=pd.MultiIndex.from_product([[numerator, denominator], QUINTILES]), fill_value=0)
    x = wide[numerator].to_numpy("float64")
    n = wide[denominator].to_numpy("float64")
    keys = wide.index.to_frame(index=False)
    g = len(keys)
    i1, i5 = QUINTILES.index(MOST_DEPRIVED), QUINTILES.index(LEAST_DEPRIVED)
    results: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if "gap" in measures:
        results["gap"] = absolute_gap(x[:, i1], n[:, i1], x[:, i5], n[:, i5], confidence=settings.levels[0],
                                      multiplier=multiplier)
    if "ratio" in measures:
        results["ratio"] = relative_gap(x[:, i1], n[:, i1], x[:, i5], n[:, i5], confidence=settings.levels[0],
                                        multiplier=multiplier)
    p = safe_divide(x, n)
    if "sii" in measures or "rii" in measures:
        ok = (n > 0).sum(axis=1) >= min_quintiles
        t = to_scale(np.where(n > 0, p, 0.5), 2)
        lo, hi = wilson_interval(x, n, 0.95)
        se = (to_scale(hi, 2) - to_scale(lo, 2)) / Z95 / 2.0
        fit = sii_engine(t, np.where(n > 0, se, 0.0), n, settings,
                          np.random.default_rng(seed) if simulate else None)
        # A populated quintile at 0% or 100% has an infinite logit, so its draws are not numbers: the group gets no
        # interval (PHE rejects such data), whichever way the last bit of its Wilson limit rounds.
        finite = np.isfinite(np.where(n > 0, t, 0.0)).all(axis=1)
        nan = np.full(g, np.nan)
        for m in ("sii", "rii"):
            if simulate:
                low, up, _ = fit["limits"][settings.levels[0]][m]
                low, up = np.where(finite, low, np.nan), np.where(finite, up, np.nan)
            else:
                low, up = nan, nan
            results[m] = tuple(np.where(ok, v, np.nan) for v in (fit[m], low, up))
    if "concentration_index" in measures:
        ci = concentration_index(np.where(n > 0, p, 0.0), n, axis=1)
        results["concentration_index"] = (np.where(np.isfinite(ci), ci, np.nan), np.full(g, np.nan),
                                          np.full(g, np.nan))

    k = len(measures)
    out = keys.loc[np.repeat(np.arange(g), k), keys_out].reset_index(drop=True)
    out["measure"] = np.tile(np.asarray(measures, dtype=object), g).astype(str)
    for j, name in enumerate(("estimate", "ci_lower", "ci_upper")):
        out[name] = np.stack([results[m][j] for m in measures], axis=1).ravel()
    return out
