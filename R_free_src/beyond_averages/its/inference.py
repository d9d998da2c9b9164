"""Inference for ITS models: the fitted-model record, regression with autocorrelated errors by REML, diagnostics.

:func:`fit_gls_arma` fits ``y = X b + e`` by generalised least squares, the correlation of ``e`` estimated by
restricted maximum likelihood (REML) on the exact correlation matrix -- as R's ``nlme::gls(..., method = "REML")``.
Two error structures: ``ar1_noise`` (an AR(1) process plus white noise; the default of ``autocorrelation='gls'``)
and ``arma`` (ARMA(p, q), as ``corARMA(p, q)``). Why this default for the Q1-minus-Q5 contrast (``docs/its.md``
has the full table; rejection rates of a true null difference at nominal 0.05, level / slope, 500 simulations of
84 months, AR(1) noise plus binomial sampling noise):

* An aggregated monthly rate is an autocorrelated process plus binomial sampling noise, and so is the difference of
  two such series. ``ar1_noise`` is that model: 0.046 / 0.036 at rho = 0.3, 0.072 / 0.062 at rho = 0.6 and
  0.047 / 0.050 with independent noise (300 simulations; exploratory runs of the same REML code).
* A pure AR(1) fit underestimates the persistence when the sampling noise is large: REML AR(1) 0.050 / 0.058 at
  rho = 0.3 but 0.086 / 0.102 at rho = 0.6. An unrestricted ARMA(1, 1) was calibrated at rho = 0.3 (0.060 / 0.054)
  but liberal with independent noise (0.080 / 0.120): it fits spurious near-cancelling AR and MA roots.
* REML rather than ML: with a trend and post-interruption terms in ``X`` the ML estimate of the autocorrelation is
  biased towards zero in 84 months, which makes standard errors too small (ML AR(1) 0.072 / 0.080 at rho = 0.3).
* Newey-West with the usual lag rule is badly liberal here (0.14 / 0.17 at rho = 0.3), and the equal-weighted-cosine
  HAC estimator with t critical values was worse (0.21 / 0.22): the regressors are trends and steps, not
  stationary series.

Reference distribution: t with ``n - k`` degrees of freedom, as ``nlme``. Gaps in the fitted months (COVID-19
exclusion, transition months) are handled exactly: the correlation between two kept months depends on how many
calendar months apart they are. Residuals kept for diagnostics are the *normalized* ones (whitened by the fitted
correlation), so a Ljung-Box test on them checks whether the error model has absorbed the autocorrelation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

MAX_ARMA_ORDER = 3


@dataclass
class ModelFit:
    """The numbers every ITS model keeps: coefficients, their covariance and the reference distribution."""

    params: pd.Series
    cov: pd.DataFrame
    df_resid: float | None  # None: normal reference distribution
    residuals: np.ndarray
    scale: float
    autocorrelation: str
    n_obs: int
    result: object = field(repr=False, default=None)

    def quantile(self, alpha: float) -> float:
        q = 1 - alpha / 2
        return float(stats.t.ppf(q, self.df_resid) if self.df_resid else stats.norm.ppf(q))

    def p_value(self, z: np.ndarray) -> np.ndarray:
        z = np.abs(np.asarray(z, dtype=float))
        return 2 * (stats.t.sf(z, self.df_resid) if self.df_resid else stats.norm.sf(z))


GLSCorrelation = Literal["ar1_noise", "arma"]


@dataclass(frozen=True)
class ARMAErrors:
    """Fitted error process of :func:`fit_gls_arma`: ``structure``; coefficients (``phi`` AR, ``theta`` MA, sign
    convention ``e_t = sum phi_i e_{t-i} + u_t + sum theta_j u_{t-j}``); for ``ar1_noise`` the share of the variance
    that is white noise (``white_share``; the AR(1) part has ``phi[0]``); the error variance ``sigma2`` (scale of the
    correlation matrix) and the REML log-likelihood."""

    structure: str
    phi: tuple[float, ...]
    theta: tuple[float, ...]
    white_share: float
    sigma2: float
    loglik: float
    converged: bool


def gls_errors_text(errors) -> str:
    """'AR(1) plus white noise (AR 0.31, white share 0.52)' or 'ARMA(1, 1) (AR 0.40, MA -0.10)'."""
    ar = ", ".join(f"{v:.2f}" for v in errors.phi)
    if errors.structure == "ar1_noise":
        return f"AR(1) plus white noise (AR {ar}, white share {errors.white_share:.2f})"
    ma = f", MA {', '.join(f'{v:.2f}' for v in errors.theta)}" if errors.theta else ""
    return f"ARMA({len(errors.phi)}, {len(errors.theta)}) (AR {ar}{ma})"


def _partials_to_poly(r: np.ndarray) -> np.ndarray:
    """Durbin-Levinson: partial autocorrelations in (-1, 1) -> AR coefficients of a stationary polynomial."""
    phi = np.zeros(0)
    for rk in r:
        phi = np.append(phi - rk * phi[::-1], rk)
    return phi


def arma_correlation(phi, theta, n_lags: int) -> np.ndarray:
    """Autocorrelations at lags 0 .. n_lags - 1 of the ARMA process (statsmodels ``arma_acf``)."""
    from statsmodels.tsa.arima_process import arma_acf

    return arma_acf(np.r_[1.0, -np.asarray(phi, float)], np.r_[1.0, np.asarray(theta, float)], lags=n_lags)


_POTRF, _TRTRS = linalg.get_lapack_funcs(("potrf", "trtrs"), (np.zeros(1),))


def cholesky_lower(a: np.ndarray) -> np.ndarray:
    """``linalg.cholesky(a, lower=True)``: the same LAPACK call (so the same factor, to the bit) without SciPy's
    per-call checks and batch wrapper, which cost more than the factorisation in a REML search's thousands of
    small ones. Anything unusual (not finite float64, empty, not positive definite) goes to SciPy itself."""
    if a.dtype != np.float64 or a.ndim != 2 or a.size == 0 or not np.isfinite(a).all():
        return linalg.cholesky(a, lower=True)
    c, info = _POTRF(a, lower=True, overwrite_a=False, clean=True)
    return c if info == 0 else linalg.cholesky(a, lower=True)


def solve_lower(l_factor: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``linalg.solve_triangular(l_factor, b, lower=True, check_finite=False)`` for a factor of
    :func:`cholesky_lower`, by the same LAPACK call without the wrapper (as :func:`cholesky_lower`)."""
    if b.dtype != np.float64 or b.size == 0 or not l_factor.flags.f_contiguous:
        return linalg.solve_triangular(l_factor, b, lower=True, check_finite=False)
    x, info = _TRTRS(l_factor, b, overwrite_b=False, lower=True, trans=0, unitdiag=False)
    return x if info == 0 else linalg.solve_triangular(l_factor, b, lower=True, check_finite=False)


