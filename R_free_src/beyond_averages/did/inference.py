"""Inference helpers for the difference-in-differences estimators: clustered small-sample factors, fixed-effect
demeaning, the wild cluster bootstrap, the multiplier bootstrap and the few-clusters rule.

Small-sample conventions of a cluster-robust variance (``SmallSample``), with N observations, G clusters and
K estimated parameters:

* ``"fixest"`` (default): CR1 as R ``fixest`` reports it by default, ``V = CR0 * G/(G-1) * (N-1)/(N-K)``, where K
  counts the slope coefficients plus the fixed-effect levels that are *not nested* in the clusters (fixest's
  ``fixef.K = "nested"``). For a unit-clustered two-way model, K = slopes + number of time periods.
* ``"cr0"``: no adjustment at all (what ``linearmodels`` returns with ``debiased=False, auto_df=False,
  count_effects=False``).
* ``"linearmodels"``: the ``linearmodels`` ``PanelOLS`` default (``debiased=True``, effects counted), which divides by
  N - K with *every* absorbed effect counted, including the unit effects nested in the clusters. On ``mpdta`` this
  is 12% larger than fixest's SE (0.01482 against 0.01327).

Few clusters: cluster-robust tests over-reject when few clusters are treated. The rule used in
every output here: fewer than 20 treated clusters gives a caution, fewer than 10 a warning that the analytic
p-values should not be used and the wild cluster bootstrap p-value (Webb weights) should be reported instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np

SmallSample = Literal["fixest", "cr0", "linearmodels"]
BootWeights = Literal["rademacher", "webb", "mammen"]
ClusterCorrection = Literal["cohort", "cohort_share_debiased", "none"]
SMALL_SAMPLE: tuple[str, ...] = ("cohort", "cohort_share_debiased", "none")   # the group-time ATT's options

FEW_TREATED_CAUTION = 20
FEW_TREATED_WARNING = 10


def fixest_k(n_slopes: int, fe_levels: Sequence[int], nested: Sequence[bool]) -> int:
    """K of fixest's CR1 factor: slopes + levels of the fixed effects *not* nested in the clusters, less one
    redundant level per such fixed effect after the first. For unit FE (nested in unit clusters) + T time effects
    this is slopes + T, which reproduces fixest's printed SE on ``mpdta`` (0.013265)."""
    free = [int(n) for n, is_nested in zip(fe_levels, nested) if not is_nested]
    return int(n_slopes + sum(free) - max(len(free) - 1, 0))


def small_sample_factor(convention: SmallSample, n_obs: int, n_clusters: int, n_params: int) -> float:
    """Multiplier applied to a CR0 variance. ``n_params`` is K as defined by the convention (see module docs)."""
    if convention == "cr0":
        return 1.0
    if convention == "fixest":
        return (n_clusters / (n_clusters - 1.0)) * ((n_obs - 1.0) / (n_obs - n_params))
    if convention == "linearmodels":
        return (n_obs - 1.0) / (n_obs - n_params)
    raise ValueError(f"small_sample must be one of 'fixest', 'cr0', 'linearmodels'; got {convention!r}")


def few_clusters_message(n_treated_clusters: int) -> str | None:
    """The few-clusters rule (module docstring): a message, or None when there are at least 20 treated clusters."""
    if n_treated_clusters < FEW_TREATED_WARNING:
        return (
            f"only {n_treated_clusters} treated clusters (< {FEW_TREATED_WARNING}): cluster-robust p-values are "
            "unreliable; report the wild cluster bootstrap p-value (Webb weights)"
        )
    if n_treated_clusters < FEW_TREATED_CAUTION:
        return (
            f"only {n_treated_clusters} treated clusters (< {FEW_TREATED_CAUTION}): cluster-robust p-values may "
            "over-reject; check against the wild cluster bootstrap"
        )
    return None


def warn_few_clusters(n_treated_clusters: int) -> str | None:
    message = few_clusters_message(n_treated_clusters)
    if message:
        warnings.warn(message, UserWarning, stacklevel=3)
    return message


