"""Single-series interrupted time series (ITS): segmented regression of a monthly indicator.

:class:`SegmentedRegression` fits ``g(E[y_t]) = b0 + b1*time + b2*level + b3*slope (+ seasonality + COVID-19 term)``
to one monthly series, where

* ``time`` counts months from the first month of the series (0, 1, 2, ...);
* **the interruption month is the first POST month**: ``level`` is 1 from the interruption month on (from the end of
  the transition period if there is one) and ``slope`` counts months since then (0 in the first post month), so
  ``b2`` is the change in level AT the first post month and ``b3`` the change in the monthly slope;
* with ``transition_months = k`` the months ``T0 .. T0+k-1`` are a phase-in: they are left out of the fit and the
  post segment starts at ``T0 + k``;
* ``covid="exclude"`` leaves the disruption months (``covid_start`` to ``covid_end`` inclusive) out of the fit;
  ``covid="indicator"`` adds a 0/1 term for them instead.

Families: ``gaussian`` (OLS on the rate ``per * numerator / denominator`` or on any outcome column), ``poisson`` /
``quasipoisson`` (counts with ``log(denominator)`` as offset), ``binomial`` / ``quasibinomial`` (numerator of
denominator, logit link). Effects are reported on the natural scale (absolute change, times ``per``) and as the ratio
of the fitted value with the intervention to the counterfactual (a rate ratio for log links).

Autocorrelation: ``none`` (model-based SEs), ``newey_west`` (HAC, Bartlett kernel, ``hac_lags`` lags, small-sample
factor n/(n-k) for OLS as Stata's ``newey``), ``ar`` (gaussian only: regression with AR(``ar_order``) errors fitted
by maximum likelihood, statsmodels ARIMA), ``gls`` (gaussian only: generalised least squares with
REML-estimated errors, ``gls_correlation`` = ``ar1_noise`` (AR(1) plus white noise, the default) or ``arma``
(ARMA(``ar_order``, ``ma_order``)); t reference -- see :mod:`beyond_averages.its_inference`), or
``auto`` (fit without correction, use Newey-West if the Ljung-Box test of the residuals at lag ``min(12, n // 5)``
has p < 0.05). The choice made is kept in ``autocorrelation_used_`` and
explained in ``autocorrelation_reason_``.

Confidence intervals of effects: the delta method on the coefficient covariance (``ci_method="delta"``), or draws
from the multivariate normal of the coefficients (``ci_method="simulation"``, seeded). Tests use the t distribution
for OLS and the normal for everything else (as R's ``ci.exp`` for GLMs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np
import pandas as pd
from beyond_averages.files import InputError, require_columns
from beyond_averages.its_inference import (  # noqa: F401 (re-exported for its_inequality and users)
    MAX_ARMA_ORDER, GLSCorrelation, ModelFit, acf_table, default_hac_lags, fit_gls_arma, fit_model, ljung_box_lag,
    residual_diagnostics,
)

Family = Literal["gaussian", "poisson", "quasipoisson", "binomial", "quasibinomial"]
Seasonality = Literal["none", "fourier", "month"]
Autocorrelation = Literal["none", "newey_west", "ar", "gls", "auto"]
CovidHandling = Literal["none", "exclude", "indicator"]
CIMethod = Literal["delta", "simulation"]
ImpactModel = Literal["level_slope", "level", "slope"]

MIN_SEGMENT_POINTS = 8  # fewest fitted months allowed before and after the interruption
POST_TERMS = ("level", "slope")


@dataclass(frozen=True)
class ITSSettings:
    """Model options, validated once. See the module docstring for their meaning."""

    family: Family = "gaussian"
    impact: ImpactModel = "level_slope"
    seasonality: Seasonality = "none"
    harmonics: int = 2
    autocorrelation: Autocorrelation = "none"
    hac_lags: int | None = None  # None: Newey-West rule floor(4 (n/100)^(2/9))
    ar_order: int = 1
    ma_order: int = 1  # used by autocorrelation='gls' with gls_correlation='arma' only
    gls_correlation: GLSCorrelation = "ar1_noise"
    transition_months: int = 0
    covid: CovidHandling = "none"
    covid_start: str = "2020-03-01"
    covid_end: str = "2020-08-01"
    per: float = 100.0
    alpha: float = 0.05
    ci_method: CIMethod = "delta"
    n_sim: int = 4000
    seed: int = 20240401
    min_segment_points: int = MIN_SEGMENT_POINTS

    def __post_init__(self):
        for name, alias in (("family", Family), ("seasonality", Seasonality), ("autocorrelation", Autocorrelation),
                            ("covid", CovidHandling), ("ci_method", CIMethod),
                            ("impact", ImpactModel), ("gls_correlation", GLSCorrelation)):
            if getattr(self, name) not in get_args(alias):
                raise InputError(f"{name}: {getattr(self, name)!r} is not one of {', '.join(get_args(alias))}")
        if not 1 <= int(self.harmonics) <= 6:
            raise InputError(f"harmonics: {self.harmonics!r} must be a whole number from 1 to 6 (period 12 months)")
        if self.transition_months < 0 or self.ar_order < 1:
            raise InputError("transition_months must be >= 0 and ar_order >= 1")
        if self.ar_order > MAX_ARMA_ORDER or not 0 <= self.ma_order <= MAX_ARMA_ORDER:
            raise InputError(f"ar_order {self.ar_order!r} and ma_order {self.ma_order!r}: use ar_order 1 to "
                             f"{MAX_ARMA_ORDER} and ma_order 0 to {MAX_ARMA_ORDER} (short monthly series)")
        if self.hac_lags is not None and self.hac_lags < 0:
            raise InputError(f"hac_lags: {self.hac_lags!r} must be >= 0")
        if self.autocorrelation in ("ar", "gls") and self.family != "gaussian":
            raise InputError(f"autocorrelation={self.autocorrelation!r} needs family='gaussian' (got {self.family!r}); "
                             "use autocorrelation='newey_west' for count families")
        if not 0 < self.alpha < 1 or self.per <= 0:
            raise InputError("alpha must lie in (0, 1) and per must be positive")
        if pd.Timestamp(self.covid_end) < pd.Timestamp(self.covid_start):
            raise InputError(f"covid_end {self.covid_end} is before covid_start {self.covid_start}")

    @property
    def link(self) -> str:
        return {"gaussian": "identity", "poisson": "log", "quasipoisson": "log"}.get(self.family, "logit")


@dataclass(frozen=True)
class EffectSummary:
    """A tidy table of effects and one computed sentence about them."""

    table: pd.DataFrame
    text: str


# ---------------------------------------------------------------------------------------------------------------
# Building blocks shared with the comparative models (its_inequality)
# ---------------------------------------------------------------------------------------------------------------
def month_number(values) -> np.ndarray:
    ts = pd.DatetimeIndex(values)
    return (ts.year.to_numpy() * 12 + ts.month.to_numpy() - 1).astype(np.int64)


def validate_series(frame: pd.DataFrame, time_col: str, value_cols: list[str], interruption,
                    settings: ITSSettings, denominator: str | None = None, source: str = "series",
                    group_col: str | None = None) -> pd.Timestamp:
    """Check one monthly series (or one per group); return the interruption as a Timestamp.

    Raises :class:`InputError` naming the column and the problem for: missing columns, a time column that is not
    month starts, unsorted or duplicated months, gaps, missing values, zero or negative denominators, numerators
    above denominators (binomial), an interruption outside the series, and fewer than
    ``settings.min_segment_points`` fitted months before or after the interruption.
    """
    require_columns(frame, [time_col, *value_cols] + ([group_col] if group_col else []), source)
    try:
        t0 = pd.Timestamp(interruption)
    except (TypeError, ValueError) as err:
        raise InputError(f"{source}: interruption {interruption!r} is not a date") from err
    if t0.day != 1:
        raise InputError(f"{source}: interruption {t0.date()} must be the first day of a month (the first post month)")
    groups = [(None, frame)] if group_col is None else list(frame.groupby(group_col, sort=True))
    for key, part in groups:
        where = source if key is None else f"{source} ({group_col} = {key})"
        months = pd.to_datetime(part[time_col], errors="coerce")
        if months.isna().any():
            raise InputError(f"{where}: column {time_col!r} has missing or non-date values")
        if (months.dt.day != 1).any():
            raise InputError(f"{where}: column {time_col!r} must hold first days of months; "
                             f"found {months[months.dt.day != 1].iloc[0].date()}")
        m = month_number(months)
        if np.any(np.diff(m) == 0):
            dup = months.iloc[int(np.flatnonzero(np.diff(m) == 0)[0]) + 1]
            raise InputError(f"{where}: column {time_col!r} has duplicated month {dup.date()}")
        if np.any(np.diff(m) < 0):
            raise InputError(f"{where}: column {time_col!r} is not sorted ascending; sort by {time_col!r} first")
        if np.any(np.diff(m) > 1):
            gap = months.iloc[int(np.flatnonzero(np.diff(m) > 1)[0])]
            raise InputError(f"{where}: column {time_col!r} has a gap after {gap.date()} (months must be consecutive)")
        for col in value_cols:
            vals = pd.to_numeric(part[col], errors="coerce")
            if vals.isna().any():
                bad = months[vals.isna()].iloc[0].date()
                raise InputError(f"{where}: column {col!r} has missing values (first in {bad}); "
                                 "redacted counts cannot be modelled")
        if denominator is not None:
            den = part[denominator].to_numpy(dtype=float)
            if np.any(den <= 0):
                bad = months[den <= 0].iloc[0].date()
                raise InputError(f"{where}: column {denominator!r} has zero or negative denominators (first in {bad})")
            num = part[value_cols[0]].to_numpy(dtype=float)
            if np.any(num < 0):
                raise InputError(f"{where}: column {value_cols[0]!r} has negative counts")
            if settings.family in ("binomial", "quasibinomial") and np.any(num > den):
                raise InputError(f"{where}: column {value_cols[0]!r} exceeds {denominator!r} in some month; "
                                 "a binomial outcome needs numerator <= denominator")
        if not months.iloc[0] < t0 <= months.iloc[-1]:
            raise InputError(f"{where}: interruption {t0.date()} lies outside the series in {time_col!r} "
                             f"({months.iloc[0].date()} to {months.iloc[-1].date()}); it must be after the first "
                             "month and no later than the last")
        keep = fit_mask(months, t0, settings)
        n_pre = int(np.sum(keep & (months < t0).to_numpy()))
        n_post = int(np.sum(keep & (months >= t0).to_numpy()))
        if min(n_pre, n_post) < settings.min_segment_points:
            raise InputError(f"{where}: too few months in column {time_col!r} to fit: {n_pre} before and "
                             f"{n_post} after "
                             f"the interruption {t0.date()} are used (after exclusions); the minimum is "
                             f"{settings.min_segment_points} on each side")
    return t0


def fit_mask(months, t0: pd.Timestamp, settings: ITSSettings) -> np.ndarray:
    """True for the months used in the fit (drops transition months and, with covid='exclude', the disruption)."""
    m = month_number(months)
    m0 = month_number([t0])[0]
    keep = ~((m >= m0) & (m < m0 + settings.transition_months))
    if settings.covid == "exclude":
        keep &= ~covid_flag(months, settings).astype(bool)
    return keep


def covid_flag(months, settings: ITSSettings) -> np.ndarray:
    m = month_number(months)
    lo, hi = month_number([pd.Timestamp(settings.covid_start), pd.Timestamp(settings.covid_end)])
    return ((m >= lo) & (m <= hi)).astype(float)


def design_matrix(months, t0: pd.Timestamp, settings: ITSSettings, origin: pd.Timestamp | None = None,
                  post: bool = True) -> pd.DataFrame:
    """Regressors for the given months. ``post=False`` zeroes the level and slope terms (the counterfactual)."""
    months = pd.DatetimeIndex(pd.to_datetime(months))
    m = month_number(months)
    m_origin = month_number([origin])[0] if origin is not None else m.min()
    m_post = month_number([t0])[0] + settings.transition_months
    is_post = (m >= m_post).astype(float) * float(post)
    cols = {"const": np.ones(len(m)), "time": (m - m_origin).astype(float)}
    if settings.impact in ("level_slope", "level"):
        cols["level"] = is_post
    if settings.impact in ("level_slope", "slope"):
        cols["slope"] = is_post * (m - m_post)
    cal = months.month.to_numpy()
    if settings.seasonality == "fourier":
        for k in range(1, settings.harmonics + 1):
            cols[f"cos{k}"] = np.cos(2 * np.pi * k * cal / 12)
            if k < 6:  # sin(pi * month) is zero for every month
                cols[f"sin{k}"] = np.sin(2 * np.pi * k * cal / 12)
    elif settings.seasonality == "month":
        for k in range(2, 13):
            cols[f"month{k:02d}"] = (cal == k).astype(float)
    if settings.covid == "indicator":
        cols["covid"] = covid_flag(months, settings)
    return pd.DataFrame(cols, index=range(len(m)))


def natural_scale(settings: ITSSettings) -> float:
    """Multiplier from the model's mean to the reported scale (the gaussian outcome is already times ``per``)."""
    return 1.0 if settings.family == "gaussian" else settings.per