def fit_gls_arma(y: np.ndarray, X: np.ndarray, months: np.ndarray, p: int = 1, q: int = 1,
                 structure: GLSCorrelation = "arma"):
    """REML fit of ``y = X b + e``. ``months`` are integer month numbers of the rows (gaps allowed).

    ``structure="arma"``: ``e`` is ARMA(p, q); the AR part is constrained stationary and the MA part invertible
    (both via partial autocorrelations ``tanh(.)``). ``structure="ar1_noise"``: ``e`` is an AR(1) process plus
    independent white noise (``p``, ``q`` ignored), correlation ``(1 - w) phi^k`` at lag ``k >= 1`` with
    ``0 < w < 1`` the white-noise share -- an ARMA(1, 1) restricted to what an aggregated rate is (an
    autocorrelated process plus sampling noise), which reduces to white noise as ``w -> 1``.
    Returns ``(beta, cov, normalized_residuals, ARMAErrors)``; ``cov`` is the GLS covariance at the REML estimate of
    the correlation parameters (``sigma2 * (X' R^-1 X)^-1``, ``sigma2 = RSS_whitened / (n - k)``).
    """
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    n, k = X.shape
    months = np.asarray(months, np.int64)
    lags = np.abs(months[:, None] - months[None, :])
    span = int(months.max() - months.min()) + 1

    if structure == "ar1_noise":
        p, q = 1, 1
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    if float(np.sum((y - X @ ols) ** 2)) <= 1e-24 * max(1.0, float(y @ y)):
        # an exact fit (noise-free test series): no error process to estimate, nothing uncertain
        zeros = np.zeros(p if structure == "arma" else 1)
        return ols, np.zeros((k, k)), np.zeros(n), ARMAErrors(structure, tuple(zeros), tuple(np.zeros(
            q if structure == "arma" else 0)), 0.0, 0.0, math.inf, True)

    def unpack(par):
        r = np.tanh(par)
        if structure == "ar1_noise":
            return r[:1], np.zeros(0), (r[1] + 1) / 2
        return _partials_to_poly(r[:p]), -_partials_to_poly(r[p:]), 0.0

    def correlation(par):
        phi, theta, w = unpack(par)
        if structure == "ar1_noise":
            acf = (1 - w) * phi[0] ** np.arange(span)
            acf[0] = 1.0
            return acf
        return arma_correlation(phi, theta, span)

    def pieces(par):
        L = cholesky_lower(correlation(par)[lags])
        # Column by column: a triangular solve with a matrix right-hand side goes to multithreaded BLAS (trsm),
        # which on a busy 2-core machine was ~200x slower than k + 1 vector solves for these 84-month series.
        Xw = np.column_stack([solve_lower(L, X[:, j]) for j in range(k)])
        yw = solve_lower(L, y)
        xtx = Xw.T @ Xw
        beta = np.linalg.solve(xtx, Xw.T @ yw)
        rw = yw - Xw @ beta
        rss = float(rw @ rw)
        loglik = -0.5 * ((n - k) * (math.log(rss / (n - k)) + 1 + math.log(2 * math.pi))
                         + 2 * np.sum(np.log(np.diag(L))) + np.linalg.slogdet(xtx)[1])
        return loglik, beta, rw, rss, xtx

    npar = p + q
    converged = True
    par = np.zeros(0)
    if npar:
        best = None
        # Two starts: ARMA likelihoods can have a ridge where AR and MA roots (nearly) cancel.
        for start in (np.zeros(npar), np.full(npar, 0.5)):
            res = optimize.minimize(lambda th: -pieces(th)[0], start, method="L-BFGS-B", bounds=[(-4.0, 4.0)] * npar)
            if best is None or res.fun < best.fun:
                best = res
        par, converged = best.x, bool(best.success)
    loglik, beta, rw, rss, xtx = pieces(par)
    sigma2 = rss / (n - k)
    phi, theta, w = unpack(par)
    return beta, sigma2 * np.linalg.inv(xtx), rw / math.sqrt(sigma2), ARMAErrors(
        structure, tuple(map(float, phi)), tuple(map(float, theta)), float(w), float(sigma2), float(loglik),
        converged)