def demean(
    arrays: np.ndarray, codes: Sequence[np.ndarray], weights: np.ndarray | None = None, tol: float = 1e-11,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Partial (weighted) fixed effects out of each column of ``arrays`` by alternating projections.

    ``codes`` are integer codes 0..L-1, one array per fixed effect. Exact in one sweep for a single effect or a
    balanced two-way panel; iterates to ``tol`` otherwise.
    """
    x = np.array(arrays, dtype="float64", copy=True)
    if x.ndim == 1:
        x = x[:, None]
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype="float64")
    sums_w = [np.bincount(c, weights=w) for c in codes]
    for _ in range(max_iter):
        change = 0.0
        for c, sw in zip(codes, sums_w):
            for j in range(x.shape[1]):
                means = np.bincount(c, weights=w * x[:, j], minlength=sw.size) / np.where(sw > 0, sw, 1.0)
                step = means[c]
                x[:, j] -= step
                change = max(change, float(np.max(np.abs(step))) if step.size else 0.0)
        if len(codes) <= 1 or change < tol:
            break
    return x


def draw_weights(kind: BootWeights, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Bootstrap multipliers with mean 0 and variance 1.

    Rademacher: +-1. Webb: six points +-sqrt(1/2), +-1, +-sqrt(3/2), for few clusters. Mammen: the two-point
    weights of the R ``did`` multiplier bootstrap.
    """
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=size)
    if kind == "webb":
        points = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
        return rng.choice(points, size=size)
    if kind == "mammen":
        kappa = (np.sqrt(5.0) + 1.0) / 2.0
        p = kappa / np.sqrt(5.0)
        return np.where(rng.random(size) < p, 1.0 - kappa, kappa)
    raise ValueError(f"bootstrap weights must be 'rademacher', 'webb' or 'mammen'; got {kind!r}")


def cluster_robust_vcov(x: np.ndarray, resid: np.ndarray, clusters: np.ndarray, weights=None) -> np.ndarray:
    """CR0 sandwich ``(X'WX)^-1 (sum_g s_g s_g') (X'WX)^-1`` with scores ``s_g = sum_{i in g} w_i x_i u_i``."""
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype="float64")
    bread = np.linalg.inv(x.T @ (x * w[:, None]))
    n_g = int(clusters.max()) + 1
    scores = np.stack([np.bincount(clusters, weights=w * x[:, j] * resid, minlength=n_g) for j in range(x.shape[1])], 1)
    return bread @ (scores.T @ scores) @ bread


def wild_cluster_bootstrap(
    y: np.ndarray, x: np.ndarray, clusters: np.ndarray, coef: int = 0, *, weights=None, null: float = 0.0,
    n_boot: int = 999, kind: BootWeights = "webb", seed: int = 20240601,
) -> dict:
    """Restricted wild cluster bootstrap (WCR) p-value for H0: beta[coef] = null, on data whose fixed effects have
    already been partialled out (``demean``). The t statistic uses CR1 with G/(G-1) (the factor cancels in the
    p-value). Returns ``t_stat``, ``p_value``, ``n_boot``, ``weights``.

    Works on cluster-level sufficient statistics, so each draw costs O(G K^2) whatever the number of rows.
    """
    y = np.asarray(y, dtype="float64")
    x = np.asarray(x, dtype="float64")
    if x.ndim == 1:
        x = x[:, None]
    w = np.ones(y.size) if weights is None else np.asarray(weights, dtype="float64")
    codes = np.unique(clusters, return_inverse=True)[1]
    n_g = int(codes.max()) + 1
    k = x.shape[1]
    xw = x * w[:, None]
    xtx_inv = np.linalg.inv(x.T @ xw)
    beta = xtx_inv @ (xw.T @ y)
    resid = y - x @ beta
    v = cluster_robust_vcov(x, resid, codes, w)
    t_obs = (beta[coef] - null) / np.sqrt(v[coef, coef])
    # restricted fit: impose beta[coef] = null
    others = [j for j in range(k) if j != coef]
    y_r = y - null * x[:, coef]
    if others:
        xo = x[:, others]
        b_o = np.linalg.solve(xo.T @ (xo * w[:, None]), (xo * w[:, None]).T @ y_r)
        fit_r = xo @ b_o + null * x[:, coef]
    else:
        fit_r = null * x[:, coef]
    u_r = y - fit_r
    # per-cluster sufficient statistics
    a_fit = np.stack([np.bincount(codes, weights=xw[:, j] * fit_r, minlength=n_g) for j in range(k)], 1)  # G x K
    s_u = np.stack([np.bincount(codes, weights=xw[:, j] * u_r, minlength=n_g) for j in range(k)], 1)  # G x K
    xtx_g = np.zeros((n_g, k, k))
    for j in range(k):
        for m in range(k):
            xtx_g[:, j, m] = np.bincount(codes, weights=xw[:, j] * x[:, m], minlength=n_g)
    rng = np.random.default_rng(seed)
    vdraw = draw_weights(kind, (n_boot, n_g), rng)  # B x G
    xty = a_fit.sum(0)[None, :] + vdraw @ s_u  # B x K
    beta_b = xty @ xtx_inv.T  # B x K
    # cluster scores of the bootstrap residuals: x_g'u*_g = a_fit_g + v_g s_u_g - xtx_g beta*
    scores = a_fit[None, :, :] + vdraw[:, :, None] * s_u[None, :, :] - np.einsum("gjm,bm->bgj", xtx_g, beta_b)
    proj = scores @ xtx_inv[coef]  # B x G
    var_b = (proj**2).sum(1)
    t_b = (beta_b[:, coef] - null) / np.sqrt(var_b)
    p = float(np.mean(np.abs(t_b) >= abs(t_obs)))
    return {"t_stat": float(t_obs), "p_value": p, "n_boot": int(n_boot), "weights": kind}


