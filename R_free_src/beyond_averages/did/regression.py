"""The regression machinery shared by :class:`~beyond_averages.did.twfe.TwoWayFixedEffects` and
:class:`~beyond_averages.did.event_study.EventStudy`: a validated panel, a weighted least-squares fit with absorbed
effects (by demeaning; ``linearmodels.PanelOLS`` for ``small_sample="linearmodels"``), and the clustered
covariance with the small-sample factor of :mod:`beyond_averages.did.inference`.

Effects absorbed: unit effects, and time effects (or, with ``by``, unit x ``by`` and ``by`` x time effects).
Inference: p-values and intervals use a t distribution with G - 1 degrees of freedom (G clusters, practices by
default); rows with a missing outcome or a zero weight are dropped and counted in ``n_dropped``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages import results
from beyond_averages.did.inference import demean, fixest_k, small_sample_factor, warn_few_clusters
from beyond_averages.did.panel import validate_panel
from beyond_averages.files import InputError


def _nested(codes: np.ndarray, clusters: np.ndarray) -> bool:
    """True if every level of ``codes`` lies inside one cluster."""
    pairs = pd.DataFrame({"c": codes, "g": clusters}).drop_duplicates()
    return bool(pairs["c"].is_unique)


class PanelRegression(results.Estimator):
    """Validated panel, weighted least squares with absorbed effects, clustered covariance (a base class: subclasses
    build the regressors and call :meth:`_fit`)."""

    def __init__(self, data, *, outcome, unit, time, first_treated, by, weights, cluster, small_sample, alpha,
                 source):
        if small_sample not in ("fixest", "cr0", "linearmodels"):
            raise ValueError(f"small_sample must be 'fixest', 'cr0' or 'linearmodels'; got {small_sample!r}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
        extra = tuple(c for c in (weights, cluster) if c)
        self.panel = validate_panel(data, outcome=outcome, unit=unit, time=time, first_treated=first_treated, by=by,
                                    comparison="not_yet_treated", extra=extra, source=source)
        self.outcome, self.unit, self.time, self.first_treated, self.by = outcome, unit, time, first_treated, by
        self.weights, self.cluster = weights, cluster or unit
        self.small_sample, self.alpha = small_sample, alpha
        f = self.panel.frame
        keep = np.isfinite(pd.to_numeric(f[outcome], errors="coerce").to_numpy(float))
        if weights:
            w = pd.to_numeric(f[weights], errors="coerce").to_numpy(float)
            bad = ~np.isfinite(w) | (w < 0)
            if bad[keep].any():
                raise InputError(f"{source}: column {weights!r}: weights must be finite and >= 0")
            keep &= w > 0
        self.n_dropped = int((~keep).sum())  # missing outcome (e.g. zero denominator) or zero weight
        self.frame = f.loc[keep].reset_index(drop=True)
        if self.frame.empty:
            raise InputError(f"{source}: no rows with a finite {outcome!r}")

    def _fit(self, x: pd.DataFrame) -> None:
        f = self.frame
        clusters = pd.factorize(f[self.cluster])[0]
        unit_codes = f["_unit"].to_numpy()
        if self.by:
            time_codes = pd.factorize(f[self.by].astype(str) + "|" + f["_period"].astype(str))[0]
        else:
            time_codes = f["_period"].to_numpy()
        idx = pd.MultiIndex.from_arrays([unit_codes, f["_period"].to_numpy()], names=["unit", "period"])
        self._x = pd.DataFrame(x.to_numpy(float), index=idx, columns=x.columns)
        self._y = pd.Series(f[self.outcome].to_numpy(float), index=idx, name=self.outcome)
        self._clusters, self._codes = clusters, [unit_codes, time_codes]
        self.n_obs = len(f)
        self.n_clusters = int(clusters.max()) + 1
        if self.small_sample == "linearmodels":
            params, cov = self._fit_linearmodels(idx, time_codes)
            factor = 1.0
        else:
            params, cov = self._fit_within()
            n_time = int(time_codes.max()) + 1
            k = fixest_k(x.shape[1], [int(unit_codes.max()) + 1, n_time],
                         [_nested(unit_codes, clusters), _nested(time_codes, clusters)])
            factor = small_sample_factor(self.small_sample, len(f), self.n_clusters, k)
            self.k_params = k
        self.params_ = pd.Series(params, index=x.columns, name="parameter")
        self.vcov_ = pd.DataFrame(cov * factor, index=x.columns, columns=x.columns)
        treated_units = f.loc[np.isfinite(f["_first"]), self.cluster].nunique()
        self.n_treated_clusters = int(treated_units)
        self.df_ = self.n_clusters - 1
        self.few_clusters_message = warn_few_clusters(self.n_treated_clusters)

    def _fit_within(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted least squares on the two-way demeaned data (Frisch-Waugh-Lovell: the absorbed effects' fit) and
        the cluster-robust sandwich without small-sample factor: ``PanelOLS.fit(cov_type="clustered",
        debiased=False)``'s numbers (to 1e-13 on the chapter's panel), an order of magnitude faster."""
        yd, xd = self._demeaned(self._x.to_numpy())
        w = self.frame[self.weights].to_numpy(float) if self.weights else np.ones(len(yd))
        root = np.sqrt(w)
        wx, wy = xd * root[:, None], yd * root
        bread = np.linalg.inv(wx.T @ wx)
        params = bread @ (wx.T @ wy)
        score = wx * (wy - wx @ params)[:, None]
        totals = np.column_stack([np.bincount(self._clusters, weights=score[:, j], minlength=self.n_clusters)
                                  for j in range(score.shape[1])])
        return params, bread @ (totals.T @ totals) @ bread

    def _fit_linearmodels(self, idx: pd.MultiIndex, time_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``linearmodels.PanelOLS`` with its own small-sample corrections (``small_sample="linearmodels"``)."""
        from linearmodels import PanelOLS

        f = self.frame
        w = pd.Series(f[self.weights].to_numpy(float), index=idx) if self.weights else None
        kwargs = dict(entity_effects=True, weights=w)
        if self.by:
            kwargs["other_effects"] = pd.DataFrame({"by_time": time_codes}, index=idx)
        else:
            kwargs["time_effects"] = True
        mod = PanelOLS(self._y, self._x, drop_absorbed=False, check_rank=False, **kwargs)
        res = mod.fit(cov_type="clustered", clusters=pd.DataFrame({"cluster": self._clusters}, index=idx))
        return res.params.to_numpy(), res.cov.to_numpy()

    def _row(self, term: str, est: float, var: float, **keys) -> dict:
        """One tidy row: t(G - 1) interval and p-value."""
        return {"term": term, **keys, **results.normal_row(est, np.sqrt(var), self.alpha, df=self.df_)}

    def _fit_info(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the fit's information columns (what :meth:`summary` adds to :meth:`tidy`)."""
        return frame.assign(n_obs=self.n_obs, n_clusters=self.n_clusters,
                            n_treated_clusters=self.n_treated_clusters, small_sample=self.small_sample)

    def _demeaned(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.frame[self.weights].to_numpy(float) if self.weights else None
        both = demean(np.column_stack([self._y.to_numpy(), columns]), self._codes, w)
        return both[:, 0], both[:, 1:]