def inverse_link(eta: np.ndarray, link: str) -> np.ndarray:
    if link == "identity":
        return eta
    if link == "log":
        return np.exp(eta)
    return 1 / (1 + np.exp(-eta))


def _dmu(eta: np.ndarray, link: str) -> np.ndarray:
    if link == "identity":
        return np.ones_like(eta)
    if link == "log":
        return np.exp(eta)
    p = 1 / (1 + np.exp(-eta))
    return p * (1 - p)


def contrast_effects(fit: ModelFit, x1: np.ndarray, x0: np.ndarray, settings: ITSSettings,
                     scale: float) -> dict[str, np.ndarray]:
    """Absolute (``scale * (mu1 - mu0)``) and ratio (``mu1 / mu0``) contrasts of rows x1 vs x0, with SEs and CIs."""
    out = linear_contrast(fit, [(1.0, x1), (-1.0, x0)], settings, scale)
    out["mu1"] = scale * inverse_link(np.atleast_2d(x1) @ fit.params.to_numpy(), settings.link)
    out["mu0"] = scale * inverse_link(np.atleast_2d(x0) @ fit.params.to_numpy(), settings.link)
    return out


def linear_contrast(fit: ModelFit, terms: list[tuple[float, np.ndarray]], settings: ITSSettings,
                    scale: float) -> dict[str, np.ndarray]:
    """``absolute = scale * sum_i w_i mu(x_i)`` and ``ratio = exp(sum_i w_i log mu(x_i))`` with SEs and CIs.

    Two terms (+1, -1) give an effect (with intervention vs counterfactual); four (+1, -1, -1, +1) give a
    difference of two groups' effects (absolute) or a ratio of their ratios.
    ``ci_method='delta'``: gradients on the coefficient covariance, the ratio's interval built on the log scale.
    ``ci_method='simulation'``: ``n_sim`` seeded draws of the coefficients, percentile intervals.
    """
    b = fit.params.to_numpy()
    V = fit.cov.to_numpy()
    link = settings.link
    ws = [w for w, _ in terms]
    xs = [np.atleast_2d(x) for _, x in terms]
    etas = [x @ b for x in xs]
    mus = [inverse_link(e, link) for e in etas]
    absolute = scale * sum(w * m for w, m in zip(ws, mus))
    positive = all(np.all(m > 0) for m in mus)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = sum(w * np.log(m) for w, m in zip(ws, mus)) if positive else np.full_like(absolute, np.nan)
    q = fit.quantile(settings.alpha)
    if settings.ci_method == "delta":
        g_abs = scale * sum(w * _dmu(e, link)[:, None] * x for w, e, x in zip(ws, etas, xs))
        g_lr = sum(w * (_dmu(e, link) / m)[:, None] * x for w, e, m, x in zip(ws, etas, mus, xs))
        se_abs = np.sqrt(np.einsum("ij,jk,ik->i", g_abs, V, g_abs))
        se_lr = np.sqrt(np.einsum("ij,jk,ik->i", g_lr, V, g_lr))
        abs_lo, abs_hi = absolute - q * se_abs, absolute + q * se_abs
        lr_lo, lr_hi = log_ratio - q * se_lr, log_ratio + q * se_lr
    else:
        rng = np.random.default_rng(settings.seed)
        draws = rng.multivariate_normal(b, V, size=settings.n_sim, method="cholesky")
        sim_m = [inverse_link(draws @ x.T, link) for x in xs]
        sim_abs = scale * sum(w * m for w, m in zip(ws, sim_m))
        with np.errstate(divide="ignore", invalid="ignore"):
            sim_lr = sum(w * np.log(m) for w, m in zip(ws, sim_m))
        se_abs, se_lr = sim_abs.std(axis=0, ddof=1), sim_lr.std(axis=0, ddof=1)
        lo, hi = 100 * settings.alpha / 2, 100 * (1 - settings.alpha / 2)
        abs_lo, abs_hi = np.percentile(sim_abs, lo, axis=0), np.percentile(sim_abs, hi, axis=0)
        lr_lo, lr_hi = np.percentile(sim_lr, lo, axis=0), np.percentile(sim_lr, hi, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "absolute": absolute, "absolute_se": se_abs, "absolute_lo": abs_lo, "absolute_hi": abs_hi,
            "absolute_p": fit.p_value(absolute / se_abs),
            "ratio": np.exp(log_ratio), "ratio_se": se_lr, "ratio_lo": np.exp(lr_lo), "ratio_hi": np.exp(lr_hi),
            "ratio_p": fit.p_value(log_ratio / se_lr),
        }


