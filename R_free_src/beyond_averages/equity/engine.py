"""PHEindicatormethods' ``phe_sii`` algorithm, vectorised over groups: its options (:class:`SIISettings`), the
closed-form weighted least squares fit and the Monte Carlo confidence limits.

:class:`beyond_averages.equity.sii.SlopeIndexOfInequality` validates a table and calls :func:`sii_engine`;
:func:`beyond_averages.equity.by_group.equity_by_group` calls it directly on (group x quintile) arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from beyond_averages.equity.gaps import MostDeprived, relative_rank
from beyond_averages.files import InputError

ValueType = Literal["normal", "rate", "proportion"]

VALUE_TYPE_CODES: dict[str, int] = {"normal": 0, "rate": 1, "proportion": 2}
Z95 = float(norm.ppf(0.975))  # PHE derives standard errors from 95% limits whatever the requested confidence


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


def to_scale(v: np.ndarray, code: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if code == 1:
            return np.log(v)
        if code == 2:
            return np.log(v / (1.0 - v))
    return v


def from_scale(t: np.ndarray, code: int) -> np.ndarray:
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


def sii_engine(t, se, pop, s: SIISettings, rng: np.random.Generator | None, memory: float = 4e7) -> dict:
    """Fit SII/RII for G groups at once. ``t``, ``se``, ``pop``: (G, K) arrays, most deprived first, with ``t``
    and ``se`` on the value type's scale (log / logit / natural). Returns point estimates and, if ``rng`` is given,
    the simulated limits per confidence level (arrays of shape (G,))."""
    code, m = s.value_code, float(s.multiplier)
    w_slope, w_int, _ = _wls_weights(pop)
    weight = pop > 0
    t = np.where(weight, t, 0.0)  # zero-weight cells must not turn the fit into NaN
    se = np.where(weight, se, 0.0)
    y = t if s.transform else from_scale(t, code)
    slope = (y * w_slope).sum(axis=1)
    icpt = (y * w_int).sum(axis=1)
    if s.transform:
        x1 = icpt + slope
        f0, f1 = from_scale(icpt, code), from_scale(x1, code)
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
                draws = from_scale(draws, code)
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
    f = lambda v: from_scale(v, code)  # noqa: E731
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
