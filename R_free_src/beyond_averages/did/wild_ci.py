"""Wild cluster bootstrap confidence intervals by test inversion, as R ``fwildclusterboot`` and Stata ``boottest``
compute them: the interval is the set of null values ``b`` that the restricted wild cluster bootstrap (WCR) test of
``H0: beta = b`` does not reject at level ``alpha``.

Why not ``estimate +- c * se``: with few treated clusters the cluster-robust t statistic is far from its t(G - 1)
reference and the bootstrap distribution of the statistic changes with the null imposed, so the interval that
matches the bootstrap p-value is found by inverting the test (Roodman, Nielsen, MacKinnon & Webb, Stata Journal
2019;19(1):4-60, the boottest paper).

How: :class:`WildTest` gives the p-value of
:func:`~beyond_averages.did.inference.wild_cluster_bootstrap` for any null, always with the same seeded weight
draws, so ``p(b)`` is a deterministic step function with ``p(estimate) = 1``. Each end is
bracketed by stepping out from the estimate in multiples of the CR1 standard error until the test rejects, then
found by bisection to ``tol`` standard errors. The p-value at the null 0 is the one ``TwoWayFixedEffects`` reports
(``wild_p_value``); just inside an end ``p > alpha``, just outside ``p <= alpha``.
"""

from __future__ import annotations

import numpy as np

from beyond_averages.did.inference import BootWeights, cluster_robust_vcov, draw_weights


class WildTest:
    """The restricted wild cluster bootstrap test of ``H0: beta[coef] = b`` for any ``b``, with the statistics of
    :func:`~beyond_averages.did.inference.wild_cluster_bootstrap` computed once: the restricted fit and its
    residuals are linear in ``b``, so each cluster's sufficient statistics are too, and a test costs
    O(B G K^2) whatever the number of rows. Same draws, same p-values as that function (tests/test_did_wild.py)."""

    def __init__(self, y, x, clusters, coef=0, *, weights=None, n_boot=999, kind: BootWeights = "webb",
                 seed=20240601):
        y = np.asarray(y, dtype="float64")
        x = np.asarray(x, dtype="float64")
        x = x[:, None] if x.ndim == 1 else x
        w = np.ones(y.size) if weights is None else np.asarray(weights, dtype="float64")
        codes = np.unique(clusters, return_inverse=True)[1]
        n_g, k = int(codes.max()) + 1, x.shape[1]
        xw = x * w[:, None]
        self.xtx_inv = np.linalg.inv(x.T @ xw)
        self.beta = self.xtx_inv @ (xw.T @ y)
        v = cluster_robust_vcov(x, y - x @ self.beta, codes, w)
        self.n_g, self.coef = n_g, coef
        self.se_cr0 = float(np.sqrt(v[coef, coef]))
        others = [j for j in range(k) if j != coef]
        if others:  # restricted fit = fit0 + b * fit1 (b imposed on x[:, coef], the others re-estimated)
            xo = x[:, others]
            solve = np.linalg.solve(xo.T @ (xo * w[:, None]), (xo * w[:, None]).T @ np.column_stack([y, x[:, coef]]))
            fit0, fit1 = xo @ solve[:, 0], x[:, coef] - xo @ solve[:, 1]
        else:
            fit0, fit1 = np.zeros(y.size), x[:, coef]

        def by_cluster(values):
            return np.stack([np.bincount(codes, weights=xw[:, j] * values, minlength=n_g) for j in range(k)], 1)

        self.a0, self.a1, self.su0 = by_cluster(fit0), by_cluster(fit1), by_cluster(y - fit0)
        self.xtx_g = np.zeros((n_g, k, k))
        for j in range(k):
            for m in range(k):
                self.xtx_g[:, j, m] = np.bincount(codes, weights=xw[:, j] * x[:, m], minlength=n_g)
        self.draws = draw_weights(kind, (n_boot, n_g), np.random.default_rng(seed))

    def p_value(self, null: float) -> float:
        a_fit, s_u = self.a0 + null * self.a1, self.su0 - null * self.a1
        beta_b = (a_fit.sum(0)[None, :] + self.draws @ s_u) @ self.xtx_inv.T
        scores = a_fit[None] + self.draws[:, :, None] * s_u[None] - np.einsum("gjm,bm->bgj", self.xtx_g, beta_b)
        t_b = (beta_b[:, self.coef] - null) / np.sqrt(((scores @ self.xtx_inv[self.coef]) ** 2).sum(1))
        t_obs = (self.beta[self.coef] - null) / self.se_cr0
        return float(np.mean(np.abs(t_b) >= abs(t_obs)))


def wild_bootstrap_interval(
    y: np.ndarray, x: np.ndarray, clusters: np.ndarray, coef: int = 0, *, weights=None, alpha: float = 0.05,
    n_boot: int = 999, kind: BootWeights = "webb", seed: int = 20240601, tol: float = 1e-4,
) -> dict:
    """``(1 - alpha)`` WCR interval for ``beta[coef]`` on data with the fixed effects partialled out: a dict with
    ``estimate``, ``ci_lower``, ``ci_upper``, ``p_value`` (at the null 0), ``std_error`` (CR1, G/(G-1)),
    ``n_boot``, ``weights`` and ``evaluations`` (bootstrap tests run)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
    test = WildTest(y, x, clusters, coef, weights=weights, n_boot=n_boot, kind=kind, seed=seed)
    est = float(test.beta[coef])
    se = test.se_cr0 * np.sqrt(test.n_g / (test.n_g - 1))
    calls = 0

    def p_at(null: float) -> float:
        nonlocal calls
        calls += 1
        return test.p_value(null)

    def end(direction: int) -> float:
        inside, step = est, 2.0 * se
        outside = est + direction * step
        while p_at(outside) > alpha:
            inside, step = outside, step * 2
            outside = est + direction * step
            if step > 1e6 * max(se, 1e-12):
                return direction * np.inf  # never rejected: the interval is unbounded on this side
        while abs(outside - inside) > tol * se:
            mid = (inside + outside) / 2
            if p_at(mid) > alpha:
                inside = mid
            else:
                outside = mid
        return (inside + outside) / 2

    lower, upper = end(-1), end(+1)
    return {"estimate": est, "std_error": se, "ci_lower": float(lower), "ci_upper": float(upper),
            "p_value": p_at(0.0), "n_boot": int(n_boot), "weights": kind, "evaluations": calls}