def coefficient_table(fit: ModelFit, settings: ITSSettings) -> pd.DataFrame:
    """Tidy coefficients; for log/logit links also ``ratio`` (= exp(estimate)) and its interval."""
    se = np.sqrt(np.diag(fit.cov.to_numpy()))
    est = fit.params.to_numpy()
    q = fit.quantile(settings.alpha)
    out = pd.DataFrame({"term": fit.params.index, "estimate": est, "std_error": se, "ci_lower": est - q * se,
                        "ci_upper": est + q * se, "p_value": fit.p_value(est / se)})
    if settings.link != "identity":
        out["ratio"] = np.exp(out["estimate"])
        out["ratio_ci_lower"] = np.exp(out["ci_lower"])
        out["ratio_ci_upper"] = np.exp(out["ci_upper"])
    return out


def effect_rows(eff: dict, horizons, months, settings: ITSSettings, extra: dict | None = None) -> pd.DataFrame:
    rows = []
    for i, h in enumerate(horizons):
        base = {"horizon": int(h), "month": months[i], **(extra or {})}
        rows.append({**base, "measure": "absolute", "estimate": eff["absolute"][i], "std_error": eff["absolute_se"][i],
                     "ci_lower": eff["absolute_lo"][i], "ci_upper": eff["absolute_hi"][i],
                     "p_value": eff["absolute_p"][i]})
        rows.append({**base, "measure": "ratio", "estimate": eff["ratio"][i], "std_error": eff["ratio_se"][i],
                     "ci_lower": eff["ratio_lo"][i], "ci_upper": eff["ratio_hi"][i], "p_value": eff["ratio_p"][i]})
        for row in rows[-2:]:
            if "mu1" in eff:
                row["with_intervention"], row["counterfactual"] = eff["mu1"][i], eff["mu0"][i]
            row["ci_method"] = settings.ci_method
    return pd.DataFrame(rows)


