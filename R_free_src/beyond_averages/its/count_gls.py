"""Quasi-likelihood GLS for a time series of counts: the count default of ``autocorrelation='gls'``.

A Poisson (log link, ``log(denominator)`` offset) or binomial (logit) mean with errors on the Pearson scale that are
overdispersed AND autocorrelated, fitted by iteratively reweighted GLS: each step a REML fit
(:func:`~beyond_averages.its.inference.fit_gls_arma`) of the weighted working response ``sqrt(w) z`` on
``sqrt(w) X``. The REML variance is the dispersion (``sigma2``, 1 for pure Poisson noise), the REML correlation the
autocorrelation of the standardised residuals: a marginal quasi-likelihood model for a time series of counts in the
spirit of Zeger's latent-process model (Zeger 1988, Biometrika; see Davis & Wu 2009, Biometrika 96(3):735-749, for
the family of such models), fitted with the Gaussian default's error model. docs/its.md, "Defaults and why", has
the simulation behind it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from beyond_averages.its.inference import GLSCorrelation, fit_gls_arma, gls_errors_text


class CountGLSError(ValueError):
    """The iteratively reweighted GLS of a count series ran away (no finite fit)."""


def fit_count_gls(y: np.ndarray, X: np.ndarray, denominator: np.ndarray, months: np.ndarray, family: str,
                  structure: GLSCorrelation = "ar1_noise", p: int = 1, q: int = 1, max_iter: int = 25):
    """Fit the quasi-likelihood GLS (module docstring). Returns what
    :func:`~beyond_averages.its.inference.fit_gls_arma` returns, at convergence (change in coefficients below 1e-8),
    with ``converged=False`` in the error record when ``max_iter`` steps did not get there.

    Raises :class:`CountGLSError`, with the first step's error model, when the iteration runs away: with an error
    fit close to a random walk the level of the series is barely identified, and the reweighting can follow it off
    (5 series in 3 of the 500 replicates of ``bench/its_calibration.py --settings nb_ar0.6_sd0.3``, where the
    AR(1) part has 3.6 times the variance of the sampling noise: in one, the intercept reached -1e28 in eight
    steps, then a singular matrix). Halving each step until the GLS distance of the counts from their mean stopped
    growing did not stop it on the first of them: under a near-random-walk correlation that distance hardly
    changes with the level. So the fit stops with a message that says what happened, not a linear-algebra error."""
    y, X, den = np.asarray(y, float), np.asarray(X, float), np.asarray(denominator, float)
    binomial = family in ("binomial", "quasibinomial")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip(y / den, 0.5 / den, 1 - 0.5 / den) if binomial else np.maximum(y, 0.5) / den
    eta = np.log(share / (1 - share)) if binomial else np.log(share)
    beta = np.linalg.lstsq(X, eta, rcond=None)[0]
    first = None
    for step in range(1, max_iter + 1):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            eta = X @ beta
            if binomial:
                mu = den / (1 + np.exp(-eta))
                w = mu * (1 - mu / den)
            else:
                mu = den * np.exp(eta)
                w = mu
            z = eta + (y - mu) / w
            sw = np.sqrt(w)
        try:
            if not (np.all(np.isfinite(sw * z)) and np.all(w > 0)):
                raise np.linalg.LinAlgError("the working response is not finite")
            new, cov, resid, errors = fit_gls_arma(sw * z, sw[:, None] * X, months, p, q, structure)
            first = first or errors
        except np.linalg.LinAlgError as err:
            fitted = f"; the first step's error model was {gls_errors_text(first)}" if first else ""
            raise CountGLSError(
                f"the count GLS (autocorrelation='gls', family={family!r}) ran away at step {step} ({err}){fitted}. "
                "An error process close to a random walk (an AR coefficient near 1, little white noise) leaves the "
                "level of the series unidentified; fit this series with autocorrelation='newey_west' "
                "(quasi-likelihood, HAC errors) or look for a break in it") from err
        done = np.max(np.abs(new - beta)) < 1e-8
        beta = new
        if done:
            return beta, cov, resid, errors
    return beta, cov, resid, dataclasses.replace(errors, converged=False)
