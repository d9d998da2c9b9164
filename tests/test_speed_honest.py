"""The faster HonestDiD core gives the same answers as the plain computations it replaced, to the bit: every dual
vertex from one stacked solve (not a loop over the bases), and the grid's conditional tests with each vertex's parts
computed once and one vectorised truncated-normal quantile (not one test per grid point)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from beyond_averages.did import honest_arp
from beyond_averages.did.honest import _a_relative, _post_rows
from beyond_averages.did.honest_arp import arp_accept, arp_reject, construct_gamma, dual_vertices, least_favourable_cv


def _vertices_by_loop(w_t, limit=20_000):
    """The vertex enumeration as first written: one basis at a time."""
    n, r = w_t.shape
    if r > n or math.comb(n, r) > limit:
        return None
    e1 = np.zeros(r)
    e1[0] = 1.0
    found = []
    for subset in itertools.combinations(range(n), r):
        sub = w_t[list(subset)].T
        if abs(np.linalg.det(sub)) < 1e-12:
            continue
        g = np.linalg.solve(sub, e1)
        if (g >= -1e-12).all():
            v = np.zeros(n)
            v[list(subset)] = np.clip(g, 0.0, None)
            found.append(v)
    return np.unique(np.round(np.array(found), 14), axis=0) if found else None


def _problem(seed, n_pre=4, n_post=3, mbar=1.0, s=0, positive=True):
    rng = np.random.default_rng(seed)
    n = n_pre + n_post
    root = rng.normal(size=(n, n)) * 0.1
    sigma = root @ root.T + 0.01 * np.eye(n)
    betahat = rng.multivariate_normal(np.r_[np.zeros(n_pre), np.full(n_post, 0.3)], sigma)
    a = _a_relative(n_pre, n_post, mbar, s, positive, 1)
    rows = _post_rows(a, n_pre)
    l_vec = np.full(n_post, 1.0 / n_post)
    return betahat, sigma, n_pre, n_post, a, l_vec, rows


def _pointwise(betahat, sigma, n_pre, n_post, a, l_vec, grid, rows, lf_kappa, use_vertices=True):
    """``arp_accept`` as first written: one full test per grid point."""
    a_post = a[:, n_pre:n_pre + n_post] @ np.linalg.inv(construct_gamma(l_vec))
    a1, x = a_post[:, 0][rows], a_post[:, 1:][rows]
    y = (a @ betahat)[rows]
    sig_y = (a @ sigma @ a.T)[np.ix_(rows, rows)]
    vertices = dual_vertices(np.column_stack([np.sqrt(np.diag(sig_y)), x])) if use_vertices else None
    lf_cv = least_favourable_cv(x, sig_y, lf_kappa, vertices=vertices) if lf_kappa is not None else None
    return np.array([not arp_reject(y - a1 * t, x, sig_y, 0.05, lf_cv, lf_kappa or 0.0, vertices) for t in grid])


@pytest.mark.parametrize("seed", range(6))
def test_stacked_vertex_enumeration_is_the_loop_to_the_bit(seed):
    rng = np.random.default_rng(seed)
    n, r = [(8, 3), (10, 4), (12, 5), (14, 7), (6, 6), (5, 2)][seed]
    w_t = np.column_stack([np.abs(rng.normal(size=n)) + 0.1, rng.choice([-1.0, 0.0, 1.0], size=(n, r - 1))])
    fast, slow = dual_vertices(w_t), _vertices_by_loop(w_t)
    assert (fast is None) == (slow is None)
    if fast is not None:
        assert fast.tobytes() == slow.tobytes()


def test_vertex_enumeration_without_a_vertex_or_over_the_limit():
    assert dual_vertices(np.zeros((4, 2))) is None
    assert dual_vertices(np.ones((30, 10))) is None     # C(30, 10) bases: over the limit


@pytest.mark.parametrize(("seed", "lf_kappa", "s", "positive"), [(0, 0.005, 0, True), (1, None, -1, False),
                                                                 (2, 0.005, -2, True), (3, None, 0, False)])
def test_grid_of_tests_is_one_test_per_point(seed, lf_kappa, s, positive):
    betahat, sigma, n_pre, n_post, a, l_vec, rows = _problem(seed, s=s, positive=positive)
    grid = np.linspace(-6.0, 6.0, 80)
    got = arp_accept(betahat, sigma, n_pre, n_post, a, np.zeros(len(a)), l_vec, 0.05, grid, rows, lf_kappa=lf_kappa)
    want = _pointwise(betahat, sigma, n_pre, n_post, a, l_vec, grid, rows, lf_kappa)
    assert got.any() and not got.all()
    np.testing.assert_array_equal(got, want)
    skip = np.zeros(len(grid), bool)
    skip[::3] = True
    kept = arp_accept(betahat, sigma, n_pre, n_post, a, np.zeros(len(a)), l_vec, 0.05, grid, rows,
                      lf_kappa=lf_kappa, skip=skip)
    np.testing.assert_array_equal(kept[~skip], want[~skip])
    assert not kept[skip].any()


def test_grid_of_tests_by_linear_programs_is_one_test_per_point(monkeypatch):
    betahat, sigma, n_pre, n_post, a, l_vec, rows = _problem(4)
    grid = np.linspace(-1.0, 1.5, 12)
    monkeypatch.setattr(honest_arp, "dual_vertices", lambda w_t, limit=20_000: None)
    got = arp_accept(betahat, sigma, n_pre, n_post, a, np.zeros(len(a)), l_vec, 0.05, grid, rows)
    want = _pointwise(betahat, sigma, n_pre, n_post, a, l_vec, grid, rows, None, use_vertices=False)
    np.testing.assert_array_equal(got, want)
