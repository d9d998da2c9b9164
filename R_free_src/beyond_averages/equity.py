"""Inequality across ordered deprivation groups: gap, ratio, SII, RII and concentration index.

Orientation, used by every measure here: groups are ranked from the MOST deprived (rank 0) to the LEAST deprived
(rank 1). With IMD quintiles from :mod:`beyond_averages.deprivation` (quintile 1 = most deprived) that is ascending
quintile order, PHE's convention. So for every measure a positive gap, a positive SII, a ratio or RII above 1 and a
positive concentration index all mean the same thing: *the indicator is higher among the less deprived*. For a
"higher is better" process measure (share of patients with a blood pressure recorded) that is an inequality
disadvantaging deprived patients. If the quantile labels run the other way (highest label = most deprived) pass
``most_deprived="last"``; the ranks are then reversed so the meaning of the sign is unchanged.

* :func:`absolute_gap` / :func:`relative_gap` -- least minus most deprived group (Q5 - Q1) and least / most (Q5 / Q1)
  for proportions, with a Newcombe hybrid-score interval for the difference and a log-ratio (Katz) interval for the
  ratio.
* :class:`SlopeIndexOfInequality` and :func:`phe_sii` -- a line-by-line port of ``phe_sii`` from the R package
  PHEindicatormethods (OHID / UKHSA; GPL-3), including its Monte Carlo confidence intervals.
* :func:`concentration_index` -- the relative concentration index for grouped data.
* :func:`equity_by_group` -- all of the above for many groups at once (months, practices) as one tidy frame.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import expit
import pandas as pd
from scipy.stats import norm

from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED, QUINTILES
from beyond_averages.files import InputError, require_columns

ValueType = Literal["normal", "rate", "proportion"]
MostDeprived = Literal["first", "last"]
Measure = Literal["gap", "ratio", "sii", "rii", "concentration_index"]

VALUE_TYPE_CODES: dict[str, int] = {"normal": 0, "rate": 1, "proportion": 2}
MEASURES: tuple[str, ...] = ("gap", "ratio", "sii", "rii", "concentration_index")
_Z95 = float(norm.ppf(0.975))  # PHE derives standard errors from 95% limits whatever the requested confidence


# ----------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------
def relative_rank(population, axis: int = -1) -> np.ndarray:
    """Cumulative population midpoints (PHE's ``FindXValues``; the fractional rank of a grouped distribution).

    Groups must already be ordered most deprived first along ``axis``. A group holding share ``a_i`` of the
    population gets rank ``sum(a_j, j < i) + a_i / 2``, so ranks lie in (0, 1) and their population-weighted mean
    is exactly 0.5. A zero-population group gets the rank of the boundary it sits on and carries no weight.
    """
    pop = np.asarray(population, dtype="float64")
    share = pop / pop.sum(axis=axis, keepdims=True)
    return np.cumsum(share, axis=axis) - share / 2.0


def wilson_interval(x, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score limits for ``x`` of ``n`` (Fingertips' method for proportions; NaN where ``n == 0``)."""
    x = np.asarray(x, dtype="float64")
    n = np.asarray(n, dtype="float64")
    z = float(norm.ppf(confidence + (1.0 - confidence) / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, x / n, np.nan)
        centre = 2.0 * x + z**2
        spread = z * np.sqrt(z**2 + 4.0 * x * (1.0 - p))
        lower = (centre - spread) / 2.0 / (n + z**2)
        upper = (centre + spread) / 2.0 / (n + z**2)
    bad = ~(n > 0)
    return np.where(bad, np.nan, lower), np.where(bad, np.nan, upper)


def absolute_gap(x_most, n_most, x_least, n_least, *, confidence: float = 0.95, multiplier: float = 1.0):
    """Difference in proportions, least minus most deprived, with a Newcombe hybrid-score interval.

    ``p_least - p_most`` (times ``multiplier``, e.g. 100 for percentage points). The interval combines the two
    Wilson score intervals (Newcombe's "method 10"; Newcombe RG, Altman DG. Proportions and their differences.
    In: Altman DG et al. (eds), *Statistics with confidence*, 2nd edn, BMJ Books 2000): it stays inside [-1, 1]
    and behaves at 0% and 100%, unlike the Wald interval. Returns ``(estimate, ci_lower, ci_upper)`` arrays; NaN
    where either denominator is zero. A negative multiplier swaps the limits so that lower <= upper.
    """
    p1 = _safe_divide(x_most, n_most)
    p2 = _safe_divide(x_least, n_least)
    l1, u1 = wilson_interval(x_most, n_most, confidence)
    l2, u2 = wilson_interval(x_least, n_least, confidence)
    gap = p2 - p1
    lower = gap - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    upper = gap + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return _scale(gap, lower, upper, multiplier)


def relative_gap(x_most, n_most, x_least, n_least, *, confidence: float = 0.95, multiplier: float = 1.0):
    """Ratio of proportions, least over most deprived, with a log-ratio (Katz) interval.

    ``SE(log ratio) = sqrt(1/x_least - 1/n_least + 1/x_most - 1/n_most)``; the interval is
    ``exp(log ratio +/- z * SE)``. Returns ``(estimate, ci_lower, ci_upper)``. The estimate is NaN where either
    denominator is zero or ``x_most == 0`` (infinite ratio); the interval is NaN where either numerator is zero.
    A negative ``multiplier`` inverts the ratio (most / least), mirroring PHE's RII.
    """
    x1, n1 = np.asarray(x_most, dtype="float64"), np.asarray(n_most, dtype="float64")
    x2, n2 = np.asarray(x_least, dtype="float64"), np.asarray(n_least, dtype="float64")
    z = float(norm.ppf(confidence + (1.0 - confidence) / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = _safe_divide(x2, n2) / _safe_divide(x1, n1)
        ratio = np.where(np.isfinite(ratio), ratio, np.nan)
        se = np.sqrt(1.0 / x2 - 1.0 / n2 + 1.0 / x1 - 1.0 / n1)
        ok = (x1 > 0) & (x2 > 0) & (n1 > 0) & (n2 > 0)
        lower = np.where(ok, ratio * np.exp(-z * se), np.nan)
        upper = np.where(ok, ratio * np.exp(z * se), np.nan)
        if multiplier < 0:
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


def _show(value) -> str:
    """repr of a cell for error messages, without numpy's ``np.float64(...)`` wrapper."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _safe_divide(num, den) -> np.ndarray:
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _scale(est, lower, upper, multiplier: float):
    if multiplier < 0:
        return est * multiplier, upper * multiplier, lower * multiplier
    return est * multiplier, lower * multiplier, upper * multiplier


# ----------------------------------------------------------------------------------------------------------------
# SII / RII: the PHEindicatormethods algorithm
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SIISettings:
    """Options of ``phe_sii``, validated once.

    value_type: "normal" (PHE 0), "rate" (1; simulated on the log scale) or "proportion" (2; logit scale); the
        integers 0, 1, 2 are accepted too. It decides the scale on which standard errors are derived from the 95%
        limits and on which the Monte Carlo draws are made.
    transform: fit the regression on the log (rates) or logit (proportions) scale and back-transform the fitted
        line; the SII is then ``f(b0 + b1) - f(b0)`` and the RII ``f(b0 + b1) / f(b0)`` on the natural scale.
    multiplier: scales SII (and its limits) e.g. 100 for percentage points; a negative value also inverts the RII
        (polarity change), as in PHE. The intercept is reported times ``abs(multiplier)`` (see ``phe_sii``).
    repetitions: Monte Carlo draws (PHE minimum 1,000, default 100,000); ``reliability_stat`` draws 10 times as many.
    confidence: one level or several, as fractions (0.95) or percentages (95); 90 <= level < 100.
    rii, intercept: add RII and intercept rows to the summary. reliability_stat: add ``ci_mad``, the mean absolute
        difference of the limits from nine further simulation batches against the first (a Monte Carlo error gauge).
    most_deprived: which end of the quantile labels is most deprived ("first" = lowest label, the IMD convention).
    seed: seeds ``numpy.random.default_rng``; the same seed and data give the same limits bit for bit.
    """

    value_type: ValueType | int = "normal"
    transform: bool = False
    multiplier: float = 1.0
    repetitions: int = 100_000
    confidence: float | tuple[float, ...] = 0.95
    rii: bool = False
    intercept: bool = False
    reliability_stat: bool = False
    most_deprived: MostDeprived = "first"
    seed: int = 20170101
    value_code: int = field(init=False, repr=False)
    levels: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        code = self.value_type
        if isinstance(code, str):
            code = VALUE_TYPE_CODES.get(code, -1)
        elif isinstance(code, (bool, np.bool_)) or not isinstance(code, (int, np.integer)):
            code = -1
        if code not in (0, 1, 2):
            raise InputError(
                f"value_type should be 0, 1 or 2 ('normal', 'rate', 'proportion'); got {self.value_type!r}"
            )
        for name in ("multiplier", "repetitions"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, (int, float, np.integer, np.floating)):
                raise InputError(f"{name} should be numeric; got {val!r}")
        if self.multiplier == 0 or not np.isfinite(self.multiplier):
            raise InputError(f"multiplier must be a finite non-zero number; got {self.multiplier!r}")
        if self.repetitions < 1000 or int(self.repetitions) != self.repetitions:
            raise InputError(
                f"number of repetitions must be a whole number, 1000 or greater (PHE default 100,000); "
                f"got {self.repetitions!r}"
            )
        raw = self.confidence if isinstance(self.confidence, (tuple, list)) else (self.confidence,)
        levels = []
        for c in raw:
            if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)):
                raise InputError(f"confidence levels should be numeric; got {c!r}")
            c = float(c) / 100.0 if c >= 90 else float(c)
            if not 0.9 <= c < 1.0:
                raise InputError(
                    f"all confidence levels must be between 90 and 100 or between 0.9 and 1 (exclusive of 100%); "
                    f"got {raw!r}"
                )
            levels.append(c)
        if self.transform and code == 0:
            raise InputError("value_type should be 'rate' (1) or 'proportion' (2) when transform is true")
        if self.most_deprived not in ("first", "last"):
            raise InputError(f"most_deprived must be 'first' or 'last'; got {self.most_deprived!r}")
        object.__setattr__(self, "value_code", int(code))
        object.__setattr__(self, "levels", tuple(levels))


def _to_scale(v: np.ndarray, code: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if code == 1:
            return np.log(v)
        if code == 2:
            return np.log(v / (1.0 - v))
    return v


def _from_scale(t: np.ndarray, code: int) -> np.ndarray:
    if code == 1:
        return np.exp(t)
    if code == 2:
        # The logistic function, exact at the ends: a 0% or 100% cell (logit -inf/+inf) maps back to 0 or 1.
        return expit(t)
    return t


def _wls_weights(pop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group (rows), vectors ``w_slope``, ``w_int`` with slope = y @ w_slope, intercept = y @ w_int.

    Closed form of PHE's ``lm(y*sqrt(a) ~ sqrt(a) + b*sqrt(a) - 1)``, i.e. least squares weighted by the
    population share ``a`` on the rank midpoints ``b``.
    """
    a = pop / pop.sum(axis=1, keepdims=True)
    b = relative_rank(pop, axis=1)
    bbar = (a * b).sum(axis=1, keepdims=True)
    sxx = (a * (b - bbar) ** 2).sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_slope = a * (b - bbar) / sxx
    w_int = a - bbar * w_slope
    return w_slope, w_int, b


def _sii_engine(t, se, pop, s: SIISettings, rng: np.random.Generator | None, memory: float = 4e7) -> dict:
    """Fit SII/RII for G groups at once. ``t``, ``se``, ``pop``: (G, K) arrays, most deprived first, with ``t``
    and ``se`` on the value type's scale (log / logit / natural). Returns point estimates and, if ``rng`` is given,
    the simulated limits per confidence level (arrays of shape (G,))."""
    code, m = s.value_code, float(s.multiplier)
    w_slope, w_int, _ = _wls_weights(pop)
    weight = pop > 0
    t = np.where(weight, t, 0.0)  # zero-weight cells must not turn the fit into NaN
    se = np.where(weight, se, 0.0)
    y = t if s.transform else _from_scale(t, code)
    slope = (y * w_slope).sum(axis=1)
    icpt = (y * w_int).sum(axis=1)
    if s.transform:
        x1 = icpt + slope
        f0, f1 = _from_scale(icpt, code), _from_scale(x1, code)
        sii = (f1 - f0) * m
        rii = f1 / f0
        intercept = f0 * abs(m)
    else:
        sii = slope * m
        rii = (icpt + slope) / icpt
        intercept = icpt * abs(m)
    if m < 0:
        rii = 1.0 / rii
    out = {"sii": sii, "rii": rii, "intercept": intercept, "limits": {}}
    if rng is None:
        return out

    n_groups, k = t.shape
    reps = int(s.repetitions)
    n_batches = 10 if s.reliability_stat else 1
    pos = []
    for c in s.levels:
        upper_q = c + (1.0 - c) / 2.0  # R: round(repeats * (1 - cv)), round(repeats * cv); 1-based positions
        pos.append((int(np.round(reps * (1.0 - upper_q))) - 1, int(np.round(reps * upper_q)) - 1))
    order_stats = {key: np.empty((n_groups, n_batches, 2 * len(pos))) for key in ("slope", "rii")}
    chunk = max(1, int(memory // (n_batches * reps * k * 8)))
    flat_pos = [p for pair in pos for p in pair]
    for start in range(0, n_groups, chunk):
        sl = slice(start, min(start + chunk, n_groups))
        # Consumed in group order: the same seed gives the same draws whatever the chunk size.
        z = rng.standard_normal((sl.stop - sl.start, n_batches * reps, k))
        with np.errstate(invalid="ignore", divide="ignore"):  # a 0%/100% cell (infinite logit) gives NaN limits
            draws = t[sl, None, :] + se[sl, None, :] * z
            if not s.transform:
                draws = _from_scale(draws, code)
            draws = np.where(weight[sl, None, :], draws, 0.0)
            b1 = np.einsum("grk,gk->gr", draws, w_slope[sl])
            b0 = np.einsum("grk,gk->gr", draws, w_int[sl])
            r = (b1 + b0) / b0
            if m < 0:
                r = 1.0 / r
        if not s.transform:
            b1 = b1 * m
            order_stats["rii"][sl] = np.sort(r.reshape(-1, n_batches, reps), axis=2)[:, :, flat_pos]
        order_stats["slope"][sl] = np.sort(b1.reshape(-1, n_batches, reps), axis=2)[:, :, flat_pos]

    for i, c in enumerate(s.levels):
        lo, hi = order_stats["slope"][:, :, 2 * i], order_stats["slope"][:, :, 2 * i + 1]
        if s.transform:
            sii_lo, sii_hi, rii_lo, rii_hi = _back_transform_limits(icpt + slope / 2.0, lo, hi, code, m)
        else:
            sii_lo, sii_hi = lo, hi
            rii_lo, rii_hi = order_stats["rii"][:, :, 2 * i], order_stats["rii"][:, :, 2 * i + 1]
        out["limits"][c] = {
            "sii": (sii_lo[:, 0], sii_hi[:, 0], _mad(sii_lo, sii_hi)),
            "rii": (rii_lo[:, 0], rii_hi[:, 0], _mad(rii_lo, rii_hi)),
        }
    return out


def _back_transform_limits(x_half, lo, hi, code, m):
    """PHE's back-transformation of simulated slope limits when ``transform`` is true.

    The simulated limits of the slope (log / logit scale) are pivoted about the fitted value at rank 0.5, giving
    a line for each limit; its end points are back-transformed and differenced (SII) or divided (RII). With a
    negative multiplier the limits swap and the RII is inverted. (PHE's R code tests ``multiplier < 1`` for rates
    but ``< 0`` for proportions; we use ``< 0`` for both: ``< 1`` would swap the limits for 0 < multiplier < 1.)
    """
    x_half = x_half[:, None]
    i_lo, i_hi = x_half - lo / 2.0, x_half - hi / 2.0
    x1_lo, x1_hi = x_half + lo / 2.0, x_half + hi / 2.0
    f = lambda v: _from_scale(v, code)  # noqa: E731
    d_lo, d_hi = f(x1_lo) - f(i_lo), f(x1_hi) - f(i_hi)
    r_lo, r_hi = f(x1_lo) / f(i_lo), f(x1_hi) / f(i_hi)
    if m < 0:
        return d_hi * m, d_lo * m, 1.0 / r_hi, 1.0 / r_lo
    return d_lo * m, d_hi * m, r_lo, r_hi


def _mad(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """PHE reliability statistic: mean |limit_j - limit_1| over batches 2..10, lower and upper together."""
    if lo.shape[1] == 1:
        return np.full(lo.shape[0], np.nan)
    diffs = np.concatenate([np.abs(lo[:, 1:] - lo[:, :1]), np.abs(hi[:, 1:] - hi[:, :1])], axis=1)
    return diffs.mean(axis=1)


class SlopeIndexOfInequality:
    """Slope and relative index of inequality, computed exactly as PHEindicatormethods' ``phe_sii``.

    Method (Low & Low, J Public Health 2004;26:388-395, as implemented by PHE): within each group (``by``), the
    quantiles are ordered most deprived first; each gets its population share ``a`` and the rank midpoint ``b``
    of its slice of the cumulative population (:func:`relative_rank`). The indicator is regressed on ``b`` by least
    squares weighted by ``a`` (PHE fits ``y*sqrt(a) ~ sqrt(a) + b*sqrt(a) - 1``). SII = fitted(1) - fitted(0), the
    modelled difference between the least and most deprived ends of the population; RII = fitted(1) / fitted(0);
    intercept = fitted(0). With ``transform`` the fit is on the log / logit scale (see :class:`SIISettings`).

    Confidence intervals are by simulation: each quantile's value is drawn ``repetitions`` times from a normal
    distribution with its standard error, on the natural (0), log (1, rates) or logit (2, proportions) scale; each
    draw set is refitted and the limits are order statistics at positions ``round(R * (1 - q))`` and
    ``round(R * q)``, ``q = c + (1 - c)/2``, of the sorted draws (PHE's positions). The standard error is ``se`` if
    given, else ``(upper_cl - lower_cl) / (2 * 1.959964)`` on the transformed scale (always 95% limits).

    Inputs mirror ``phe_sii``: ``value`` (or, for proportions, ``x`` with ``value = x / population``) and either
    ``se`` or both ``lower_cl`` and ``upper_cl``. Every group must hold every quantile present in the data (5 to
    100 quantiles); incomplete groups are dropped with a warning, more than 10 quantiles warns about instability.
    Draws use one ``numpy.random.default_rng(seed)`` consumed in sorted group order.

    Fitted attributes: ``estimates`` (one row per group: ``sii``, ``rii``, ``intercept``), ``ranks`` (input rows
    with ``population_share`` and ``relative_rank``), and ``sii``, ``rii``, ``intercept`` as floats when there is a
    single group. ``summary()`` gives the tidy table.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        quantile: str = "imd_quintile",
        population: str = "denominator",
        value: str | None = None,
        x: str | None = None,
        se: str | None = None,
        lower_cl: str | None = None,
        upper_cl: str | None = None,
        by: Sequence[str] = (),
        settings: SIISettings | None = None,
        source: str = "data",
        **options,
    ) -> None:
        if settings is not None and options:
            raise InputError("pass either settings=SIISettings(...) or keyword options, not both")
        self.settings = settings if settings is not None else SIISettings(**options)
        self.by = [by] if isinstance(by, str) else list(by)
        self.columns = {"quantile": quantile, "population": population, "value": value, "x": x, "se": se,
                        "lower_cl": lower_cl, "upper_cl": upper_cl}
        self.source = source
        frame = self._validate(data)
        self._fit(frame)

    # -- validation (PHE's checks, with messages that name the column and row) ----------------------------------
    def _validate(self, data: pd.DataFrame) -> pd.DataFrame:
        s, c, src = self.settings, self.columns, self.source
        if not isinstance(data, pd.DataFrame):
            raise InputError(f"{src}: expected a pandas DataFrame, got {type(data).__name__}")
        if c["value"] is None and c["x"] is None:
            raise InputError(f"{src}: SII requires a value column, or an x (numerator) column for a proportion")
        if c["value"] is None and s.value_code != 2:
            raise InputError(f"{src}: an x (numerator) column can stand in for value only when value_type is "
                             f"'proportion'; pass value=")
        if c["se"] is None and (c["lower_cl"] is None or c["upper_cl"] is None):
            raise InputError(f"{src}: SII requires either lower_cl and upper_cl columns, or an se column")
        if s.transform and c["se"] is not None:
            raise InputError(f"{src}: se must be omitted when transform is true (the limits are transformed "
                             f"instead); pass lower_cl= and upper_cl=")
        used = list(dict.fromkeys(v for v in c.values() if v is not None))  # one column may serve twice
        require_columns(data, self.by + used, src)
        for col in [v for k, v in c.items() if v is not None and k != "quantile"]:
            if not pd.api.types.is_numeric_dtype(data[col]) or pd.api.types.is_bool_dtype(data[col]):
                raise InputError(f"{src}: column {col!r} must be numeric; got dtype {data[col].dtype}")
        frame = data[self.by + used].copy()
        self._check_rows(frame, c["population"], lambda v: ~(v > 0), "must be a positive population")
        if c["se"] is not None:
            self._check_rows(frame, c["se"], lambda v: ~(v >= 0), "must be a non-negative standard error")
        for col in (c["lower_cl"], c["upper_cl"]):
            if col is not None and c["se"] is None:
                self._check_rows(frame, col, lambda v: v.isna(), "has a missing confidence limit")
        if c["value"] is not None:
            self._check_rows(frame, c["value"], lambda v: v.isna(), "has a missing value")
        if s.value_code == 2:
            if c["value"] is not None:
                self._check_rows(frame, c["value"], lambda v: (v < 0) | (v > 1),
                                 "must be a proportion between 0 and 1")
            elif c["x"] is not None:
                self._check_rows(frame, c["x"], lambda v: ~(v > 0), "must be a positive count (x)")
            if c["se"] is None:
                for col in (c["lower_cl"], c["upper_cl"]):
                    self._check_rows(frame, col, lambda v: (v < 0) | (v > 1),
                                     "must be a confidence limit between 0 and 1")
        if s.value_code == 1 and c["value"] is not None:
            self._check_rows(frame, c["value"], lambda v: ~(v > 0), "must be a positive rate (value_type 'rate')")
        dup = frame.duplicated(self.by + [c["quantile"]], keep=False)
        if dup.any():
            row = frame.index[dup][0]
            raise InputError(f"{src}: row {_show(row)}: quantile {_show(frame.at[row, c['quantile']])} appears more than "
                             f"once in its group; aggregate first or add the grouping column to by=")
        return frame

    def _check_rows(self, frame: pd.DataFrame, col: str, is_bad, problem: str) -> None:
        bad = is_bad(frame[col])
        if bad.any():
            row = frame.index[bad.to_numpy()][0]
            raise InputError(f"{self.source}: column {col!r} {problem}; row {_show(row)} "
                             f"({self.columns['quantile']} {_show(frame.at[row, self.columns['quantile']])}) has "
                             f"{_show(frame.at[row, col])} ({int(bad.sum())} bad row(s) in all)")

    # -- fit -------------------------------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame) -> None:
        s, c = self.settings, self.columns
        q = c["quantile"]
        quantiles = np.sort(frame[q].unique())
        k = len(quantiles)
        if k < 5 or k > 100:
            raise InputError(f"{self.source}: number of quantiles in column {q!r} must be between 5 and 100; "
                             f"found {k}")
        if k > 10:
            warnings.warn("Small values can make SII unstable when using a large number of quantiles",
                          UserWarning, stacklevel=3)
        if self.by:
            counts = frame.groupby(self.by, sort=True, dropna=False)[q].transform("size")
            if (counts < k).any():
                dropped = frame.loc[counts < k, self.by].drop_duplicates()
                warnings.warn(f"some records have been removed due to incomplete data: groups "
                              f"{dropped.to_dict('records')} lack some of the {k} quantiles",
                              UserWarning, stacklevel=3)
                frame = frame.loc[counts == k]
        ascending = s.most_deprived == "first"
        frame = frame.sort_values(self.by + [q], ascending=[True] * len(self.by) + [ascending], kind="stable")
        n_groups = len(frame) // k
        shape = (n_groups, k)
        pop = frame[c["population"]].to_numpy("float64").reshape(shape)
        if c["value"] is not None:
            value = frame[c["value"]].to_numpy("float64")
        else:
            value = frame[c["x"]].to_numpy("float64") / frame[c["population"]].to_numpy("float64")
        code = s.value_code
        t = _to_scale(value, code).reshape(shape)
        if c["se"] is not None:
            se = frame[c["se"]].to_numpy("float64").reshape(shape)
        else:
            lo = _to_scale(frame[c["lower_cl"]].to_numpy("float64"), code)
            hi = _to_scale(frame[c["upper_cl"]].to_numpy("float64"), code)
            se = ((hi - lo) / _Z95 / 2.0).reshape(shape)
        self._fit_result = _sii_engine(t, se, pop, s, np.random.default_rng(s.seed))
        keys = frame[self.by].iloc[::k].reset_index(drop=True) if self.by else pd.DataFrame(index=[0])
        est = keys.copy()
        for name in ("sii", "rii", "intercept"):
            est[name] = self._fit_result[name]
        self.estimates = est
        ranks = frame.copy()
        ranks["population_share"] = (pop / pop.sum(axis=1, keepdims=True)).ravel()
        ranks["relative_rank"] = relative_rank(pop, axis=1).ravel()
        ranks["value"] = value
        self.ranks = ranks.reset_index(drop=True)
        self._keys = keys

    def _single(self, name: str) -> float:
        if len(self.estimates) != 1:
            raise InputError(f"{len(self.estimates)} groups were fitted; read .estimates[{name!r}] instead")
        return float(self.estimates[name].iloc[0])

    @property
    def sii(self) -> float:
        return self._single("sii")

    @property
    def rii(self) -> float:
        return self._single("rii")

    @property
    def intercept(self) -> float:
        return self._single("intercept")

    # -- presentation ------------------------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Tidy table: ``[by...], measure, estimate, confidence, ci_lower, ci_upper`` (+ ``ci_mad``).

        One row per group, measure (``sii``; ``rii`` and ``intercept`` if requested) and confidence level; the
        intercept row has no interval. ``ci_mad`` (reliability_stat) is PHE's mean absolute difference.
        """
        s, res = self.settings, self._fit_result
        parts = []
        measures = ["sii"] + (["rii"] if s.rii else [])
        for measure in measures:
            for level in s.levels:
                lo, hi, mad = res["limits"][level][measure]
                part = self._keys.copy()
                part["measure"] = measure
                part["estimate"] = res[measure]
                part["confidence"] = level
                part["ci_lower"], part["ci_upper"] = lo, hi
                if s.reliability_stat:
                    part["ci_mad"] = mad
                parts.append(part)
        if s.intercept:
            part = self._keys.copy()
            part["measure"] = "intercept"
            part["estimate"] = res["intercept"]
            part["confidence"] = np.nan
            part["ci_lower"] = part["ci_upper"] = np.nan
            if s.reliability_stat:
                part["ci_mad"] = np.nan
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        order = {m: i for i, m in enumerate(["sii", "rii", "intercept"])}
        out["_m"] = out["measure"].map(order)
        out = out.sort_values(self.by + ["_m", "confidence"], kind="stable").drop(columns="_m")
        return out.reset_index(drop=True)

    def effect_summary(self, unit: str = "", digits: int = 2) -> tuple[pd.DataFrame, str]:
        """The summary table and one computed sentence (first group, first confidence level)."""
        table = self.summary()
        row = table[table["measure"] == "sii"].iloc[0]
        where = "higher" if row["estimate"] > 0 else "lower"
        level = f"{row['confidence'] * 100:g}%"
        fmt = f".{digits}f"
        sentence = (
            f"The slope index of inequality is {row['estimate']:{fmt}}{unit} ({level} CI {row['ci_lower']:{fmt}} "
            f"to {row['ci_upper']:{fmt}}): across the whole population, the modelled indicator is "
            f"{abs(row['estimate']):{fmt}}{unit} {where} at the least deprived end than at the most deprived end."
        )
        return table, sentence

    def plot_data(self) -> pd.DataFrame:
        """Points (rank, value on the output scale) and the fitted line, for every group."""
        s = self.settings
        grid = np.linspace(0.0, 1.0, 51)
        scale = abs(s.multiplier)
        lines = []
        for i, row in self.estimates.iterrows():
            if s.transform:
                code = s.value_code
                f0 = row["intercept"] / scale
                b0 = _to_scale(np.array([f0]), code)[0]
                f1 = f0 + row["sii"] / s.multiplier
                b1 = _to_scale(np.array([f1]), code)[0] - b0
                fitted = _from_scale(b0 + b1 * grid, code) * scale
            else:
                # the intercept is reported times |multiplier|, the SII times multiplier
                fitted = row["intercept"] + np.sign(s.multiplier) * row["sii"] * grid
            part = pd.DataFrame({"relative_rank": grid, "fitted": fitted, "group": i})
            lines.append(part)
        points = self.ranks.assign(value=self.ranks["value"] * scale,
                                   group=np.repeat(np.arange(len(self.estimates)), len(self.ranks) //
                                                   max(len(self.estimates), 1)))
        return pd.concat([points.assign(kind="observed"), pd.concat(lines).assign(kind="fitted")],
                         ignore_index=True)

    def plot(self, *, group: int = 0, ax=None, ylabel: str = "Indicator"):
        """Observed quantile values against relative rank with the fitted SII line, for one group."""
        from beyond_averages.style import QUINTILE_COLOURS, OVERALL_COLOUR, figure_and_axes, figure_style

        data = self.plot_data()
        data = data[data["group"] == group]
        obs, line = data[data["kind"] == "observed"], data[data["kind"] == "fitted"]
        with figure_style():
            fig, ax = figure_and_axes(ax)
            q = self.columns["quantile"]
            colours = [QUINTILE_COLOURS.get(int(v), OVERALL_COLOUR) if len(obs) == 5 else OVERALL_COLOUR
                       for v in obs[q]]
            ax.scatter(obs["relative_rank"], obs["value"], s=20 + 400 * obs["population_share"], c=colours,
                       zorder=3, label="Quantile value (area = population share)")
            ax.plot(line["relative_rank"], line["fitted"], color=OVERALL_COLOUR, label="Fitted (SII line)")
            ax.set_xlim(0, 1)
            ax.set_xlabel("Relative rank (0 = most deprived, 1 = least deprived)")
            ax.set_ylabel(ylabel)
            ax.legend(loc="best")
        return fig, ax


def phe_sii(data: pd.DataFrame, quantile: str, population: str, **kwargs) -> pd.DataFrame:
    """Functional form of :class:`SlopeIndexOfInequality`: fit and return ``summary()``.

    Keyword arguments: the column names ``value``, ``x``, ``se``, ``lower_cl``, ``upper_cl``, ``by``, ``source``
    and the :class:`SIISettings` options (``value_type``, ``transform``, ``multiplier``, ``repetitions``,
    ``confidence``, ``rii``, ``intercept``, ``reliability_stat``, ``most_deprived``, ``seed``).

    Deliberate differences from the R function: the intercept is reported times ``abs(multiplier)`` in both
    branches (R scales it only with ``transform``), and the rate back-transformation swaps limits only for a
    negative multiplier (R tests ``< 1``). Neither affects the package's published test cases.
    """
    return SlopeIndexOfInequality(data, quantile=quantile, population=population, **kwargs).summary()


# ----------------------------------------------------------------------------------------------------------------
# Many groups at once
# ----------------------------------------------------------------------------------------------------------------
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
                         f"(beyond_averages.deprivation); row {_show(row)} has {_show(frame.at[row, quintile])}")
    for col in (numerator, denominator):
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise InputError(f"{source}: column {col!r} must be numeric; got dtype {frame[col].dtype}")
        bad = frame[col].isna() | (frame[col] < 0)
        if bad.any():
            row = frame.index[bad.to_numpy()][0]
            raise InputError(f"{source}: column {col!r} must be a non-negative count; row {_show(row)} has "
                             f"{_show(frame.at[row, col])}")
    over = frame[numerator] > frame[denominator]
    if over.any():
        row = frame.index[over.to_numpy()][0]
        raise InputError(f"{source}: row {_show(row)}: {numerator!r} ({_show(frame.at[row, numerator])}) exceeds "
                         f"{denominator!r} ({_show(frame.at[row, denominator])})")
    settings = SIISettings(value_type="proportion", multiplier=multiplier, repetitions=repetitions,
                           confidence=confidence, rii=True, seed=seed)

    sums = frame.groupby(by + [quintile], sort=True, observed=True, dropna=False)[[numerator, denominator]].sum()
    wide = sums.unstack(quintile, fill_value=0).reindex(columns=pd.MultiIndex.from_product([[numerator, denominator], QUINTILES]),
                                          fill_value=0)
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
    p = _safe_divide(x, n)
    if "sii" in measures or "rii" in measures:
        ok = (n > 0).sum(axis=1) >= min_quintiles
        t = _to_scale(np.where(n > 0, p, 0.5), 2)
        lo, hi = wilson_interval(x, n, 0.95)
        se = (_to_scale(hi, 2) - _to_scale(lo, 2)) / _Z95 / 2.0
        fit = _sii_engine(t, np.where(n > 0, se, 0.0), n, settings,
                          np.random.default_rng(seed) if simulate else None)
        nan = np.full(g, np.nan)
        for m in ("sii", "rii"):
            if simulate:
                low, up, _ = fit["limits"][settings.levels[0]][m]
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
