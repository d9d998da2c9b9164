"""The numerical core of the HonestDiD sensitivity analysis (:mod:`beyond_averages.did.honest`): the conditional
test of Andrews, Roth & Pakes (ARP) for moment inequalities with nuisance parameters, its least-favourable hybrid,
and the optimal fixed-length confidence interval (FLCI) under smoothness restrictions.

Written from the R package HonestDiD 0.2.x (``R/arp-nuisance.R``, ``R/flci.R``; Rambachan & Roth 2023) so that its
grid-based confidence sets agree with R's to the grid point: the same linear programs (``scipy.optimize.linprog``,
HiGHS dual simplex, for R's lpSolve/Rglpk), the same primal/dual switch (tolerance 1e-6 on the Lagrange
multipliers), the same bisection for the dual truncation points and the same truncated-normal critical value
``max(0, c_{1-alpha})``. Two parts are not bit-for-bit R's, by design:

* the FLCI is the exact minimiser of its half-length (a convex problem, solved here with SLSQP), where R searches a
  100-point grid of standard deviations and takes the folded-normal quantile from 10^6 simulated draws; the two
  agree to about 1e-3 on the Benzarti-Carloni example (tests/test_did_honest.py);
* the least-favourable critical value of the "C-LF" hybrid is simulated (1,000 draws, as R) with numpy's seeded
  generator, so it differs from R's by simulation noise; the plain conditional test ("Conditional") has no
  simulation and reproduces R exactly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import linalg, optimize, stats

TOL_LAMBDA = 1e-6      # R: tol_lambda, multipliers above it mark binding moments
TOL_EQUALITY = 1e-6    # R: tol_equality / tol_c of the dual bisection


# ------------------------------------------------------------------------------------------------ linear programs
def lp_eta(y: np.ndarray, x: np.ndarray, sigma: np.ndarray):
    """``min eta`` s.t. ``y - X d <= eta * sd`` (R ``.test_delta_lp_fn``): ``(eta, lambda)`` or None if the LP
    fails. ``lambda`` are the multipliers (``sum(sd * lambda) = 1``, ``X' lambda = 0``), a vertex of the dual."""
    sd = np.sqrt(np.diag(sigma))
    k = x.shape[1]
    res = optimize.linprog(np.r_[1.0, np.zeros(k)], A_ub=-np.column_stack([sd, x]), b_ub=-y,
                           bounds=[(None, None)] * (k + 1), method="highs-ds")
    if res.status != 0:
        return None
    return float(res.fun), -np.asarray(res.ineqlin.marginals, dtype=float)


def _max_program(s_t, gamma, sigma, w_t, c):
    """R ``.max_program``: ``max f'g`` over ``g >= 0, W'g = e1`` with ``f = s + Sigma gamma c / (gamma'Sigma gamma)``."""
    f = s_t + sigma @ gamma / (gamma @ sigma @ gamma) * c
    e1 = np.zeros(w_t.shape[1])
    e1[0] = 1.0
    res = optimize.linprog(-f, A_eq=w_t.T, b_eq=e1, bounds=(0, None), method="highs-ds")
    if res.status != 0:
        return None, None
    return -float(res.fun), res.x


def _is_solution(c, s_t, gamma, sigma, w_t):
    value, sol = _max_program(s_t, gamma, sigma, w_t, c)
    return (value is not None and abs(c - value) <= TOL_EQUALITY), sol


def _bisect_end(eta, start, s_t, gamma, sigma, w_t, b):
    """One truncation point of the dual approach (R ``.vlo_vup_dual_fn``): up to 10 fixed-point steps on the LP's
    linear piece (``c = g's / (1 - g'b)``), then bisection between ``eta`` (a solution) and the last
    non-solution, to 1e-6."""
    ok, sol = _is_solution(start, s_t, gamma, sigma, w_t)
    if ok:
        return np.inf if start > eta else -np.inf

    def step(g):
        top = g @ s_t
        top = 0.0 if abs(top) < np.finfo(float).eps ** 0.75 else top
        return top / (1.0 - g @ b)

    mid, iters = step(sol), 1
    while True:
        ok, new = _is_solution(mid, s_t, gamma, sigma, w_t)
        if ok:
            return mid
        iters += 1
        if iters >= 10 or new is None:
            break
        mid = step(new)
    good, bad = eta, mid
    while abs(bad - good) > TOL_EQUALITY:
        mid = (good + bad) / 2
        if _is_solution(mid, s_t, gamma, sigma, w_t)[0]:
            good = mid
        else:
            bad = mid
    return mid


def _vlo_vup_dual(eta, y, x, gamma, sigma):
    sd = np.sqrt(np.diag(sigma))
    w_t = np.column_stack([sd, x])
    g_s_g = gamma @ sigma @ gamma
    s_t = y - sigma @ gamma * (gamma @ y) / g_s_g
    if not _is_solution(eta, s_t, gamma, sigma, w_t)[0]:
        return eta, np.inf  # R: eta not a solution, do not reject automatically
    sigma_b = np.sqrt(g_s_g)
    b = sigma @ gamma / g_s_g
    vup = _bisect_end(eta, max(100.0, eta + 20 * sigma_b), s_t, gamma, sigma, w_t, b)
    vlo = _bisect_end(eta, min(-100.0, eta - 20 * sigma_b), s_t, gamma, sigma, w_t, b)
    return vlo, vup


def truncnorm_quantile(p: float, lo: float, hi: float) -> float:
    """Quantile of a standard normal truncated to [lo, hi] (R ``TruncatedNormal::norminvp``)."""
    return float(stats.truncnorm.ppf(p, lo, hi))


def dual_vertices(w_t: np.ndarray, limit: int = 20_000) -> np.ndarray | None:
    """Every vertex of ``{g >= 0: W'g = e1}``, the dual of the ``eta`` LP (rows of the result), or None when there
    are more than ``limit`` candidate bases. With the vertices, ``eta = max_v v'y`` and the dual truncation points
    are closed-form, so a grid of ``theta`` costs matrix products instead of thousands of LPs."""
    n, r = w_t.shape
    if r > n or math.comb(n, r) > limit:
        return None
    # All candidate bases at once (stacked LAPACK calls, the same per-matrix arithmetic as a loop, so the same
    # vertices to the bit): a loop over the up to 20,000 bases was most of the DiD chapter's HonestDiD time.
    subsets = np.array(list(itertools.combinations(range(n), r)), dtype=np.intp).reshape(-1, r)
    subs = np.swapaxes(w_t[subsets], 1, 2)
    keep = np.abs(np.linalg.det(subs)) >= 1e-12
    subsets, subs = subsets[keep], subs[keep]
    e1 = np.zeros((len(subs), r, 1))
    e1[:, 0, 0] = 1.0
    g = np.linalg.solve(subs, e1)[..., 0]
    feasible = (g >= -1e-12).all(axis=1)
    if not feasible.any():
        return None
    found = np.zeros((int(feasible.sum()), n))
    np.put_along_axis(found, subsets[feasible], np.clip(g[feasible], 0.0, None), axis=1)
    found = np.round(found, 14)
    # Byte-identical rows (most of them: degenerate bases share a vertex) dropped by a fast byte-wise unique first;
    # the row-wise unique then sorts the few left, as it sorted them all before.
    _, first = np.unique(found.view(np.dtype((np.void, found.itemsize * n))).ravel(), return_index=True)
    return np.unique(found[np.sort(first)], axis=0)


def _vlo_vup_vertices(eta, y, gamma, sigma, vertices):
    """The dual truncation points in closed form: ``v(c) = max_i (p_i + q_i c)`` over the vertices, and
    ``[vlo, vup] = {c: v(c) <= c}``; R's bisection finds the same points to 1e-6 and reports an end beyond
    ``+-max(100, |eta| + 20 sd)`` as infinite."""
    g_s_g = gamma @ sigma @ gamma
    b = sigma @ gamma / g_s_g
    p = vertices @ (y - sigma @ gamma * (gamma @ y) / g_s_g)
    q = vertices @ b - 1.0
    up, lo = q > 1e-12, q < -1e-12
    vup = float(np.min(-p[up] / q[up])) if up.any() else np.inf
    vlo = float(np.max(-p[lo] / q[lo])) if lo.any() else -np.inf
    sigma_b = np.sqrt(g_s_g)
    vup = np.inf if vup >= max(100.0, eta + 20 * sigma_b) else vup
    vlo = -np.inf if vlo <= min(-100.0, eta - 20 * sigma_b) else vlo
    return vlo, vup


# ------------------------------------------------------------------------------------------------ the ARP test
def _vertex_parts(lam, x, sigma, vertices):
    """What the conditional test needs of the optimal dual vertex ``lam`` alone (not of ``y``): computed once per
    vertex for a whole grid of ``theta`` (the same arithmetic as for each point on its own)."""
    k = x.shape[1]
    binding = lam > TOL_LAMBDA
    x_b = x[binding]
    full_rank = bool(np.linalg.matrix_rank(x_b) == min(x_b.shape)) if x_b.size else True
    if binding.sum() != k + 1 or not full_rank:
        sigma_b = float(np.sqrt(lam @ sigma @ lam))
        if sigma_b < 1e-10 or vertices is None:
            return ("dual", sigma_b, None)
        g_s_g = lam @ sigma @ lam
        q = vertices @ (sigma @ lam / g_s_g) - 1.0
        return ("dual", sigma_b, (g_s_g, q, q > 1e-12, q < -1e-12, np.sqrt(g_s_g)))
    sd = np.sqrt(np.diag(sigma))
    free = ~binding
    inv_b = np.linalg.inv(np.column_stack([sd[binding], x_b]))
    s_b = np.eye(len(lam))[binding]
    gamma_b = np.column_stack([sd[free], x[free]]) @ inv_b @ s_b - np.eye(len(lam))[free]
    v_b = inv_b[0] @ s_b
    sigma_b = float(np.sqrt(v_b @ sigma @ v_b))
    rho = gamma_b @ sigma @ v_b / sigma_b**2
    return ("exact", sigma_b, (gamma_b, v_b, np.where(rho != 0, rho, np.nan), rho > 0, rho < 0))


def _vlo_vup_cached(eta, y, gamma, sigma, vertices, parts):
    """:func:`_vlo_vup_vertices` with the vertex's own parts (``g_s_g``, ``q``, its signs, ``sqrt(g_s_g)``) given."""
    g_s_g, q, up, lo, sigma_b = parts
    p = vertices @ (y - sigma @ gamma * (gamma @ y) / g_s_g)
    vup = float(np.min(-p[up] / q[up])) if up.any() else np.inf
    vlo = float(np.max(-p[lo] / q[lo])) if lo.any() else -np.inf
    vup = np.inf if vup >= max(100.0, eta + 20 * sigma_b) else vup
    vlo = -np.inf if vlo <= min(-100.0, eta - 20 * sigma_b) else vlo
    return vlo, vup


def _arp_stage(y, x, sigma, alpha, lf_cv, kappa, vertices, cache):
    """The conditional test up to its critical value: a decision (True: reject), or ``(size, zlo, zup, stat)``, which
    rejects when ``stat > max(0, truncated-normal 1 - size quantile on [zlo, zup])``. ``cache`` (a dict) keeps each
    dual vertex's parts (:func:`_vertex_parts`) across the points of a grid."""
    if vertices is not None:
        values = vertices @ y
        best = int(np.argmax(values))
        eta, lam = float(values[best]), vertices[best]
    else:
        sol = lp_eta(y, x, sigma)
        if sol is None:
            return False  # R: the LP did not converge, do not reject
        eta, lam = sol
        best = None
    size = alpha
    if lf_cv is not None:
        if eta > lf_cv:
            return True
        size = (alpha - kappa) / (1 - kappa)
    if best is None or best not in cache:
        parts = _vertex_parts(lam, x, sigma, vertices)
        if best is not None:
            cache[best] = parts
    else:
        parts = cache[best]
    kind, sigma_b, extra = parts
    if kind == "dual":
        if sigma_b < 1e-10:
            return eta > 0
        if vertices is not None:
            vlo, vup = _vlo_vup_cached(eta, y, lam, sigma, vertices, extra)
        else:
            vlo, vup = _vlo_vup_dual(eta, y, x, lam, sigma)
    else:
        gamma_b, v_b, rho_nan, pos, neg = extra
        bound = -(gamma_b @ y) / rho_nan + v_b @ y
        vlo = float(np.max(bound[pos])) if pos.any() else -np.inf
        vup = float(np.min(bound[neg])) if neg.any() else np.inf
    if lf_cv is not None:
        vup = min(vup, lf_cv)
    zlo, zup, stat = vlo / sigma_b, vup / sigma_b, eta / sigma_b
    if not zlo <= stat <= zup:
        return False
    return (size, zlo, zup, stat)


def arp_reject(y: np.ndarray, x: np.ndarray, sigma: np.ndarray, alpha: float, lf_cv: float | None = None,
               kappa: float = 0.0, vertices: np.ndarray | None = None) -> bool:
    """ARP conditional test of ``E[y - X d] <= 0`` for some ``d`` (R ``.lp_conditional_test_fn``); with ``lf_cv``
    the least-favourable hybrid of first-stage size ``kappa``; ``vertices`` (:func:`dual_vertices`) replace the
    LPs when given."""
    out = _arp_stage(y, x, sigma, alpha, lf_cv, kappa, vertices, {})
    if not isinstance(out, tuple):
        return bool(out)
    size, zlo, zup, stat = out
    return bool(stat > max(0.0, truncnorm_quantile(1 - size, zlo, zup)))


def least_favourable_cv(x: np.ndarray, sigma: np.ndarray, kappa: float, sims: int = 1000, seed: int = 0,
                        vertices: np.ndarray | None = None) -> float:
    """The 1 - kappa quantile of ``eta`` under the least favourable null (R ``.compute_least_favorable_cv``)."""
    draws = np.random.default_rng(seed).multivariate_normal(np.zeros(len(sigma)), sigma, size=sims)
    if vertices is not None:
        return float(np.quantile((draws @ vertices.T).max(axis=1), 1 - kappa))
    etas = [sol[0] for sol in (lp_eta(xi, x, sigma) for xi in draws) if sol is not None]
    return float(np.quantile(etas, 1 - kappa))


def construct_gamma(l_vec: np.ndarray) -> np.ndarray:
    """An invertible matrix with first row ``l'`` (R ``.construct_Gamma``: pivot columns of ``[l, I]``)."""
    cols = [l_vec]
    for i in range(len(l_vec)):
        e = np.eye(len(l_vec))[i]
        if np.linalg.matrix_rank(np.column_stack([*cols, e])) > len(cols):
            cols.append(e)
    return np.column_stack(cols).T


def arp_accept(betahat, sigma, n_pre, n_post, a, d, l_vec, alpha, grid, rows, *, lf_kappa=None, seed=0,
               skip=None) -> np.ndarray:
    """Which ``theta`` of ``grid`` the (hybrid) conditional test accepts for ``{delta: A delta <= d}``
    (R ``.ARP_computeCI``); grid points where ``skip`` is True are not tested (already accepted elsewhere)."""
    a_post = a[:, n_pre:n_pre + n_post] @ np.linalg.inv(construct_gamma(l_vec))
    a1, x = a_post[:, 0][rows], a_post[:, 1:][rows]
    y = (a @ betahat - d)[rows]
    sig_y = (a @ sigma @ a.T)[np.ix_(rows, rows)]
    vertices = dual_vertices(np.column_stack([np.sqrt(np.diag(sig_y)), x]))
    lf_cv = least_favourable_cv(x, sig_y, lf_kappa, seed=seed, vertices=vertices) if lf_kappa is not None else None
    accept = np.zeros(len(grid), dtype=bool)
    cache, pending = {}, []
    for i, theta in enumerate(grid):
        if skip is None or not skip[i]:
            out = _arp_stage(y - a1 * theta, x, sig_y, alpha, lf_cv, lf_kappa or 0.0, vertices, cache)
            if isinstance(out, tuple):
                pending.append((i, *out))
            else:
                accept[i] = not out
    if pending:
        # One vectorised call for the grid's truncated-normal quantiles (elementwise the same numbers as one call
        # per point, which was most of the test's time).
        idx, size, zlo, zup, stat = (np.array(c) for c in zip(*pending))
        q = stats.truncnorm.ppf(1 - size, zlo, zup)
        accept[idx] = ~(stat > np.where(q > 0.0, q, 0.0))   # max(0, q) as Python's max: a NaN quantile gives 0
    return accept


# ------------------------------------------------------------------------------------------------ the FLCI
def folded_normal_quantile(p: float, mu: float) -> float:
    """``c`` with ``P(|N(mu, 1)| <= c) = p`` (R ``.qfoldednormal``, which simulates it)."""
    mu = abs(mu)
    return float(optimize.brentq(lambda c: stats.norm.cdf(c - mu) - stats.norm.cdf(-c - mu) - p, 0.0,
                                 mu + 10.0, xtol=1e-12))


def _bias_map(n_pre: int, n_post: int) -> np.ndarray:
    """``B`` with ``delta = B @ (slope, second differences)``; delta_0 = 0 is the reference period."""
    n = n_pre + n_post
    p = np.zeros((n, n))
    p[0, n_pre] = 1.0  # delta_1, the slope through the reference period
    for r in range(n - 1):
        row = np.zeros(n + 1)
        row[r:r + 3] = (1.0, -2.0, 1.0)
        p[r + 1] = np.delete(row, n_pre)
    return np.linalg.inv(p)


def optimal_flci(sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray, m: float, alpha: float) -> dict:
    """The shortest fixed-length CI for ``l' tau_post`` under Delta^SD(M): the affine estimator ``v' betahat``
    with ``v = (w, l)`` minimising ``sd(v) * cv_alpha(M * maxbias(v) / sd(v))`` (Armstrong & Kolesar's FLCI, as
    Rambachan & Roth use it). Returns ``v`` (``weights``) and ``half_length``."""
    scale = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    sig = sigma / scale**2
    m_n = m / scale
    b = _bias_map(n_pre, n_post)
    a_w, c_l = b[:n_pre, 0], b[n_pre:, 0] @ l_vec          # slope coefficient must vanish: a_w'w + c_l = 0
    g_w, g_l = b[:n_pre, 1:].T, b[n_pre:, 1:].T @ l_vec    # second-difference loadings of the bias
    s_pp, s_pq, s_qq = sig[:n_pre, :n_pre], sig[:n_pre, n_pre:], sig[n_pre:, n_pre:]
    s_inv = np.linalg.inv(s_pp)
    base = -s_inv @ s_pq @ l_vec
    mu = (-c_l - a_w @ base) / (a_w @ s_inv @ a_w)
    w0 = base + mu * s_inv @ a_w                            # the minimum-variance unbiased-under-linearity weights
    null = linalg.null_space(a_w[None, :])
    z_crit = stats.norm.ppf(1 - alpha / 2)

    def sd_of(w):
        return float(np.sqrt(w @ s_pp @ w + 2 * w @ s_pq @ l_vec + l_vec @ s_qq @ l_vec))

    def half(params):
        z, u = params[:null.shape[1]], params[null.shape[1]:]
        w = w0 + null @ z
        h = sd_of(w)
        return h * folded_normal_quantile(1 - alpha, m_n * u.sum() / h)

    if m_n <= 0 or null.shape[1] == 0:
        w_opt = w0
        h_len = sd_of(w0) * (z_crit if m_n <= 0 else folded_normal_quantile(1 - alpha, m_n * np.abs(
            g_w @ w0 + g_l).sum() / sd_of(w0)))
    else:
        nz = null.shape[1]

        def gap(params):  # u >= |loading|, as two linear constraint blocks
            loads = g_w @ (w0 + null @ params[:nz]) + g_l
            return np.r_[params[nz:] - loads, params[nz:] + loads]

        best = None
        for z_start in (np.zeros(nz), null.T @ (_min_bias_weights(g_w, g_l, a_w, c_l) - w0)):
            start = np.r_[z_start, np.abs(g_w @ (w0 + null @ z_start) + g_l) + 1e-9]
            res = optimize.minimize(half, start, method="SLSQP", constraints=[{"type": "ineq", "fun": gap}],
                                    options={"ftol": 1e-13, "maxiter": 500})
            if best is None or res.fun < best.fun:
                best = res
        w_opt, h_len = w0 + null @ best.x[:nz], float(best.fun)
    return {"weights": np.r_[w_opt, l_vec], "half_length": h_len * scale}


def _min_bias_weights(g_w, g_l, a_w, c_l) -> np.ndarray:
    """Weights minimising the worst-case bias alone (an LP), a second start for the FLCI search."""
    k, j = g_w.shape[1], g_w.shape[0]
    # variables (w, u): min sum u s.t. -u <= G w + g <= u, a'w = -c
    c = np.r_[np.zeros(k), np.ones(j)]
    a_ub = np.block([[g_w, -np.eye(j)], [-g_w, -np.eye(j)]])
    res = optimize.linprog(c, A_ub=a_ub, b_ub=np.r_[-g_l, g_l], A_eq=np.r_[a_w, np.zeros(j)][None, :],
                           b_eq=[-c_l], bounds=[(None, None)] * k + [(0, None)] * j, method="highs")
    return res.x[:k] if res.status == 0 else np.zeros(k)