def multiplier_bootstrap(
    psi: np.ndarray, n_boot: int = 999, alpha: float = 0.05, seed: int = 20240601, kind: BootWeights = "mammen",
    band: np.ndarray | None = None,
) -> dict:
    """Multiplier bootstrap of asymptotically linear estimators, as the R ``did`` package does (``mboot``).

    ``psi`` is clusters x estimates, scaled so that the analytic variance is ``(psi**2).sum(0)``; each draw
    multiplies every cluster's row by one weight (Mammen's two-point weights by default, as ``did``), so the draws
    keep the clusters' dependence. Returns bootstrap standard errors (the interquartile range of the draws divided
    by that of a standard normal, ``did``'s robust choice) and the critical value of a uniform (simultaneous) band
    over the columns in ``band`` (a boolean mask; default all): the 1 - alpha quantile of the largest absolute
    t-statistic among them. Same seed and same number of clusters, same draws, so estimates bootstrapped in
    separate calls share their multipliers.
    """
    from scipy.stats import norm

    psi = np.asarray(psi, dtype="float64")
    if psi.ndim == 1:
        psi = psi[:, None]
    rng = np.random.default_rng(seed)
    v = draw_weights(kind, (n_boot, psi.shape[0]), rng)
    draws = v @ psi  # B x k, each ~ N(0, V)
    iqr = np.quantile(draws, 0.75, axis=0) - np.quantile(draws, 0.25, axis=0)
    se = iqr / (norm.ppf(0.75) - norm.ppf(0.25))
    ok = se > np.sqrt(np.finfo(float).eps) * 10
    in_band = ok & (np.ones(psi.shape[1], bool) if band is None else np.asarray(band, bool))
    tmax = np.max(np.abs(draws[:, in_band]) / se[in_band], axis=1) if in_band.any() else np.zeros(n_boot)
    crit = float(np.quantile(tmax, 1 - alpha)) if in_band.any() else float(norm.ppf(1 - alpha / 2))
    se = np.where(ok, se, np.nan)
    return {"std_error": se, "crit_value": crit}


