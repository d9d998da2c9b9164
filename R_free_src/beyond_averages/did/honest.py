"""HonestDiD: how far may parallel trends fail before the conclusion changes? (Rambachan & Roth 2023).

Input: an event study's coefficients ``betahat`` (pre-periods first, then post-periods, the reference period just
before the first post-period omitted) and their covariance ``sigma``; the target ``theta = l' tau_post`` (default:
the first post-period effect). Output: confidence sets for ``theta`` that stay valid when the post-period violation
of parallel trends ``delta_post`` is restricted, not assumed zero:

* relative magnitudes, ``Delta^RM(Mbar)`` (``bound="parallel_trends"``): each post-period change in the violation is
  at most ``Mbar`` times the largest pre-period change; ``Delta^SDRM(Mbar)`` (``bound="linear_trend"``): the same
  for second differences (deviations from a linear trend). Conditional test of Andrews, Roth & Pakes
  (``method="Conditional"``) or its least-favourable hybrid (``"C-LF"``, R's default), by test inversion on a grid;
* smoothness, ``Delta^SD(M)``: the slope of the violation changes by at most ``M`` per period; optimal fixed-length
  CI (``"FLCI"``, R's default) or conditional test; with ``bias_direction="negative"`` (``Delta^SDNB``) or
  ``"positive"`` the post-period violation also has that sign (conditional or C-LF; R's default for these, the
  FLCI hybrid "C-F", is not implemented).

Everything follows the R package HonestDiD 0.2.8 (see :mod:`beyond_averages.did.honest_arp` for the numerical
core and what differs); defaults are R's: ``alpha`` 0.05, 1,000 grid points over ``+-20 sd(theta)`` around 0 (RM,
SDRM) or around the identified set under parallel trends (SD conditional). A set touching the grid's edge is open
there and is flagged (``open_end``), as R warns. :func:`honest_sensitivity` takes the arrays; :func:`honest_from`
takes a fitted :class:`~beyond_averages.did.event_study.EventStudy` or a
:class:`~beyond_averages.did.staggered.GroupTimeATT` (its dynamic aggregation, universal base period).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from beyond_averages import results
from beyond_averages.did.honest_arp import arp_accept, optimal_flci

BOUNDS = {"parallel_trends": "DeltaRM", "linear_trend": "DeltaSDRM"}


# ------------------------------------------------------------------------------------------- the restriction sets
def _drop_zero(a: np.ndarray, n_pre: int) -> np.ndarray:
    return np.delete(a, n_pre, axis=1)


def _a_relative(n_pre, n_post, mbar, s, positive, order):
    """``A`` of ``Delta^RM_{s,+/-}(Mbar)`` (order 1) or ``Delta^SDRM_{s,+/-}(Mbar)`` (order 2), as R's
    ``.create_A_RM`` / ``.create_A_SDRM``: ``|D delta_t| <= (1 or Mbar) * (+/-) D delta_s``; columns are
    periods -n_pre..n_post with 0 dropped; the trivially zero row is removed."""
    n, stencil = n_pre + n_post, ((-1.0, 1.0) if order == 1 else (1.0, -2.0, 1.0))
    rows = n - order + 1
    tilde = np.zeros((rows, n + 1))
    for r in range(rows):
        tilde[r, r:r + order + 1] = stencil
    v = np.zeros(n + 1)
    start = n_pre + s - 1 if order == 1 else n_pre + s - 2   # R's 1-based (n_pre + s) and (n_pre + 1 + s - 2)
    v[start:start + order + 1] = stencil
    v = v if positive else -v
    n_pre_rows = n_pre if order == 1 else n_pre - 1
    ub = np.vstack([np.tile(v, (n_pre_rows, 1)), np.tile(mbar * v, (n_post, 1))])
    a = np.vstack([tilde - ub, -tilde - ub])
    a = a[(a**2).sum(1) > 1e-10]
    return _drop_zero(a, n_pre)


def _a_sd(n_pre, n_post):
    n = n_pre + n_post
    tilde = np.zeros((n - 1, n + 1))
    for r in range(n - 1):
        tilde[r, r:r + 3] = (1.0, -2.0, 1.0)
    tilde = _drop_zero(tilde, n_pre)
    return np.vstack([tilde, -tilde])


def _post_rows(a: np.ndarray, n_pre: int) -> np.ndarray:
    """Rows with a post-period coefficient (R's ``postPeriodMomentsOnly``)."""
    return np.flatnonzero((a[:, n_pre:] != 0).any(axis=1))


def _id_set_at_zero(a, d, n_pre, n_post, l_vec):
    """Identified set of ``l' delta_post`` when ``delta_pre = 0`` (R ``.compute_IDset_*`` with trueBeta = 0)."""
    c = np.r_[np.zeros(n_pre), l_vec]
    eq = np.hstack([np.eye(n_pre), np.zeros((n_pre, n_post))])
    ends = []
    for sign in (1, -1):
        res = optimize.linprog(sign * c, A_ub=a, b_ub=d, A_eq=eq, b_eq=np.zeros(n_pre),
                               bounds=[(None, None)] * (n_pre + n_post), method="highs")
        ends.append(sign * res.fun if res.status == 0 else 0.0)
    lowest, highest = ends
    return -highest, -lowest


# ------------------------------------------------------------------------------------------- confidence sets
def _grid_result(grid, accept):
    if not accept.any():
        return np.nan, np.nan, False
    inside = grid[accept]
    return float(inside.min()), float(inside.max()), bool(accept[0] or accept[-1])


def _method_kappa(method, alpha):
    if method not in ("Conditional", "C-LF"):
        raise ValueError(f"method must be 'Conditional' or 'C-LF' here; got {method!r}")
    return alpha / 10 if method == "C-LF" else None


def relative_magnitudes_ci(betahat, sigma, n_pre, n_post, mbar, *, l_vec, bound="parallel_trends",
                           method="C-LF", alpha=0.05, grid_points=1000, grid_lb=None, grid_ub=None, seed=0):
    """``(lower, upper, open_end)`` for ``Delta^RM(Mbar)`` or ``Delta^SDRM(Mbar)``: the union over the location
    ``s`` and sign of the largest pre-period (second) difference of the conditional sets (R
    ``computeConditionalCS_DeltaRM`` / ``_DeltaSDRM``)."""
    order = {"parallel_trends": 1, "linear_trend": 2}[bound]
    if order == 2 and n_pre < 2:
        raise ValueError("Delta^SDRM needs at least two pre-periods")
    kappa = _method_kappa(method, alpha)
    sd_theta = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    grid = np.linspace(-20 * sd_theta if grid_lb is None else grid_lb,
                       20 * sd_theta if grid_ub is None else grid_ub, grid_points)
    accept = np.zeros(grid_points, dtype=bool)
    for s in range(-(n_pre - order), 1):
        for positive in (True, False):
            a = _a_relative(n_pre, n_post, mbar, s, positive, order)
            rows = _post_rows(a, n_pre) if n_post > 1 else np.arange(len(a))
            accept |= arp_accept(betahat, sigma, n_pre, n_post, a, np.zeros(len(a)), l_vec, alpha, grid, rows,
                                 lf_kappa=kappa, seed=seed, skip=accept)
    return _grid_result(grid, accept)


def smoothness_ci(betahat, sigma, n_pre, n_post, m, *, l_vec, method="FLCI", bias_direction=None, alpha=0.05,
                  grid_points=1000, grid_lb=None, grid_ub=None, seed=0):
    """``(lower, upper, open_end)`` for ``Delta^SD(M)``, optionally with a sign on the post-period bias
    (``Delta^SDPB`` / ``Delta^SDNB``)."""
    if method == "FLCI":
        if bias_direction is not None:
            raise ValueError("the FLCI is for Delta^SD only; with bias_direction use 'Conditional' or 'C-LF'")
        flci = optimal_flci(sigma, n_pre, n_post, l_vec, m, alpha)
        centre = float(flci["weights"] @ betahat)
        return centre - flci["half_length"], centre + flci["half_length"], False
    kappa = _method_kappa(method, alpha)
    a = _a_sd(n_pre, n_post)
    d = np.full(len(a), float(m))
    if bias_direction is not None:
        if bias_direction not in ("positive", "negative"):
            raise ValueError(f"bias_direction must be 'positive', 'negative' or None; got {bias_direction!r}")
        sign = -1.0 if bias_direction == "positive" else 1.0
        a = np.vstack([a, sign * np.eye(n_pre + n_post)[n_pre:]])
        d = np.r_[d, np.zeros(n_post)]
    lo, hi = _id_set_at_zero(a, d, n_pre, n_post, l_vec)
    if bias_direction == "negative":
        lo, hi = -hi, -lo   # as R's computeConditionalCS_DeltaSDB does before building the grid
    sd_theta = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    grid = np.linspace(lo - 20 * sd_theta if grid_lb is None else grid_lb,
                       hi + 20 * sd_theta if grid_ub is None else grid_ub, grid_points)
    rows = _post_rows(a, n_pre) if n_post > 1 else np.arange(len(a))
    accept = arp_accept(betahat, sigma, n_pre, n_post, a, d, l_vec, alpha, grid, rows, lf_kappa=kappa, seed=seed)
    return _grid_result(grid, accept)


# ------------------------------------------------------------------------------------------- the estimator
class HonestDiD(results.Estimator):
    """Sensitivity of ``theta = l' tau_post`` to violations of parallel trends (see the module docstring).

    Give ``mbar`` (relative magnitudes, with ``bound``) and/or ``m`` (smoothness, with ``bias_direction``): one
    robust set per value. ``tidy()``: the original (parallel-trends) interval first, then one row per value, keyed by
    ``delta`` (``"none"``, ``"DeltaRM"``, ``"DeltaSDRM"``, ``"DeltaSD"``, ``"DeltaSDNB"``, ``"DeltaSDPB"``),
    ``method``, ``parameter`` (``"M"`` or ``"Mbar"``) and ``value``. ``estimate`` is ``l' betahat_post`` on the
    original row and the midpoint of the robust set on the others (for the FLCI that is the bias-aware estimate
    ``v' betahat`` it is centred on; a conditional set has no point estimate of its own, and ``l' betahat`` may lie
    outside it, e.g. when the pre-trend is extrapolated); ``std_error`` and ``p_value`` only on the original row (a
    robust set is not estimate +- z se); ``open_end`` says the set reached the end of the grid. :meth:`breakdown`
    is the largest value whose set excludes 0.
    """

    def __init__(self, betahat, sigma, num_pre_periods: int, num_post_periods: int, *, l_vec=None,
                 mbar: Sequence[float] | None = None, m: Sequence[float] | None = None,
                 bound: str = "parallel_trends", bias_direction: str | None = None, rm_method: str = "C-LF",
                 sd_method: str | None = None, alpha: float = 0.05, grid_points: int = 1000,
                 grid_lb: float | None = None, grid_ub: float | None = None, seed: int = 0,
                 event_times: Sequence[int] | None = None):
        b = np.asarray(betahat, dtype=float).ravel()
        s = np.asarray(sigma, dtype=float)
        n_pre, n_post = int(num_pre_periods), int(num_post_periods)
        if n_pre < 1 or n_post < 1 or b.size != n_pre + n_post or s.shape != (b.size, b.size):
            raise ValueError(f"betahat has {b.size} values and sigma shape {s.shape}; expected "
                             f"{n_pre} + {n_post} = {n_pre + n_post} and a square matrix of that size")
        if not np.allclose(s, s.T) or np.linalg.eigvalsh(s).min() < -1e-12 * np.abs(s).max():
            raise ValueError("sigma must be a symmetric positive semi-definite covariance matrix")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
        if bound not in BOUNDS:
            raise ValueError(f"bound must be one of {sorted(BOUNDS)}; got {bound!r}")
        values = [float(v) for v in (*(mbar or ()), *(m or ()))]
        if any(v < 0 for v in values):
            raise ValueError(f"M and Mbar must be >= 0; got {values}")
        lv = np.zeros(n_post) if l_vec is None else np.asarray(l_vec, dtype=float).ravel()
        if l_vec is None:
            lv[0] = 1.0
        if lv.size != n_post:
            raise ValueError(f"l_vec has {lv.size} values; expected one per post-period ({n_post})")
        self.betahat, self.sigma, self.l_vec, self.alpha = b, s, lv, alpha
        self.num_pre_periods, self.num_post_periods = n_pre, n_post
        self.event_times = list(event_times) if event_times is not None else None
        grid = {"alpha": alpha, "grid_points": grid_points, "grid_lb": grid_lb, "grid_ub": grid_ub, "seed": seed}
        est = float(lv @ b[n_pre:])
        se = float(np.sqrt(lv @ s[n_pre:, n_pre:] @ lv))
        rows = [{"delta": "none", "method": "Original", "parameter": None, "value": np.nan,
                 **results.normal_row(est, se, alpha), "open_end": False}]
        for value in mbar or ():
            lo, hi, open_end = relative_magnitudes_ci(b, s, n_pre, n_post, float(value), l_vec=lv, bound=bound,
                                                      method=rm_method, **grid)
            rows.append({"delta": BOUNDS[bound], "method": rm_method, "parameter": "Mbar", "value": float(value),
                         "estimate": (lo + hi) / 2, "ci_lower": lo, "ci_upper": hi, "open_end": open_end})
        sd_method = sd_method or ("FLCI" if bias_direction is None else "C-LF")
        delta = {None: "DeltaSD", "negative": "DeltaSDNB", "positive": "DeltaSDPB"}[bias_direction]
        for value in m or ():
            lo, hi, open_end = smoothness_ci(b, s, n_pre, n_post, float(value), l_vec=lv, method=sd_method,
                                             bias_direction=bias_direction, **grid)
            rows.append({"delta": delta, "method": sd_method, "parameter": "M", "value": float(value),
                         "estimate": (lo + hi) / 2, "ci_lower": lo, "ci_upper": hi, "open_end": open_end})
        self._frame = results.tidy_frame(rows, keys=("delta", "method", "parameter", "value"))

    def tidy(self) -> pd.DataFrame:
        return self._frame.copy()

    def original(self) -> pd.DataFrame:
        """The parallel-trends interval (R ``constructOriginalCS``) as a one-row tidy frame."""
        return self._frame.iloc[[0]].reset_index(drop=True)

    def effect_summary(self) -> pd.DataFrame:
        """Every row of :meth:`tidy` (the sensitivity analysis is the headline)."""
        return self.tidy()

    def breakdown(self, delta: str | None = None) -> float:
        """The largest M or Mbar in the analysis whose robust set excludes 0 (NaN if none does): how large a
        violation the conclusion survives, on the grid of values given."""
        frame = self._frame[self._frame["delta"] != "none"]
        if delta is not None:
            frame = frame[frame["delta"] == delta]
        excludes = (frame["ci_lower"] > 0) | (frame["ci_upper"] < 0)
        ordered = frame.assign(excludes=excludes.to_numpy()).sort_values("value")
        kept = ordered["excludes"].cummin()
        return float(ordered.loc[kept, "value"].max()) if kept.any() else np.nan

    def plot_data(self) -> pd.DataFrame:
        return self.tidy()


def honest_sensitivity(betahat, sigma, num_pre_periods: int, num_post_periods: int, **options) -> HonestDiD:
    """:class:`HonestDiD` from arrays (the arguments of R's ``createSensitivityResults*``)."""
    return HonestDiD(betahat, sigma, num_pre_periods, num_post_periods, **options)


def _event_study_inputs(result, level):
    """``(betahat, sigma, n_pre, n_post, event_times)`` of a fitted EventStudy or GroupTimeATT."""
    if hasattr(result, "pretrend_test") and hasattr(result, "event_times") and hasattr(result, "vcov_"):
        times = sorted(result.event_times)
        names = [f"e{k}" for k in times]
        b = result.params_[names].to_numpy(float)
        v = result.vcov_.loc[names, names].to_numpy(float)
        reference = result.reference
    elif hasattr(result, "_fits") and hasattr(result, "base_period"):
        if result.base_period != "universal":
            raise ValueError("HonestDiD needs a universal base period (GroupTimeATT(base_period='universal')): with "
                             "the varying base the pre-period estimates are not deviations from one reference")
        from beyond_averages.did.aggregation import EventWindow

        fit = result._fits[level if result.by else None]
        frame, psi = fit.aggregate("dynamic", EventWindow())
        keep = np.flatnonzero(~frame["overall"].to_numpy())
        times = [int(k) for k in frame["key"].to_numpy()[keep]]
        b = frame["estimate"].to_numpy(float)[keep]
        v = psi[:, keep].T @ psi[:, keep]
        reference = -1
    else:
        raise TypeError(f"expected an EventStudy or a GroupTimeATT, got {type(result).__name__}")
    pre = [i for i, k in enumerate(times) if k < reference]
    post = [i for i, k in enumerate(times) if k > reference]
    order = pre + post
    expected = list(range(min(times), reference)) + list(range(reference + 1, max(times) + 1))
    if [times[i] for i in order] != expected:
        raise ValueError(f"event times {times} must be consecutive around the reference period {reference}")
    return b[order], v[np.ix_(order, order)], len(pre), len(post), [times[i] for i in order]


def honest_from(result, *, level=None, **options) -> HonestDiD:
    """:class:`HonestDiD` on a fitted :class:`~beyond_averages.did.event_study.EventStudy` (its coefficients and
    clustered covariance) or :class:`~beyond_averages.did.staggered.GroupTimeATT` (the event-time estimates of its
    dynamic aggregation and their influence-function covariance; with ``by``, for ``level``). Post-periods are the
    event times after the reference (-1), so the default target is the effect at event time 0."""
    b, v, n_pre, n_post, times = _event_study_inputs(result, level)
    return HonestDiD(b, v, n_pre, n_post, event_times=times, **options)


def original_cs(betahat, sigma, num_pre_periods: int, num_post_periods: int, l_vec=None, alpha: float = 0.05):
    """``(lower, upper)``: the usual interval for ``l' tau_post`` under exact parallel trends (R
    ``constructOriginalCS``)."""
    lv = np.zeros(num_post_periods) if l_vec is None else np.asarray(l_vec, dtype=float).ravel()
    if l_vec is None:
        lv[0] = 1.0
    b = np.asarray(betahat, dtype=float).ravel()[num_pre_periods:]
    s = np.asarray(sigma, dtype=float)[num_pre_periods:, num_pre_periods:]
    z = stats.norm.ppf(1 - alpha / 2)
    est, se = float(lv @ b), float(np.sqrt(lv @ s @ lv))
    return est - z * se, est + z * se
