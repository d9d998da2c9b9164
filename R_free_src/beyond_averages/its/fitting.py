"""Fitting one ITS design with the chosen handling of autocorrelation: the dispatch behind every ITS class.

``gls`` (the default): REML generalised least squares (:func:`~beyond_averages.its.inference.fit_gls_arma`) for a
Gaussian series, quasi-likelihood GLS (:func:`~beyond_averages.its.count_gls.fit_count_gls`) for counts, both with
t(n_eff - k) tests; ``ar``: statsmodels ARIMA errors; ``none`` / ``newey_west``: OLS or a GLM with model-based or
HAC standard errors. Why these and which is the default: docs/its.md, "Defaults and why".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages.its.count_gls import fit_count_gls
from beyond_averages.its.inference import ModelFit, default_hac_lags, effective_n, fit_gls_arma


def fit_model(X: pd.DataFrame, y: np.ndarray, denominator: np.ndarray | None, settings,
              autocorrelation: str, hac_groups: np.ndarray | None = None, keep: np.ndarray | None = None,
              months: np.ndarray | None = None) -> ModelFit:
    """Fit one design (``settings``: an :class:`~beyond_averages.its.ITSSettings`). ``keep`` marks rows used (others
    are dropped, or set missing for AR errors); ``months`` (default: the ``time`` column) places the rows in calendar
    time for ``'gls'``."""
    import statsmodels.api as sm

    keep = np.ones(len(X), bool) if keep is None else keep
    fam = settings.family
    lags = settings.hac_lags if settings.hac_lags is not None else default_hac_lags(int(keep.sum()))
    if autocorrelation == "ar":
        from statsmodels.tsa.arima.model import ARIMA

        endog = np.where(keep, y, np.nan)
        res = ARIMA(endog, exog=X.to_numpy(), order=(settings.ar_order, 0, 0), trend="n").fit()
        k = X.shape[1]
        params = pd.Series(res.params[:k], index=X.columns)
        cov = pd.DataFrame(np.asarray(res.cov_params())[:k, :k], index=X.columns, columns=X.columns)
        resid = np.asarray(res.resid)[keep]
        return ModelFit(params, cov, None, resid, float(res.params[-1]), "ar", int(keep.sum()), res)
    if autocorrelation == "gls":
        Xk = X.to_numpy()[keep]
        at = np.asarray(X["time"] if months is None else months)[keep]
        if fam == "gaussian":
            beta, cov, resid, errors = fit_gls_arma(np.asarray(y, float)[keep], Xk, at, settings.ar_order,
                                                    settings.ma_order, settings.gls_correlation)
        else:
            beta, cov, resid, errors = fit_count_gls(np.asarray(y, float)[keep], Xk,
                                                     np.asarray(denominator, float)[keep], at, fam,
                                                     settings.gls_correlation, settings.ar_order, settings.ma_order)
        n_used, k = Xk.shape
        df = (effective_n(errors, at) if settings.gls_df == "effective" else n_used) - k
        return ModelFit(pd.Series(beta, index=X.columns), pd.DataFrame(cov, index=X.columns, columns=X.columns),
                        max(float(df), 2.0), resid, errors.sigma2, "gls", len(Xk), errors)
    Xk = X.to_numpy()[keep]
    yk = np.asarray(y, float)[keep]
    hac = autocorrelation == "newey_west"
    if hac and hac_groups is not None:
        cov_type, cov_kwds = "hac-groupsum", {"time": _time_within(hac_groups[keep]), "maxlags": lags}
    elif hac:
        cov_type, cov_kwds = "HAC", {"maxlags": lags}
    else:
        cov_type, cov_kwds = "nonrobust", None
    if fam == "gaussian":
        kwds = dict(cov_kwds or {})
        if hac:
            kwds["use_correction"] = True
        res = sm.OLS(yk, Xk).fit(cov_type=cov_type, cov_kwds=kwds or None, use_t=True)
        return _wrap(res, X.columns, res.df_resid, res.resid, float(res.scale), autocorrelation)
    den = np.asarray(denominator, float)[keep]
    scale = "X2" if fam.startswith("quasi") else None
    if fam in ("poisson", "quasipoisson"):
        model = sm.GLM(yk, Xk, family=sm.families.Poisson(), offset=np.log(den))
    else:
        model = sm.GLM(np.column_stack([yk, den - yk]), Xk, family=sm.families.Binomial())
    if hac:
        res = model.fit(cov_type=cov_type, cov_kwds=cov_kwds)
        scale_val = float(res.pearson_chi2 / res.df_resid)
    else:
        res = model.fit(scale=scale)
        scale_val = float(res.scale) if scale else float(res.pearson_chi2 / res.df_resid)
    return _wrap(res, X.columns, None, np.asarray(res.resid_deviance), scale_val, autocorrelation)


def _time_within(groups: np.ndarray) -> np.ndarray:
    out = np.zeros(len(groups), dtype=int)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        out[idx] = np.arange(len(idx))
    return out


def _wrap(res, columns, df_resid, resid, scale, autocorrelation) -> ModelFit:
    params = pd.Series(np.asarray(res.params), index=columns)
    cov = pd.DataFrame(np.asarray(res.cov_params()), index=columns, columns=columns)
    return ModelFit(params, cov, df_resid, np.asarray(resid), scale, autocorrelation, int(res.nobs), res)
