"""Effects from a fitted ITS model: coefficients, and contrasts of fitted values with and without the
intervention on the natural scale (absolute, times ``per``) and as ratios, with delta-method or simulation intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages.its.inference import ModelFit
from beyond_averages.its.settings import ITSSettings
from beyond_averages.results import tidy_frame

EFFECT_KEYS = ("group", "horizon", "month", "measure")  # the key columns of every ITS effect table


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
    with np.errstate(divide="ignore", invalid="ignore"):  # an exact (noise-free) fit has zero standard errors
        p = fit.p_value(est / se)
    out = pd.DataFrame({"term": fit.params.index, "estimate": est, "std_error": se, "ci_lower": est - q * se,
                        "ci_upper": est + q * se, "p_value": p})
    if settings.link != "identity":
        out["ratio"] = np.exp(out["estimate"])
        out["ratio_ci_lower"] = np.exp(out["ci_lower"])
        out["ratio_ci_upper"] = np.exp(out["ci_upper"])
    return tidy_frame(out, keys=("term",))


def effect_rows(eff: dict, horizons, months, settings: ITSSettings, extra: dict | None = None) -> pd.DataFrame:
    """:func:`linear_contrast` output as a tidy frame: ``[group,] horizon, month, measure`` (``absolute``,
    ``ratio``), the tidy columns, then ``with_intervention``, ``counterfactual`` (when known) and ``ci_method``."""
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
    return tidy_frame(rows, keys=EFFECT_KEYS)


def contrast_rows(coefficients: pd.DataFrame, prefix: str, contrast: str) -> pd.DataFrame:
    """The ``<prefix>_level`` / ``<prefix>_slope`` rows of a coefficient table as ``level_change_difference`` /
    ``slope_change_difference`` with a ``contrast`` label (every two-group model's ``contrast_summary``)."""
    tab = coefficients.set_index("term")
    names = {f"{prefix}_level": "level_change_difference", f"{prefix}_slope": "slope_change_difference"}
    out = tab.loc[[t for t in names if t in tab.index]].reset_index()
    out["term"] = out["term"].map(names)
    out.insert(1, "contrast", contrast)
    return tidy_frame(out, keys=("term", "contrast"))
