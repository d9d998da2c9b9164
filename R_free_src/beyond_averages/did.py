"""Difference-in-differences by deprivation: two-way fixed effects (TWFE), triple difference, event study, and
(re-exported from :mod:`beyond_averages.did_staggered`) the heterogeneity-robust group-time ATT estimator.

Which to read. TWFE (``linearmodels.PanelOLS``, unit and time effects) is the familiar regression but is biased when
effects differ across adoption waves or grow with exposure, because already-treated units act as controls
(Callaway & Sant'Anna 2021). :class:`GroupTimeATT` compares each wave only with never-treated or
not-yet-treated units and is the headline estimator; TWFE is reported beside it. :func:`monte_carlo` shows the
difference on simulated staggered panels.

Estimands and weighting. With ``weights=<denominator column>`` every practice x quintile x month cell counts in
proportion to its patients, so the estimate is the change in the *patient-level* indicator (percentage points),
the estimand of the ground truth (sum of numerator changes / sum of denominators). Unweighted, each cell counts
equally: the average practice's change.

By deprivation. With ``by="imd_quintile"`` the model is fully interacted: unit x quintile effects, quintile x
month effects and one treatment coefficient per quintile. Each coefficient equals the quintile's own DiD and the
joint fit gives their covariance, so the triple difference (programme x post x deprivation) is the contrast
``effect[Q1] - effect[Q5]`` with a cluster-robust SE (clusters = practices).

Clustered SEs: see :mod:`beyond_averages.did_inference` for the small-sample conventions (default: fixest's CR1)
and the few-treated-clusters rule. p-values and intervals use a t distribution with G - 1 degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from beyond_averages.did_inference import (
    BootWeights, SmallSample, demean, few_clusters_message, fixest_k, small_sample_factor, warn_few_clusters,
    wild_cluster_bootstrap,
)
from beyond_averages.measures import attach_programme
from beyond_averages.did_panel import (  # noqa: F401  (public API re-exported here)
    Comparison, InputError, OutcomeScale, Panel, build_did_panel, load_did_panel,
    practice_month_panel, validate_panel, within_practice_inequality,
)
from beyond_averages.did_staggered import GroupTimeATT  # noqa: F401
from beyond_averages.did_simulate import monte_carlo, simulate_measures_panel, simulate_staggered_panel  # noqa: F401

__all__ = [
    "TwoWayFixedEffects", "EventStudy", "GroupTimeATT", "build_did_panel", "load_did_panel", "validate_panel",
    "within_practice_inequality", "practice_month_panel", "attach_programme", "monte_carlo",
    "simulate_measures_panel", "simulate_staggered_panel", "InputError",
]


def _nested(codes: np.ndarray, clusters: np.ndarray) -> bool:
    """True if every level of ``codes`` lies inside one cluster."""
    pairs = pd.DataFrame({"c": codes, "g": clusters}).drop_duplicates()
    return bool(pairs["c"].is_unique)


class _PanelRegression:
    """Shared machinery: validated panel, weighted PanelOLS with absorbed effects, clustered covariance."""

    def __init__(self, data, *, outcome, unit, time, cohort, by, weights, cluster, small_sample, alpha, source):
        if small_sample not in ("fixest", "cr0", "linearmodels"):
            raise ValueError(f"small_sample must be 'fixest', 'cr0' or 'linearmodels'; got {small_sample!r}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
        extra = tuple(c for c in (weights, cluster) if c)
        self.panel = validate_panel(data, outcome=outcome, unit=unit, time=time, cohort=cohort, by=by,
                                    comparison="not_yet_treated", extra=extra, source=source)
        self.outcome, self.unit, self.time, self.cohort, self.by = outcome, unit, time, cohort, by
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
        from linearmodels import PanelOLS

        f = self.frame
        clusters = pd.factorize(f[self.cluster])[0]
        unit_codes = f["_unit"].to_numpy()
        if self.by:
            time_codes = pd.factorize(f[self.by].astype(str) + "|" + f["_period"].astype(str))[0]
        else:
            time_codes = f["_period"].to_numpy()
        idx = pd.MultiIndex.from_arrays([unit_codes, f["_period"].to_numpy()], names=["unit", "period"])
        y = pd.Series(f[self.outcome].to_numpy(float), index=idx, name=self.outcome)
        xx = pd.DataFrame(x.to_numpy(float), index=idx, columns=x.columns)
        w = pd.Series(f[self.weights].to_numpy(float), index=idx) if self.weights else None
        kwargs = dict(entity_effects=True, weights=w)
        if self.by:
            kwargs["other_effects"] = pd.DataFrame({"by_time": time_codes}, index=idx)
        else:
            kwargs["time_effects"] = True
        mod = PanelOLS(y, xx, drop_absorbed=False, check_rank=False, **kwargs)
        clus = pd.DataFrame({"cluster": clusters}, index=idx)
        if self.small_sample == "linearmodels":
            res = mod.fit(cov_type="clustered", clusters=clus)
            factor = 1.0
        else:
            res = mod.fit(cov_type="clustered", clusters=clus, debiased=False, auto_df=False, count_effects=False)
            n_time = int(time_codes.max()) + 1
            k = fixest_k(x.shape[1], [int(unit_codes.max()) + 1, n_time],
                         [_nested(unit_codes, clusters), _nested(time_codes, clusters)])
            factor = small_sample_factor(self.small_sample, len(f), int(clusters.max()) + 1, k)
            self.k_params = k
        self.result_ = res
        self.params_ = res.params.copy()
        self.vcov_ = res.cov * factor
        self.n_obs = int(res.nobs)
        self.n_clusters = int(clusters.max()) + 1
        treated_units = f.loc[np.isfinite(f["_cohort"]), self.cluster].nunique()
        self.n_treated_clusters = int(treated_units)
        self.df_ = self.n_clusters - 1
        self.few_clusters_message = warn_few_clusters(self.n_treated_clusters)
        self._x, self._y, self._clusters = xx, y, clusters
        self._codes = [unit_codes, time_codes]

    def _row(self, term: str, est: float, var: float) -> dict:
        se = float(np.sqrt(var))
        q = stats.t.ppf(1 - self.alpha / 2, self.df_)
        p = float(2 * stats.t.sf(abs(est / se), self.df_)) if se > 0 else np.nan
        return {"term": term, "estimate": float(est), "std_error": se, "ci_lower": est - q * se,
                "ci_upper": est + q * se, "p_value": p}

    def _tidy(self, rows: list[dict]) -> pd.DataFrame:
        out = pd.DataFrame(rows)
        out["n_obs"] = self.n_obs
        out["n_clusters"] = self.n_clusters
        out["n_treated_clusters"] = self.n_treated_clusters
        out["small_sample"] = self.small_sample
        return out

    def _demeaned(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.frame[self.weights].to_numpy(float) if self.weights else None
        both = demean(np.column_stack([self._y.to_numpy(), columns]), self._codes, w)
        return both[:, 0], both[:, 1:]


class TwoWayFixedEffects(_PanelRegression):
    """Static TWFE difference-in-differences, optionally one effect per level of ``by`` (e.g. IMD quintile).

    ``y_it = a_i + l_t + beta * D_it + e_it`` with ``D_it = 1`` from the unit's cohort period on (the adoption
    period is post). With ``by``: unit x by and by x time effects and one ``beta`` per level (term ``"<by>=<level>"``).
    Parameters: ``weights`` a column of non-negative analytic weights (denominators for the patient-level effect);
    ``cluster`` defaults to ``unit``; ``contrast=(a, b)`` reports ``beta[a] - beta[b]`` (triple difference);
    ``wild_bootstrap`` > 0 adds a restricted wild cluster bootstrap p-value with ``boot_weights`` (Webb default)
    for the overall effect or, with ``by``, the contrast.

    Attributes after construction: ``params_``, ``vcov_`` (with the small-sample factor), ``n_obs``,
    ``n_clusters``, ``n_treated_clusters``, ``few_clusters_message``, ``wild_bootstrap_`` (dict or None).
    """

    def __init__(
        self, data: pd.DataFrame, *, outcome: str = "outcome", unit: str = "practice_id", time: str = "month",
        cohort: str = "programme_start", by: str | None = None, weights: str | None = None,
        cluster: str | None = None, contrast: Sequence | None = None, small_sample: SmallSample = "fixest",
        alpha: float = 0.05, wild_bootstrap: int = 0, boot_weights: BootWeights = "webb", seed: int = 20240601,
        source: str = "panel",
    ):
        super().__init__(data, outcome=outcome, unit=unit, time=time, cohort=cohort, by=by, weights=weights,
                         cluster=cluster, small_sample=small_sample, alpha=alpha, source=source)
        f = self.frame
        d = f["_treated"].to_numpy(float)
        if by:
            self.levels = sorted(f[by].unique().tolist())
            x = pd.DataFrame({f"{by}={lv}": d * (f[by].to_numpy() == lv) for lv in self.levels})
        else:
            self.levels = []
            x = pd.DataFrame({"treated": d})
        if contrast is not None:
            if not by:
                raise ValueError("contrast needs `by` (the effects to contrast are per level of `by`)")
            contrast = tuple(contrast)
            missing = [c for c in contrast if c not in self.levels]
            if len(contrast) != 2 or missing:
                raise ValueError(f"contrast must be two levels of {by!r} among {self.levels}; got {contrast}")
        self.contrast = contrast
        self._fit(x)
        self.wild_bootstrap_ = None
        if wild_bootstrap:
            cols = x.to_numpy(float)
            coef = 0
            if contrast is not None:
                ia, ib = (self.levels.index(c) for c in contrast)
                cols = cols.copy()
                cols[:, ib] = cols[:, ia] + cols[:, ib]  # beta_a D_a + beta_b D_b = (beta_a - beta_b) D_a + ...
                coef = ia
            yd, xd = self._demeaned(cols)
            w = f[weights].to_numpy(float) if weights else None
            self.wild_bootstrap_ = wild_cluster_bootstrap(yd, xd, self._clusters, coef, weights=w,
                                                          n_boot=wild_bootstrap, kind=boot_weights, seed=seed)

    def contrast_estimate(self) -> dict | None:
        if self.contrast is None:
            return None
        a, b = (f"{self.by}={c}" for c in self.contrast)
        est = self.params_[a] - self.params_[b]
        var = self.vcov_.loc[a, a] + self.vcov_.loc[b, b] - 2 * self.vcov_.loc[a, b]
        return self._row(f"{a} - {b}", est, var)

    def summary(self) -> pd.DataFrame:
        """One row per effect (and the contrast), tidy columns."""
        rows = [self._row(t, self.params_[t], self.vcov_.loc[t, t]) for t in self.params_.index]
        if self.by:
            for r, lv in zip(rows, self.levels):
                r["level"] = lv
        c = self.contrast_estimate()
        if c is not None:
            rows.append(c)
        out = self._tidy(rows)
        out["wild_p_value"] = np.nan
        if self.wild_bootstrap_:
            out.loc[len(out) - 1 if self.contrast else 0, "wild_p_value"] = self.wild_bootstrap_["p_value"]
        return out

    def effect_summary(self, unit_label: str = "percentage points") -> tuple[pd.DataFrame, str]:
        table = self.summary()
        r = table.iloc[-1] if self.contrast else table.iloc[0]
        what = f"the difference in effect between {self.by} {self.contrast[0]} and {self.contrast[1]}" \
            if self.contrast else "the programme's effect"
        text = (f"Two-way fixed effects estimate {what} at {r['estimate']:.2f} {unit_label} "
                f"(95% CI {r['ci_lower']:.2f} to {r['ci_upper']:.2f}; {self.n_clusters} clusters, "
                f"{self.n_treated_clusters} treated).")
        if self.few_clusters_message:
            text += f" Caution: {self.few_clusters_message}."
        return table, text

    def plot_data(self) -> pd.DataFrame:
        return self.summary()

    def plot(self, *, ax=None, ylabel: str = "Effect (percentage points)"):
        from beyond_averages.style import OVERALL_COLOUR, figure_and_axes, figure_style

        data = self.plot_data()
        with figure_style():
            fig, ax = figure_and_axes(ax)
            xs = np.arange(len(data))
            ax.errorbar(xs, data["estimate"], yerr=[data["estimate"] - data["ci_lower"],
                        data["ci_upper"] - data["estimate"]], fmt="o", color=OVERALL_COLOUR, capsize=3)
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_xticks(xs, data["term"], rotation=30, ha="right")
            ax.set_ylabel(ylabel)
        return fig, ax


class EventStudy(_PanelRegression):
    """TWFE event study: leads and lags of adoption with unit and time effects.

    Event time ``e = period - cohort`` (e = 0 is the adoption period). Dummies for ``window[0] <= e <= window[1]``
    except ``reference`` (default -1, the period before adoption, normalised to 0). With ``bin_endpoints`` (default)
    event times beyond the window are pooled into the end dummies; otherwise those rows are dropped. Never-treated
    units have every dummy 0. ``pretrend_test()`` is the joint Wald test that all leads (e <= -2) are 0, with the
    clustered covariance: chi-squared(q) and F(q, G - 1) p-values.
    """

    def __init__(
        self, data: pd.DataFrame, *, outcome: str = "outcome", unit: str = "practice_id", time: str = "month",
        cohort: str = "programme_start", window: tuple[int, int] = (-12, 24), reference: int = -1,
        bin_endpoints: bool = True, weights: str | None = None, cluster: str | None = None,
        small_sample: SmallSample = "fixest", alpha: float = 0.05, source: str = "panel",
    ):
        lo, hi = int(window[0]), int(window[1])
        if not lo < reference < hi or lo >= -1 or hi < 0:
            raise ValueError(f"window must satisfy lo < reference < hi with lo <= -2 and hi >= 0; got {window}, "
                             f"reference {reference}")
        super().__init__(data, outcome=outcome, unit=unit, time=time, cohort=cohort, by=None, weights=weights,
                         cluster=cluster, small_sample=small_sample, alpha=alpha, source=source)
        f = self.frame
        e = (f["_period"] - f["_cohort"]).to_numpy(float)  # -inf for never treated
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

    def summary(self) -> pd.DataFrame:
        rows = []
        for k in self.event_times:
            r = self._row(f"e{k}", self.params_[f"e{k}"], self.vcov_.loc[f"e{k}", f"e{k}"])
            r["event_time"] = k
            rows.append(r)
        ref = {"term": f"e{self.reference}", "estimate": 0.0, "std_error": 0.0, "ci_lower": 0.0, "ci_upper": 0.0,
               "p_value": np.nan, "event_time": self.reference}
        out = self._tidy(rows + [ref]).sort_values("event_time").reset_index(drop=True)
        return out

    def pretrend_test(self) -> dict:
        """Joint Wald test of the lead coefficients (event times <= -2)."""
        leads = [f"e{k}" for k in self.event_times if k < self.reference]
        b = self.params_[leads].to_numpy()
        v = self.vcov_.loc[leads, leads].to_numpy()
        w = float(b @ np.linalg.pinv(v) @ b)
        q = len(leads)
        return {"wald": w, "df": q, "p_value_chi2": float(stats.chi2.sf(w, q)),
                "f_stat": w / q, "p_value_f": float(stats.f.sf(w / q, q, self.df_))}

    def effect_summary(self, unit_label: str = "percentage points") -> tuple[pd.DataFrame, str]:
        table = self.summary()
        pt = self.pretrend_test()
        post = table[table["event_time"] >= 0]
        text = (f"Across event times 0 to {int(post['event_time'].max())}, estimates range from "
                f"{post['estimate'].min():.2f} to {post['estimate'].max():.2f} {unit_label}; the joint test that the "
                f"{pt['df']} pre-adoption coefficients are all zero gives p = {pt['p_value_f']:.3f}.")
        return table, text

    def plot_data(self) -> pd.DataFrame:
        return self.summary()[["event_time", "estimate", "ci_lower", "ci_upper"]]

    def plot(self, *, ax=None, label: str | None = None, color: str | None = None, offset: float = 0.0,
             ylabel: str = "Effect (percentage points)"):
        from beyond_averages.style import OVERALL_COLOUR, figure_and_axes, figure_style

        data = self.plot_data()
        with figure_style():
            fig, ax = figure_and_axes(ax)
            ax.errorbar(data["event_time"] + offset, data["estimate"],
                        yerr=[data["estimate"] - data["ci_lower"], data["ci_upper"] - data["estimate"]],
                        fmt="o", ms=3, lw=0.8, capsize=0, color=color or OVERALL_COLOUR, label=label)
            ax.axhline(0, color="grey", lw=0.8)
            ax.axvline(self.reference + 0.5, color="grey", lw=0.8, ls=":")
            ax.set_xlabel("Months since adoption")
            ax.set_ylabel(ylabel)
        return fig, ax


__all__ += ["few_clusters_message"]
