"""Model comparison for ITS models as a tidy frame: fit statistics of each model and a test of each against the
previous one when they are nested (e.g. level-only vs level-and-slope; a pooled model without vs with the treated
unit's own changes).

:func:`model_comparison` takes fitted ITS estimators (smallest first) and returns one row per model:
``model, n_obs, n_params, df_resid, log_likelihood, deviance, aic, bic, likelihood`` and, from the second row on,
``test, statistic, df_num, df_den, p_value`` against the row above. Two models are nested here when they were
fitted to the same rows (same ``n_obs``) and the smaller one's terms are a subset of the larger one's.

Which test, and why:

* gaussian without an autocorrelation correction: the classical F test (``(RSS0 - RSS1) / q`` over the larger
  model's residual variance; R's ``anova(lm0, lm1)``);
* poisson / binomial: the likelihood-ratio test, chi-square on the drop in deviance (``anova(glm0, glm1,
  test = "Chisq")``); quasi families: F on the drop in deviance over the larger model's dispersion (``test = "F"``);
* with Newey-West, AR or GLS errors: a Wald test of the extra terms with the larger model's covariance (F with the
  model's residual degrees of freedom when it has them, else chi-square), because a difference of (REML or
  quasi-) likelihoods between models with different fixed effects is not a valid test: REML likelihoods of
  different fixed effects are not comparable (``nlme``'s ``anova`` warns for the same reason).

Log-likelihoods: gaussian OLS ``-n/2 (log(2 pi RSS/n) + 1)`` with ``n_params = k + 1`` (the variance counts, as R's
``logLik.lm``); GLMs their own (none for quasi families: NaN, as R); GLS the REML log-likelihood (``likelihood``
says which), AR the exact ML one. AIC ``= -2 logLik + 2 n_params``, BIC ``= -2 logLik + log(n) n_params``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from beyond_averages.files import InputError


def _fit_of(model):
    """The fit behind a model's contrast: the difference-series fit of a two-series model with GLS/AR errors."""
    return getattr(model, "difference_fit_", None) or model.fit_


def fit_statistics(fit, family: str) -> dict:
    """Log-likelihood, deviance, AIC and BIC of one :class:`~beyond_averages.its.inference.ModelFit`."""
    n, k = fit.n_obs, len(fit.params)
    res = fit.result
    deviance, kind = np.nan, "ML"
    if fit.autocorrelation == "gls":
        ll, kind = res.loglik, "REML"
        n_params = k + len(res.phi) + len(res.theta) + 1 + (res.structure == "ar1_noise")
    elif fit.autocorrelation == "ar":
        ll, n_params = float(res.llf), len(res.params)
    elif family == "gaussian":
        deviance = float(np.sum(np.asarray(fit.residuals) ** 2))
        ll, n_params = -n / 2 * (math.log(2 * math.pi * deviance / n) + 1), k + 1
    else:
        deviance, n_params = float(res.deviance), k
        ll = np.nan if family.startswith("quasi") else float(res.llf)
        kind = "quasi" if family.startswith("quasi") else "ML"
    return {"n_obs": n, "n_params": n_params, "df_resid": fit.df_resid if fit.df_resid else n - k,
            "log_likelihood": ll, "deviance": deviance, "aic": -2 * ll + 2 * n_params,
            "bic": -2 * ll + math.log(n) * n_params, "likelihood": kind}


def nested_test(small, big, family: str) -> dict:
    """Test of the terms ``big`` has and ``small`` lacks (module docstring); empty when not nested."""
    extra = [c for c in big.params.index if c not in small.params.index]
    if small.n_obs != big.n_obs or not set(small.params.index) <= set(big.params.index) or not extra:
        return {"test": "not nested", "statistic": np.nan, "df_num": np.nan, "df_den": np.nan, "p_value": np.nan}
    q = len(extra)
    corrected = big.autocorrelation in ("newey_west", "ar", "gls")
    if not corrected and family != "gaussian":
        drop = float(small.result.deviance - big.result.deviance)
        if family.startswith("quasi"):
            stat, df_den = drop / q / big.scale, big.n_obs - len(big.params)
            return {"test": "F (deviance)", "statistic": stat, "df_num": q, "df_den": df_den,
                    "p_value": float(stats.f.sf(stat, q, df_den))}
        return {"test": "LR chi-square", "statistic": drop, "df_num": q, "df_den": np.nan,
                "p_value": float(stats.chi2.sf(drop, q))}
    b = big.params[extra].to_numpy()
    V = big.cov.loc[extra, extra].to_numpy()
    wald = float(b @ np.linalg.solve(V, b))
    if big.df_resid:
        name = "F" if not corrected else f"Wald F ({big.autocorrelation})"
        return {"test": name, "statistic": wald / q, "df_num": q, "df_den": big.df_resid,
                "p_value": float(stats.f.sf(wald / q, q, big.df_resid))}
    return {"test": f"Wald chi-square ({big.autocorrelation})", "statistic": wald, "df_num": q, "df_den": np.nan,
            "p_value": float(stats.chi2.sf(wald, q))}


def model_comparison(models: Mapping[str, object] | Sequence[object]) -> pd.DataFrame:
    """Fit statistics of each fitted ITS estimator and a test of each against the previous one (smallest first):
    ``model, n_obs, n_params, df_resid, log_likelihood, deviance, aic, bic, likelihood, test, statistic, df_num,
    df_den, p_value`` (module docstring). ``models``: a mapping name -> estimator, or a sequence (named 1, 2, ...).
    """
    items = list(models.items()) if isinstance(models, Mapping) else [(str(i + 1), m) for i, m in enumerate(models)]
    if not items:
        raise InputError("model_comparison: no models given")
    families = {m.settings.family for _, m in items}
    if len(families) > 1:
        raise InputError(f"model_comparison: models of different families {sorted(families)} cannot be compared")
    family = families.pop()
    rows, previous = [], None
    for name, model in items:
        fit = _fit_of(model)
        row = {"model": str(name), **fit_statistics(fit, family)}
        empty = {"test": "", "statistic": np.nan, "df_num": np.nan, "df_den": np.nan, "p_value": np.nan}
        row.update(empty if previous is None else nested_test(previous, fit, family))
        rows.append(row)
        previous = fit
    out = pd.DataFrame(rows)
    for c in ("log_likelihood", "deviance", "aic", "bic", "statistic", "df_num", "df_den", "p_value", "df_resid"):
        out[c] = out[c].astype("float64")
    return out


def compare_with(model, smaller: Sequence[object], names: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`model_comparison` of ``[*smaller, model]`` (the estimators' ``model_comparison`` method); default
    names ``model 1``, ``model 2``, ... with ``model`` last."""
    models = [*smaller, model]
    names = list(names) if names is not None else [f"model {i + 1}" for i in range(len(models))]
    if len(names) != len(models):
        raise InputError(f"model_comparison: {len(names)} names for {len(models)} models")
    return model_comparison(dict(zip(names, models)))
