"""Single-series interrupted time series (ITS): segmented regression of a monthly (or any regular) indicator.

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

Autocorrelation: ``gls`` (THE DEFAULT, calibrated by simulation: ``docs/its.md``, "Defaults and why"; generalised
least squares with REML-estimated errors, ``gls_correlation`` = ``ar1_noise`` (AR(1) plus white noise, the default)
or ``arma`` (ARMA(``ar_order``, ``ma_order``)), t reference; for count families quasi-likelihood GLS, the same error
model on the Pearson scale, so overdispersion and autocorrelation are handled together -- see
:func:`beyond_averages.its.count_gls.fit_count_gls`), ``none`` (model-based SEs), ``newey_west`` (HAC, Bartlett
kernel, ``hac_lags`` lags, small-sample factor n/(n-k) for OLS as Stata's ``newey``), ``ar`` (gaussian only:
regression with AR(``ar_order``) errors fitted by maximum likelihood, statsmodels ARIMA), or
``auto`` (fit without correction, use Newey-West if the Ljung-Box test of the residuals at lag ``min(12, n // 5)``
has p < 0.05). The choice made is kept in ``autocorrelation_used_`` and
explained in ``autocorrelation_reason_``.

Confidence intervals of effects: the delta method on the coefficient covariance (``ci_method="delta"``), or draws
from the multivariate normal of the coefficients (``ci_method="simulation"``, seeded). Tests use the t distribution
for OLS and the normal for everything else (as R's ``ci.exp`` for GLMs).

Where the pieces live: options :mod:`beyond_averages.its.settings`, regressors and series checks
:mod:`beyond_averages.its.design`, coefficients and effect contrasts :mod:`beyond_averages.its.effects`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from beyond_averages.files import InputError
from beyond_averages.its.design import design_matrix, fit_mask, horizon_months, resolve_frequency, validate_series
from beyond_averages.its.effects import coefficient_table, contrast_effects, effect_rows, inverse_link, natural_scale
from beyond_averages.its.frequency import period_index
from beyond_averages.its.fitting import fit_model
from beyond_averages.its.inference import acf_table, residual_diagnostics
from beyond_averages.its.settings import ITSSettings
from beyond_averages.results import Estimator


class SegmentedRegression(Estimator):
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
        if time_col in data.columns:
            self.settings = resolve_frequency(self.settings, data[time_col], "SegmentedRegression", time_col)
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
        if s.frequency != "integer":
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

    # -- results (the protocol of beyond_averages.results) ------------------------------------------------------
    def tidy(self) -> pd.DataFrame:
        """Coefficients: ``level`` = change in level at the first post month, ``slope`` = change in monthly slope
        (on the link scale: identity for gaussian, log for Poisson, logit for binomial; ``ratio`` = exp)."""
        return coefficient_table(self.fit_, self.settings)

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` plus the fit: ``n_obs`` (fitted months), ``family``, ``autocorrelation`` (the handling used)."""
        return self.tidy().assign(n_obs=self.fit_.n_obs, family=self.settings.family,
                                  autocorrelation=self.autocorrelation_used_)

    def effect_summary(self, horizons=(0, 6, 12, 24)) -> pd.DataFrame:
        """Absolute and ratio effects at each horizon (months after the interruption month; 0 = that month):
        ``horizon, month, measure``, the tidy columns, ``with_intervention, counterfactual, ci_method``."""
        s = self.settings
        months = self.data_[self.time_col]
        hs, hm = horizon_months(self.interruption_, horizons, months.iloc[-1], s, "SegmentedRegression")
        x1 = design_matrix(hm, self.interruption_, s, origin=months.iloc[0]).to_numpy()
        x0 = design_matrix(hm, self.interruption_, s, origin=months.iloc[0], post=False).to_numpy()
        return effect_rows(contrast_effects(self.fit_, x1, x0, s, natural_scale(s)), hs, hm, s)

    def plot_data(self) -> pd.DataFrame:
        """Per month: observed, fitted and counterfactual (no intervention) values with confidence bands:
        ``month, observed, in_fit, period, fitted, fitted_lower, fitted_upper, counterfactual, counterfactual_lower,
        counterfactual_upper``.

        The counterfactual continues the pre-interruption trend (and seasonality / COVID-19 term) with the level
        and slope terms set to zero; bands are pointwise, from the coefficient covariance on the link scale.
        """
        s = self.settings
        months = self.data_[self.time_col]
        out = pd.DataFrame({"month": months.to_numpy(), "observed": self.data_["observed"].to_numpy(),
                            "in_fit": self._keep})
        m = period_index(months, s.frequency)
        m0 = period_index([self.interruption_], s.frequency)[0]
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

    def model_comparison(self, *smaller, names=None) -> pd.DataFrame:
        """This model against smaller nested ones (given smallest first): fit statistics and F / likelihood-ratio /
        Wald tests as a frame (:func:`beyond_averages.its.comparison.model_comparison`)."""
        from beyond_averages.its.comparison import compare_with

        return compare_with(self, smaller, names)

    def diagnostics(self) -> pd.DataFrame:
        out = residual_diagnostics(self.fit_.residuals, self.fit_, self.settings.family)
        out.loc[out["statistic"] == "autocorrelation_correction", "choice"] = self.autocorrelation_reason_
        return out

    def acf(self, nlags: int | None = None) -> pd.DataFrame:
        return acf_table(self.fit_.residuals, nlags)
