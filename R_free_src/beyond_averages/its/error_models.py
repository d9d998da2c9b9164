"""The stacked controlled ITS's error models and the rule that chooses between them
(:class:`~beyond_averages.its.stacked.StackedControlledITS`, whose module docstring states the rule and why).

Within each wave's pre-start months: independent errors, an AR(1) process plus white noise, or a random walk plus
white noise; fitted by REML block by block (waves independent), the restricted likelihood of
:func:`beyond_averages.its.inference.fit_gls_arma`.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from beyond_averages.its.inference import LJUNG_BOX_LAG, cholesky_lower, ljung_box_lag, solve_lower

LJUNG_BOX_ALPHA = 0.05      # below this p-value the rule models autocorrelated errors
LOGLIK_TIE = 2.0            # REML log-likelihood units within which the two autocorrelated models count as tied
ERROR_MODELS = ("rule", "ar1_noise", "random_walk", "independent")


def autocorrelation_rule(residual_series) -> tuple[str, float, str]:
    """The rule's first step: Ljung-Box at :func:`ljung_box_lag` on each residual series (one per wave);
    ``'autocorrelated'`` when the smallest p-value is below 0.05, else ``'independent'``. Returns ``(choice, smallest
    p, reason)``. With three white-noise series it still says autocorrelated 1 - 0.95^3 = 14% of the time; that errs
    on the safe side, since the autocorrelated models contain independent errors (AR coefficient 0, or white share 1;
    a step-to-noise ratio near 0)."""
    from statsmodels.stats.diagnostic import acorr_ljungbox

    ps = []
    for r in residual_series:
        r = np.asarray(r, float)
        ps.append(float(acorr_ljungbox(r, lags=[ljung_box_lag(len(r))])["lb_pvalue"].iloc[0]))
    p = min(ps)
    choice = "autocorrelated" if p < LJUNG_BOX_ALPHA else "independent"
    reason = (f"smallest Ljung-Box p (lag up to {LJUNG_BOX_LAG}, {len(ps)} wave(s)) = {p:.3g} "
              f"{'<' if p < LJUNG_BOX_ALPHA else '>='} {LJUNG_BOX_ALPHA}: {choice}")
    return choice, p, reason


def random_walk_correlation(n: int, ratio: float) -> np.ndarray:
    """Covariance (white-noise variance 1) of a random walk plus white noise over months 1..n: ``ratio`` is the
    variance of one month's step relative to the white noise."""
    i = np.arange(1, n + 1, dtype=float)
    return ratio * np.minimum.outer(i, i) + np.eye(n)


_LAGS: dict[int, np.ndarray] = {}


def ar1_noise_correlation(n: int, phi: float, white_share: float) -> np.ndarray:
    """Correlation of an AR(1) process plus white noise over n months: ``(1 - w) phi^k`` at lag k >= 1 (as
    :func:`beyond_averages.its.inference.fit_gls_arma` with ``structure='ar1_noise'``)."""
    lag = _LAGS.get(n)
    if lag is None:  # the same n thousands of times in a REML search
        lag = _LAGS[n] = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    R = (1 - white_share) * phi ** lag
    np.fill_diagonal(R, 1.0)
    return R


def block_reml(y: np.ndarray, X: np.ndarray, lengths, covariance) -> tuple[float, float]:
    """REML log-likelihood and scale of ``y = X b + e`` with ``e`` independent between consecutive blocks of
    ``lengths`` rows (the waves' pre-start months), ``covariance(n)`` within a block up to the scale -- the
    restricted likelihood of :func:`beyond_averages.its.inference.fit_gls_arma`, block by block."""
    n, k = X.shape
    edges = np.cumsum([0, *lengths])
    Xw, yw, logdet = [], [], 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        L = cholesky_lower(covariance(int(b - a)))
        Xw.append(solve_lower(L, X[a:b]))
        yw.append(solve_lower(L, y[a:b]))
        logdet += 2 * float(np.sum(np.log(np.diag(L))))
    Xw, yw = np.vstack(Xw), np.concatenate(yw)
    xtx = Xw.T @ Xw
    r = yw - Xw @ np.linalg.solve(xtx, Xw.T @ yw)
    rss = float(r @ r)
    loglik = -0.5 * ((n - k) * (np.log(rss / (n - k)) + 1 + np.log(2 * np.pi)) + logdet + np.linalg.slogdet(xtx)[1])
    return float(loglik), rss / (n - k)


def fit_random_walk(y: np.ndarray, X: np.ndarray, lengths) -> tuple[float, float, float]:
    """REML fit with ``e`` a random walk plus white noise in each block (:func:`block_reml`). Returns ``(ratio,
    sigma2, loglik)``: the step-to-noise variance ratio, the white-noise variance (the scale of
    :func:`random_walk_correlation`) and the REML log-likelihood."""
    def fit(v):
        return block_reml(y, X, lengths, lambda n: random_walk_correlation(n, float(np.exp(v))))

    best = optimize.minimize_scalar(lambda v: -fit(v)[0], bounds=(-12.0, 8.0), method="bounded")
    loglik, sigma2 = fit(best.x)
    return float(np.exp(best.x)), float(sigma2), float(loglik)


def fit_ar1_noise(y: np.ndarray, X: np.ndarray, lengths) -> tuple[float, float, float, float]:
    """REML fit with ``e`` an AR(1) process plus white noise in each block, parametrised and started as
    :func:`beyond_averages.its.inference.fit_gls_arma` (``tanh`` of two free parameters; two starts). Returns
    ``(phi, white_share, sigma2, loglik)``."""
    def unpack(par):
        return float(np.tanh(par[0])), float((np.tanh(par[1]) + 1) / 2)

    def fit(par):
        return block_reml(y, X, lengths, lambda n: ar1_noise_correlation(n, *unpack(par)))

    best = min((optimize.minimize(lambda p: -fit(p)[0], start, method="L-BFGS-B", bounds=[(-4.0, 4.0)] * 2)
                for start in (np.zeros(2), np.full(2, 0.5))), key=lambda res: res.fun)
    loglik, sigma2 = fit(best.x)
    return (*unpack(best.x), float(sigma2), float(loglik))