def cohort_cluster_scale(cluster_cohort: np.ndarray) -> np.ndarray:
    """Per-cluster multipliers ``sqrt(G_k / (G_k - 1))`` of the influence function, G_k = clusters in the
    cluster's adoption cohort (never treated is a cohort); ``cluster_cohort`` holds one cohort code per cluster,
    ``-2`` for a cluster without data (multiplier 1).

    Why: a group-time ATT compares cohort means, and the influence-function variance of a mean of G_k cluster
    totals is ``sum (x_c - mean)^2 / G_k^2``, which is ``(G_k - 1) / G_k`` times the variance it estimates (one
    degree of freedom goes to the cohort mean). With 4 treated clusters per cohort that is 0.75: in the 12-of-48
    simulation of ``bench/did_calibration.py`` R ``did``'s SEs are 7-17% too small. The multiplier makes each
    cohort's part unbiased (Welch's variance of a difference in means, which CR2 reduces to here). A single-cluster
    cohort has no within-cohort variance to correct and keeps multiplier 1 (the few-clusters warning applies). The
    multiplier applies to the ATT(g,t) cells' influence only: an aggregate's share term is not a deviation from a
    cohort mean (unweighted, it is constant within a cohort) and gets ``share_term_factor`` instead.
    """
    cohort = np.asarray(cluster_cohort)
    scale = np.ones(cohort.size)
    for code in np.unique(cohort[cohort != -2]):
        members = cohort == code
        g_k = int(members.sum())
        if g_k > 1:
            scale[members] = np.sqrt(g_k / (g_k - 1.0))
    return scale


def share_term_factor(between: np.ndarray, omega: np.ndarray, spread: np.ndarray) -> float:
    """Factor ``kappa`` for an aggregate's share term (``between = omega @ att_hat``: the clusters' influence of the
    estimated group shares, ``omega`` clusters x r, times r combinations of ATT(g,t) estimates whose clusters x r
    influence, with the cohort multiplier, is ``spread``) so that ``kappa**2 * sum(between**2)`` is unbiased:
    ``kappa = sqrt(max(0, 1 - tr(omega' omega spread' spread) / sum(between**2)))``.

    Why: ``aggte``'s share term plugs the estimated ATTs into the influence function, and
    ``E |omega att_hat|^2 = |omega att|^2 + tr(omega' omega Sigma_att)``: the second part is the ATTs' own sampling
    noise, already counted by the cells' influence, counted again. It is second order with many clusters, but with
    4 clusters a cohort it added 17-25% to the variance of each event-time effect when the effects do not differ
    between waves (``bench/did_calibration.py``; docs/did.md, "Defaults and why"). Subtracting its estimate,
    ``Sigma_att = spread' spread``, leaves the share term's part for effects that do differ between waves. Returns 1
    when there is no share term.
    """
    total = float(between @ between)
    if total <= 0.0:
        return 1.0
    noise = float(np.sum((omega.T @ omega) * (spread.T @ spread)))
    return float(np.sqrt(max(0.0, 1.0 - noise / total)))


def welch_df(psi: np.ndarray, cluster_cohort: np.ndarray) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom of each column of ``psi`` (clusters x estimates, variance = column
    sums of squares): ``(sum_k V_k)^2 / sum_k V_k^2 / (G_k - 1)``, V_k the variance from cohort k's G_k clusters.

    Why: each cohort's variance is estimated from its own G_k - 1 degrees of freedom, so an estimate whose
    variance comes mostly from one cohort of 4 clusters (e.g. the late event times, seen only in the first wave)
    has about 3, not (treated clusters - 1). For a single 2x2 comparison this is Welch's t-test on cluster means.
    Single-cluster cohorts add their variance but no degrees of freedom; np.inf when no cohort has two clusters.
    """
    psi = np.asarray(psi, dtype="float64")
    cohort = np.asarray(cluster_cohort)
    total = (psi**2).sum(0)
    denominator = np.zeros(psi.shape[1])
    for code in np.unique(cohort[cohort != -2]):
        members = cohort == code
        g_k = int(members.sum())
        if g_k > 1:
            denominator += (psi[members] ** 2).sum(0) ** 2 / (g_k - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, total**2 / np.where(denominator > 0, denominator, 1.0), np.inf)


def t_band_critical(crit_normal: float, df: np.ndarray | float | None) -> np.ndarray | float:
    """A normal-reference critical value moved to a t(df) reference at the same tail probability (the uniform
    band's sup-t quantile from the multiplier bootstrap is on the normal scale); ``df=None`` leaves it as is."""
    from scipy.stats import norm, t

    return float(crit_normal) if df is None else t.ppf(norm.cdf(crit_normal), df)
