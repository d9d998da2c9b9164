"""Two-group, two-period DiD with covariates on panel data, as the R package ``DRDID`` computes them, with the
influence functions R ``did`` builds its analytic and bootstrap inference on.

Each estimator takes the outcome change ``dy = y_t - y_base`` of every unit in the treated group or the comparison
group, the treated indicator ``d``, the covariate matrix ``x`` (intercept first, the values in the earlier period
of the pair, as ``did`` takes them) and unit weights ``w``, and returns ``(att, influence)``. The influence function
is DRDID's: ``var(att) = sum(influence**2) / n**2`` over the ``n`` units given.

* ``"reg"`` -- outcome regression (``DRDID::reg_did_panel``; Heckman, Ichimura & Todd 1997): a weighted least
  squares fit of ``dy`` on ``x`` among comparison units predicts the treated units' untreated change.
* ``"ipw"`` -- normalised (Hajek) inverse probability weighting (``DRDID::std_ipw_did_panel``; Abadie 2005): a
  logit propensity score reweights comparison units to the treated units' covariates.
* ``"dr"`` -- the doubly robust estimator of Sant'Anna & Zhao (2020) (``DRDID::drdid_panel``, the "traditional"
  locally efficient one with a logit score and a least-squares outcome model, which is what ``did::att_gt`` calls for
  ``est_method = "dr"``, its default): consistent if either the score or the outcome model is right.

As DRDID does, propensity scores are capped at ``1 - 1e-6`` and comparison units whose score is at least
``trim_level`` (0.995) get weight 0 (``trim.ps``); the logit is fitted by weighted Newton-Raphson to machine
precision, where R's ``glm`` stops at a relative deviance change of 1e-8 (the difference is far below the printed
digits).

Reference: Sant'Anna PHC, Zhao J. Doubly robust difference-in-differences estimators. Journal of Econometrics
2020;219(1):101-122. doi:10.1016/j.jeconom.2020.06.003.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

EstMethod = Literal["dr", "ipw", "reg"]
EST_METHODS = ("dr", "ipw", "reg")
PS_CAP = 1 - 1e-6
TRIM_LEVEL = 0.995


class EstimationError(ValueError):
    """A 2x2 cell whose models cannot be fitted (singular design, no variation, overlap failure)."""


def logit(x: np.ndarray, d: np.ndarray, w: np.ndarray, tol: float = 1e-13, max_iter: int = 100) -> np.ndarray:
    """Weighted logistic regression coefficients by Newton-Raphson (the MLE ``glm(d ~ -1 + x, binomial)`` finds)."""
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        eta = x @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        hess = x.T @ (x * (w * p * (1 - p))[:, None])
        if np.linalg.cond(hess) > 1e12:
            raise EstimationError("the propensity-score design is singular (a covariate without variation, or "
                                  "perfect separation)")
        step = np.linalg.solve(hess, x.T @ (w * (d - p)))
        beta = beta + step
        if np.max(np.abs(step)) < tol * (1 + np.max(np.abs(beta))):
            return beta
    raise EstimationError(f"the propensity-score logit did not converge in {max_iter} iterations")


def _wols(x: np.ndarray, y: np.ndarray, w: np.ndarray, ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outcome regression among comparison units, and its asymptotic linear representation (n x k)."""
    n = len(y)
    wc = w * ctrl
    xtx = x.T @ (x * wc[:, None]) / n
    if np.linalg.cond(xtx) > 1e12:
        raise EstimationError("too few comparison units (or a constant covariate) for the outcome regression")
    xtx_inv = np.linalg.inv(xtx)
    coef = xtx_inv @ (x.T @ (wc * y)) / n
    resid = y - x @ coef
    return x @ coef, (wc * resid)[:, None] * x @ xtx_inv


def _pscore(x: np.ndarray, d: np.ndarray, w: np.ndarray):
    """Fitted (capped) propensity scores and the logit's asymptotic linear representation (n x k)."""
    n = len(d)
    beta = logit(x, d, w)
    ps = np.minimum(1.0 / (1.0 + np.exp(-(x @ beta))), PS_CAP)
    hess = x.T @ (x * (ps * (1 - ps) * w)[:, None])
    return ps, ((w * (d - ps))[:, None] * x) @ np.linalg.inv(hess) * n


def reg_did_panel(dy, d, x, w) -> tuple[float, np.ndarray]:
    """Outcome-regression DiD (``DRDID::reg_did_panel``)."""
    fit, lin_ols = _wols(x, dy, w, 1 - d)
    w_t = w * d
    eta_t = np.mean(w_t * dy) / np.mean(w_t)
    eta_c = np.mean(w_t * fit) / np.mean(w_t)
    inf_treat = (w_t * dy - w_t * eta_t) / np.mean(w_t)
    inf_cont = (w_t * fit - w_t * eta_c + lin_ols @ np.mean(w_t[:, None] * x, 0)) / np.mean(w_t)
    return float(eta_t - eta_c), inf_treat - inf_cont


def std_ipw_did_panel(dy, d, x, w, trim_level: float = TRIM_LEVEL) -> tuple[float, np.ndarray]:
    """Normalised inverse-probability-weighted DiD (``DRDID::std_ipw_did_panel``)."""
    ps, lin_ps = _pscore(x, d, w)
    keep = np.where(d == 1, True, ps < trim_level)
    w_t = keep * w * d
    w_c = keep * w * ps * (1 - d) / (1 - ps)
    eta_t = np.mean(w_t * dy) / np.mean(w_t)
    eta_c = np.mean(w_c * dy) / np.mean(w_c)
    inf_treat = (w_t * dy - w_t * eta_t) / np.mean(w_t)
    m2 = np.mean((w_c * (dy - eta_c))[:, None] * x, 0)
    inf_cont = (w_c * dy - w_c * eta_c + lin_ps @ m2) / np.mean(w_c)
    return float(eta_t - eta_c), inf_treat - inf_cont


def drdid_panel(dy, d, x, w, trim_level: float = TRIM_LEVEL) -> tuple[float, np.ndarray]:
    """Doubly robust DiD (``DRDID::drdid_panel``, Sant'Anna & Zhao 2020)."""
    ps, lin_ps = _pscore(x, d, w)
    fit, lin_ols = _wols(x, dy, w, 1 - d)
    keep = np.where(d == 1, True, ps < trim_level)
    w_t = keep * w * d
    w_c = keep * w * ps * (1 - d) / (1 - ps)
    r = dy - fit
    eta_t = np.mean(w_t * r) / np.mean(w_t)
    eta_c = np.mean(w_c * r) / np.mean(w_c)
    inf_treat = (w_t * r - w_t * eta_t - lin_ols @ np.mean(w_t[:, None] * x, 0)) / np.mean(w_t)
    m2 = np.mean((w_c * (r - eta_c))[:, None] * x, 0)
    inf_cont = (w_c * r - w_c * eta_c + lin_ps @ m2 - lin_ols @ np.mean(w_c[:, None] * x, 0)) / np.mean(w_c)
    return float(eta_t - eta_c), inf_treat - inf_cont


ESTIMATORS = {"dr": drdid_panel, "ipw": std_ipw_did_panel, "reg": reg_did_panel}


def did_2x2(method: EstMethod, dy, d, x, w) -> tuple[float, np.ndarray]:
    """Dispatch to the estimator ``method`` ("dr", "ipw" or "reg")."""
    if method not in ESTIMATORS:
        raise ValueError(f"est_method must be one of {EST_METHODS}; got {method!r}")
    return ESTIMATORS[method](np.asarray(dy, float), np.asarray(d, float), np.asarray(x, float),
                              np.asarray(w, float))
