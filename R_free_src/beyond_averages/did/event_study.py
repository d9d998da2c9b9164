"""TWFE event study: leads and lags of adoption with unit and time effects, and the joint pre-trend test.

Event time ``e = period - first-treated period`` (e = 0 is the adoption period). Dummies for
``window[0] <= e <= window[1]`` except ``reference`` (default -1, the period before adoption, normalised to 0). With
``bin_endpoints`` (default) event times beyond the window are pooled into the end dummies; otherwise those rows are
dropped. Never-treated units have every dummy 0. Inference as :mod:`beyond_averages.did.regression` (clustered,
t(G - 1)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from beyond_averages import results
from beyond_averages.did.inference import SmallSample
from beyond_averages.did.regression import PanelRegression


class EventStudy(PanelRegression):
    """TWFE event study (see the module docstring). ``pretrend_test()`` is the joint Wald test that all leads
    (e <= -2) are 0, with the clustered covariance: chi-squared(q) and F(q, G - 1) p-values."""

    def __init__(
        self, data: pd.DataFrame, *, outcome: str = "outcome", unit: str = "practice_id", time: str = "month",
        first_treated: str = "programme_start", window: tuple[int, int] = (-12, 24), reference: int = -1,
        bin_endpoints: bool = True, weights: str | None = None, cluster: str | None = None,
        small_sample: SmallSample = "fixest", alpha: float = 0.05, source: str = "panel",
    ):
        lo, hi = int(window[0]), int(window[1])
        if not lo < reference < hi or lo >= -1 or hi < 0:
            raise ValueError(f"window must satisfy lo < reference < hi with lo <= -2 and hi >= 0; got {window}, "
                             f"reference {reference}")
        super().__init__(data, outcome=outcome, unit=unit, time=time, first_treated=first_treated, by=None,
                         weights=weights, cluster=cluster, small_sample=small_sample, alpha=alpha, source=source)
        f = self.frame
        e = (f["_period"] - f["_first"]).to_numpy(float)  # -inf for never treated
        treated = np.isfinite(e)
        if bin_endpoints:
            e = np.where(treated, np.clip(e, lo, hi), e)
        else:
            keep = ~treated | ((e >= lo) & (e <= hi))
            self.frame = f = f.loc[keep].reset_index(drop=True)
            e, treated = e[keep], treated[keep]
        self.event_times = [k for k in range(lo, hi + 1) if k != reference]
        x = pd.DataFrame({f"e{k}": (treated & (e == k)).astype(float) for k in self.event_times})
        present = x.sum(axis=0) > 0
        x = x.loc[:, present]
        self.event_times = [k for k in self.event_times if present[f"e{k}"]]
        self.window, self.reference, self.bin_endpoints = (lo, hi), reference, bin_endpoints
        self._fit(x)

    def tidy(self) -> pd.DataFrame:
        """One row per event time (``term`` ``"e<k>"``, ``event_time`` k), the reference row included with
        estimate 0 (standard error 0, p-value missing)."""
        rows = [self._row(f"e{k}", self.params_[f"e{k}"], self.vcov_.loc[f"e{k}", f"e{k}"], event_time=k)
                for k in self.event_times]
        rows.append({"term": f"e{self.reference}", "event_time": self.reference, "estimate": 0.0, "std_error": 0.0,
                     "ci_lower": 0.0, "ci_upper": 0.0, "p_value": np.nan})
        frame = results.tidy_frame(rows, keys=("term", "event_time"))
        return frame.sort_values("event_time").reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` with ``n_obs``, ``n_clusters``, ``n_treated_clusters`` and ``small_sample``."""
        return self._fit_info(self.tidy())

    def effect_summary(self) -> pd.DataFrame:
        """The post-adoption rows (event time >= 0)."""
        frame = self.tidy()
        return frame[frame["event_time"] >= 0].reset_index(drop=True)

    def pretrend_test(self) -> dict:
        """Joint Wald test of the lead coefficients (event times <= -2)."""
        leads = [f"e{k}" for k in self.event_times if k < self.reference]
        b = self.params_[leads].to_numpy()
        v = self.vcov_.loc[leads, leads].to_numpy()
        w = float(b @ np.linalg.pinv(v) @ b)
        q = len(leads)
        return {"wald": w, "df": q, "p_value_chi2": float(stats.chi2.sf(w, q)),
                "f_stat": w / q, "p_value_f": float(stats.f.sf(w / q, q, self.df_))}

    def plot_data(self) -> pd.DataFrame:
        """:meth:`tidy`: estimate and 95% interval per event time (the divide drawn at ``reference + 0.5``)."""
        return self.tidy()