def horizon_months(t0: pd.Timestamp, horizons, last: pd.Timestamp, settings: ITSSettings, source: str):
    """Horizon h is the month h months after the interruption month (h = 0 is the interruption month itself)."""
    hs = [int(h) for h in horizons]
    bad = [h for h in hs if h < settings.transition_months]
    if bad:
        raise InputError(f"{source}: horizons {bad} fall inside the {settings.transition_months}-month transition; "
                         f"use horizons >= {settings.transition_months}")
    months = [t0 + pd.DateOffset(months=h) for h in hs]
    late = [h for h, m in zip(hs, months) if m > last]
    if late:
        raise InputError(f"{source}: horizons {late} lie beyond the last month {last.date()} (no extrapolation)")
    return hs, months


# ---------------------------------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------------------------------
class SegmentedRegression:
    """Segmented regression of one monthly series with an interruption.

    Parameters
    ----------
    data: one row per month, sorted, consecutive months (first day of the month in ``time_col``).
    interruption: the FIRST POST month (e.g. "2021-04-01" when the programme starts in April 2021).
    numerator, denominator: count columns (the outcome is ``per * numerator / denominator`` for the gaussian
        family; counts with the denominator as offset / trials otherwise).
    outcome: for a ready-made continuous outcome (gaussian only) give its column instead of numerator/denominator.
    **options: fields of :class:`ITSSettings` (family, seasonality, harmonics, autocorrelation, hac_lags, ar_order,
        transition_months, covid, covid_start, covid_end, per, alpha, ci_method, n_sim, seed), or ``settings=``.

    Fitted attributes: ``fit_`` (:class:`ModelFit`), ``autocorrelation_used_``, ``autocorrelation_reason_``,
    ``interruption_``, ``data_`` (the series with ``observed``).
    """

    def __init__(self, data: pd.DataFrame, interruption, *, time_col: str = "month", numerator: str = "numerator",
                 denominator: str = "denominator", outcome: str | None = None,
                 settings: ITSSettings | None = None, **options):
        self.settings = replace(settings, **options) if settings is not None else ITSSettings(**options)
        s = self.settings
        self.time_col = time_col
        if outcome is not None and s.family != "gaussian":
            raise InputError(f"outcome={outcome!r}: a ready-made outcome column needs family='gaussian'; "
                             "give numerator and denominator for count families")
        self.outcome = outcome
        value_cols = [outcome] if outcome is not None else [numerator, denominator]
        self.interruption_ = validate_series(data, time_col, value_cols, interruption, s,
                                             denominator=None if outcome else denominator, source="SegmentedRegression")
        df = data.reset_index(drop=True).copy()
        df[time_col] = pd.to_datetime(df[time_col])
        if outcome is not None:
            y, den = df[outcome].to_numpy(float), None
            df["observed"] = y
        else:
            num, den = df[numerator].to_numpy(float), df[denominator].to_numpy(float)
            df["observed"] = s.per * num / den
            y = df["observed"].to_numpy() if s.family == "gaussian" else num
        self.data_ = df
        self._y, self._den = y, den
        self._keep = fit_mask(df[time_col], self.interruption_, s)
        self._X = design_matrix(df[time_col], self.interruption_, s)
        self._fit()

    def _fit(self):
        s = self.settings
        choice, reason = s.autocorrelation, f"requested autocorrelation={s.autocorrelation!r}"
        if choice == "auto":
            base = fit_model(self._X, self._y, self._den, s, "none", keep=self._keep)
            lb = residual_diagnostics(base.residuals, base, s.family).set_index("statistic").loc["ljung_box"]
            choice = "newey_west" if lb["p_value"] < 0.05 else "none"
            reason = (f"auto: Ljung-Box p = {lb['p_value']:.3f} at lag {int(lb['lag'])} "
                      f"-> {'Newey-West HAC standard errors' if choice == 'newey_west' else 'no correction'}")
        self.fit_ = fit_model(self._X, self._y, self._den, s, choice, keep=self._keep)
        self.autocorrelation_used_ = choice
        self.autocorrelation_reason_ = reason

    # -- results ---------------------------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Coefficients: ``level`` = change in level at the first post month, ``slope`` = change in monthly slope
        (on the link scale: identity for gaussian, log for Poisson, logit for binomial; ``ratio`` = exp)."""
        return coefficient_table(self.fit_, self.settings)

    def effect_summary(self, horizons=(0, 6, 12, 24)) -> EffectSummary:
        """Absolute and ratio effects at each horizon (months after the interruption month; 0 = that month)."""
        s = self.settings
        months = self.data_[self.time_col]
        hs, hm = horizon_months(self.interruption_, horizons, months.iloc[-1], s, "SegmentedRegression")
        x1 = design_matrix(hm, self.interruption_, s, origin=months.iloc[0]).to_numpy()
        x0 = design_matrix(hm, self.interruption_, s, origin=months.iloc[0], post=False).to_numpy()
        table = effect_rows(contrast_effects(self.fit_, x1, x0, s, natural_scale(s)), hs, hm, s)
        last = table[table["measure"] == "absolute"].iloc[-1]
        text = (f"{int(last['horizon'])} months after the interruption the fitted value was "
                f"{last['estimate']:+.2f} ({100 * (1 - s.alpha):.0f}% CI {last['ci_lower']:+.2f} to "
                f"{last['ci_upper']:+.2f}) compared with the counterfactual ({s.ci_method} method).")
        return EffectSummary(table, text)

    def counterfactual(self) -> pd.DataFrame:
        """Per month: observed, fitted and counterfactual (no intervention) values with confidence bands.

        The counterfactual continues the pre-interruption trend (and seasonality / COVID-19 term) with the level
        and slope terms set to zero; bands are pointwise, from the coefficient covariance on the link scale.
        """
        s = self.settings
        months = self.data_[self.time_col]
        out = pd.DataFrame({"month": months.to_numpy(), "observed": self.data_["observed"].to_numpy(),
                            "in_fit": self._keep})
        m = month_number(months)
        m0 = month_number([self.interruption_])[0]
        out["period"] = np.where(m < m0, "pre", np.where(m < m0 + s.transition_months, "transition", "post"))
        q = self.fit_.quantile(s.alpha)
        V = self.fit_.cov.to_numpy()
        for name, post in (("fitted", True), ("counterfactual", False)):
            X = design_matrix(months, self.interruption_, s, post=post).to_numpy()
            eta = X @ self.fit_.params.to_numpy()
            se = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
            scale = natural_scale(s)
            out[name] = scale * inverse_link(eta, s.link)
            out[f"{name}_lower"] = scale * inverse_link(eta - q * se, s.link)
            out[f"{name}_upper"] = scale * inverse_link(eta + q * se, s.link)
        return out

    def diagnostics(self) -> pd.DataFrame:
        out = residual_diagnostics(self.fit_.residuals, self.fit_, self.settings.family)
        out.loc[out["statistic"] == "autocorrelation_correction", "choice"] = self.autocorrelation_reason_
        return out

    def acf(self, nlags: int | None = None) -> pd.DataFrame:
        return acf_table(self.fit_.residuals, nlags)

    def plot(self, ax=None, title: str | None = None):
        """Observed points, fitted line and counterfactual with band -> ``(fig, ax)``."""
        from beyond_averages.report.its import plot_counterfactual

        return plot_counterfactual(self.counterfactual(), self.interruption_, ax=ax, title=title)