def effective_n(errors: ARMAErrors, months: np.ndarray) -> float:
    """The effective number of observations of a series with the fitted error correlation,
    ``n / (1 + (2/n) sum_{i<j} rho(|t_i - t_j|))`` (the variance of a mean of correlated points, expressed as a
    count of independent ones), at most ``n``. Why: the GLS standard errors allow for the correlation, but the
    variance and correlation are themselves estimated from ``n`` correlated points, which carry the information
    of fewer; t(n - k) was liberal with AR(1) errors (null rejection 6.6% at rho 0.3 and 8.0% at rho 0.6 for the
    level change over 84 months, 500 replicates) and t(n_eff - k) is the correction chosen by the same simulation
    (``bench/its_calibration.py``; docs/its.md, "Defaults and why")."""
    n = len(months)
    total = float(error_correlation(errors, months).sum())      # n + 2 sum_{i<j} rho
    return float(min(n, n * n / total)) if total > 0 else float(n)


def error_correlation(errors: ARMAErrors, months: np.ndarray) -> np.ndarray:
    """The fitted correlation matrix of the errors at integer month numbers ``months`` (gaps allowed)."""
    months = np.asarray(months, np.int64)
    span = int(months.max() - months.min()) + 1
    if errors.structure == "ar1_noise":
        acf = (1 - errors.white_share) * errors.phi[0] ** np.arange(span, dtype=float)
        acf[0] = 1.0
    else:
        acf = arma_correlation(np.asarray(errors.phi), np.asarray(errors.theta), span)
    return acf[np.abs(months[:, None] - months[None, :])]


def default_hac_lags(n: int) -> int:
    return int(math.floor(4 * (n / 100) ** (2 / 9)))


LJUNG_BOX_LAG = 12          # one year of monthly lags


def ljung_box_lag(n: int) -> int:
    """The Ljung-Box lag of the diagnostics and of the stacked ITS's rule: 12 months, or ``n // 5`` (at least 1)
    for a series shorter than 60 months."""
    return max(1, min(LJUNG_BOX_LAG, n // 5))


def residual_diagnostics(resid: np.ndarray, fit: ModelFit, family: str) -> pd.DataFrame:
    """Durbin-Watson, Ljung-Box and (count families) the Pearson dispersion, as a tidy frame."""
    from statsmodels.stats.diagnostic import acorr_ljungbox
    from statsmodels.stats.stattools import durbin_watson

    lag = ljung_box_lag(len(resid))
    lb = acorr_ljungbox(resid, lags=[lag])
    rows = [
        {"statistic": "durbin_watson", "value": float(durbin_watson(resid)), "p_value": np.nan, "lag": 1.0},
        {"statistic": "ljung_box", "value": float(lb["lb_stat"].iloc[0]), "p_value": float(lb["lb_pvalue"].iloc[0]),
         "lag": float(lag)},
    ]
    if family != "gaussian":
        rows.append({"statistic": "dispersion", "value": fit.scale, "p_value": np.nan, "lag": np.nan})
    out = pd.DataFrame(rows)
    out["choice"] = ""
    return pd.concat([out, pd.DataFrame([{"statistic": "autocorrelation_correction", "value": np.nan,
                                          "p_value": np.nan, "lag": np.nan, "choice": fit.autocorrelation}])],
                     ignore_index=True)


def acf_table(resid: np.ndarray, nlags: int | None = None) -> pd.DataFrame:
    """ACF and PACF of the residuals with the +/- 1.96/sqrt(n) band."""
    from statsmodels.tsa.stattools import acf, pacf

    n = len(resid)
    nlags = nlags or max(1, min(24, n // 2 - 1))
    a = acf(resid, nlags=nlags, fft=False)
    p = pacf(resid, nlags=nlags, method="ywm")
    return pd.DataFrame({"lag": np.arange(1, nlags + 1), "acf": a[1:], "pacf": p[1:],
                         "band": 1.96 / math.sqrt(n)})
