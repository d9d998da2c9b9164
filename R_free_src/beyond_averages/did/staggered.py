"""Group-time average treatment effects for staggered adoption (Callaway & Sant'Anna 2021), as R ``did``'s
``att_gt`` and ``aggte`` compute them for panel data.

For each group g (the units first treated in period g: an adoption wave) and period t, ATT(g,t) is a 2x2 DiD of
group g against a clean comparison group (:mod:`beyond_averages.did.cells`): never treated or not yet treated, a
varying or universal base period, ``anticipation`` periods, and optionally ``covariates`` (``xformla``) with the
outcome-regression, inverse-probability-weighted or doubly robust 2x2 estimator (``est_method``,
:mod:`beyond_averages.did.drdid`; "dr", R's default). Aggregations -- simple, dynamic (event study, with
``balance_e``, ``min_e``, ``max_e``), group and calendar -- are in :mod:`beyond_averages.did.aggregation`.

Inference is influence-function based: every estimate is asymptotically linear, its influence summed within
clusters (the unit by default). The default, as R ``did`` (``bstrap = TRUE, cband = TRUE``), is the multiplier
bootstrap (Mammen weights, clustered, ``n_boot`` draws, seeded): bootstrap standard errors, and for the ATT(g,t)
cells and the per-key rows of an aggregation a uniform (simultaneous) band, ``estimate +- crit_value * std_error``,
that covers all of them together with probability 1 - alpha; overall effects and contrasts get pointwise intervals
with the bootstrap SE. ``inference="analytic"`` gives the analytic (influence-function) SEs and pointwise normal
intervals. ``analytic_std_error`` is always reported; the pre-test is the analytic Wald test R prints.

Small samples (``small_sample``). ``"cohort"``: each cluster's influence is multiplied by
``sqrt(G_k / (G_k - 1))``, G_k the clusters of its adoption cohort
(:func:`~beyond_averages.did.inference.cohort_cluster_scale`). ``"cohort_share_debiased"`` (default): the
multiplier on the ATT(g,t) cells' part only, an aggregate's share term shrunk by the ATTs' noise it counts twice
instead (:func:`~beyond_averages.did.inference.share_term_factor`, jointly for a contrast's two levels): calibrated
where ``"cohort"`` is conservative by 1-2 points (docs/did.md). Both use a t reference with
Welch-Satterthwaite degrees of freedom from the cohorts' variances (:func:`~beyond_averages.did.inference.welch_df`,
column ``df``; the uniform band's critical value is moved to that reference at the same tail probability). Every
cluster-level influence function is corrected this way, so the pre-test's covariance and the inputs of HonestDiD
(``did.honest_from``) carry the correction too. ``"none"``: R ``did`` exactly (normal reference, no multiplier), as
the tests that reproduce R's published numbers use. Why these defaults, and the simulation behind them:
``docs/did.md``, "Defaults and why".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from beyond_averages import results
from beyond_averages.did.aggregation import AGGREGATIONS, Aggregation, Aggregator, EventWindow
from beyond_averages.did.cells import CellDesign, att_gt_cells
from beyond_averages.did.drdid import EST_METHODS, EstMethod
from beyond_averages.did.inference import (
    SMALL_SAMPLE, ClusterCorrection, cohort_cluster_scale, few_clusters_message, multiplier_bootstrap,
    share_term_factor, t_band_critical, warn_few_clusters, welch_df,
)
from beyond_averages.did.panel import Comparison, validate_panel
from beyond_averages.files import InputError

BasePeriod = Literal["varying", "universal"]
Inference = Literal["bootstrap", "analytic"]
KEY_OF = {"dynamic": "event_time", "group": "group", "calendar": "time"}


class _Level:
    """ATT(g,t) cells and their aggregations for one level of ``by`` (or the whole panel)."""

    def __init__(self, y, g, w, x, unit_cluster, n_clusters, design: CellDesign, cluster_scale: np.ndarray,
                 debias_share: bool = False):
        self.n, self.debias_share, self._cells_psi = y.shape[0], debias_share, None
        self.cells, self.inf, self.failed = att_gt_cells(y, g, w, design, x)
        if self.cells.empty:
            raise ValueError("no ATT(g,t) could be estimated")
        self.cells["post"] = self.cells["period_code"] >= self.cells["group_code"]
        self.cells["event_time"] = self.cells["period_code"] - self.cells["group_code"]
        self.cluster, self.n_clusters, self.cluster_scale = unit_cluster, n_clusters, cluster_scale
        self.agg = Aggregator(self.cells, self.inf, w, g, y.shape[1])

    def _cluster_totals(self, inf_cols: np.ndarray) -> np.ndarray:
        inf_cols = inf_cols.reshape(self.n, -1)
        return np.stack([np.bincount(self.cluster, weights=inf_cols[:, j], minlength=self.n_clusters)
                         for j in range(inf_cols.shape[1])], 1)

    def _sum(self, inf_cols: np.ndarray) -> np.ndarray:
        """Cluster-summed influence / n: clusters x estimates."""
        return self._cluster_totals(inf_cols) / self.n

    def psi(self, inf_cols: np.ndarray) -> np.ndarray:
        """Cluster-summed influence / n, times each cluster's small-sample multiplier: clusters x estimates,
        variance = column sums of squares (so every SE, band, contrast, pre-test and HonestDiD input agrees)."""
        return self._cluster_totals(inf_cols) * (self.cluster_scale / self.n)[:, None]

    def aggregate(self, kind: Aggregation, window: EventWindow, parts: bool = False):
        """``key`` (missing on the overall row), ``estimate`` and ``overall`` (the last row), with the clusters x
        rows influence matrix. With ``debias_share`` (``small_sample="cohort_share_debiased"``) the cohort
        multiplier scales each row's cell part and ``share_term_factor`` its share term; ``parts=True`` also
        returns, per row, ``(cells part, share term, omega, spread)`` (the arguments of ``share_term_factor``), for
        contrasts."""
        keys, ests, infs, (o_est, o_inf), shares = self.agg.run(kind, window)
        frame = pd.DataFrame({"key": pd.array(keys + [None], dtype="Int64"), "estimate": [*ests, o_est],
                              "overall": [False] * len(keys) + [True]})
        if not self.debias_share:
            psi = self.psi(np.column_stack([*infs, o_inf]))
            return (frame, psi, None) if parts else (frame, psi)
        if self._cells_psi is None:
            self._cells_psi = self.psi(self.inf)
        raw, split = self._sum(np.column_stack([*infs, o_inf])), []
        for j, share in enumerate(shares):
            if share is None:
                omega = spread = np.zeros((self.n_clusters, 0))
                between = np.zeros(self.n_clusters)
            else:
                omega, spread = self._sum(share.w), self._cells_psi @ share.a.T
                between = omega @ (share.a @ self.agg.att)
            split.append(((raw[:, j] - between) * self.cluster_scale, between, omega, spread))
        psi = np.column_stack([c + share_term_factor(b, o, sp) * b for c, b, o, sp in split])
        return (frame, psi, split) if parts else (frame, psi)


class GroupTimeATT(results.Estimator):
    """Callaway-Sant'Anna group-time ATTs with simple, dynamic (event-time), group and calendar aggregations.

    Parameters: ``first_treated`` holds each unit's first-treatment period (NaN/NaT/0 = never); ``by`` fits each
    level separately (e.g. IMD quintile, with ``unit`` = practice), sharing clusters so that ``contrast(a, b)`` has a
    valid SE; ``comparison`` "never_treated" | "not_yet_treated"; ``base_period`` "varying" | "universal";
    ``anticipation`` periods before adoption in which units may already react; ``covariates`` (numeric columns,
    conditional parallel trends, as ``xformla``) with ``est_method`` "dr" | "ipw" | "reg"; ``weights`` a unit
    weight column; ``cluster`` defaults to ``unit``; ``inference`` "bootstrap" (``n_boot`` multiplier draws,
    ``seed``) | "analytic"; ``small_sample`` "cohort_share_debiased" (default) | "cohort" | "none" (R ``did``; see
    the module docs; every
    frame's ``df`` column holds the t reference's degrees of freedom, NaN for normal); ``warn=False`` leaves the
    few-treated-clusters warning to the caller (its text is ``few_clusters_message`` either way). Units with a
    missing outcome or covariate in any period are dropped (``n_units_dropped``), as ``did`` balances the panel;
    cells whose models cannot be fitted are left out and listed in ``failed_cells``.

    Frames: :meth:`tidy` is the simple aggregation per level (key ``term``, with ``by`` also ``level``);
    :meth:`att_gt` every ATT(g,t) cell; :meth:`aggregate` the rows per event time, group or period;
    :meth:`overall` the overall row(s) of an aggregation; :meth:`contrast` level ``a`` minus level ``b``;
    :meth:`pretrend_test` the Wald pre-test.
    """

    def __init__(
        self, data: pd.DataFrame, *, outcome: str = "outcome", unit: str = "practice_id", time: str = "month",
        first_treated: str = "programme_start", by: str | None = None, comparison: Comparison = "never_treated",
        base_period: BasePeriod = "varying", anticipation: int = 0, covariates: Sequence[str] | None = None,
        est_method: EstMethod = "dr", weights: str | None = None, cluster: str | None = None, alpha: float = 0.05,
        inference: Inference = "bootstrap", n_boot: int = 999, seed: int = 20240601,
        small_sample: ClusterCorrection = "cohort_share_debiased", warn: bool = True, source: str = "panel",
    ):
        if comparison not in ("never_treated", "not_yet_treated"):
            raise ValueError(f"comparison must be 'never_treated' or 'not_yet_treated'; got {comparison!r}")
        if base_period not in ("varying", "universal"):
            raise ValueError(f"base_period must be 'varying' or 'universal'; got {base_period!r}")
        if est_method not in EST_METHODS:
            raise ValueError(f"est_method must be one of {EST_METHODS}; got {est_method!r}")
        if inference not in ("bootstrap", "analytic"):
            raise ValueError(f"inference must be 'bootstrap' or 'analytic'; got {inference!r}")
        if small_sample not in SMALL_SAMPLE:
            raise ValueError(f"small_sample must be one of {', '.join(map(repr, SMALL_SAMPLE))}; got {small_sample!r}")
        if inference == "bootstrap" and int(n_boot) < 99:
            raise ValueError(f"the multiplier bootstrap needs n_boot >= 99 draws; got {n_boot!r}")
        if int(anticipation) != anticipation or anticipation < 0:
            raise ValueError(f"anticipation must be a whole number of periods >= 0; got {anticipation!r}")
        covariates = list(covariates or [])
        panel = validate_panel(data, outcome=outcome, unit=unit, time=time, first_treated=first_treated, by=by,
                               comparison=comparison, extra=tuple(c for c in (weights, cluster, *covariates) if c),
                               source=source)
        self.panel, self.by, self.comparison, self.base_period = panel, by, comparison, base_period
        self.covariates, self.est_method, self.anticipation = covariates, est_method, int(anticipation)
        self.alpha, self.inference, self.n_boot, self.seed = alpha, inference, int(n_boot), seed
        design = CellDesign(comparison, base_period, int(anticipation), est_method)
        f = panel.frame
        f["_cluster"] = pd.factorize(f[cluster or unit])[0]
        self.n_clusters = int(f["_cluster"].max()) + 1
        f["_y"] = pd.to_numeric(f[outcome], errors="coerce").to_numpy(float)
        finite = np.isfinite(f["_y"].to_numpy())
        for c in covariates:
            values = pd.to_numeric(f[c], errors="coerce")
            if (values.isna() & f[c].notna()).any():
                raise InputError(f"{source}: covariate column {c!r} is not numeric; code categories as 0/1 columns")
            f[c] = values.astype(float)
            finite &= np.isfinite(f[c].to_numpy())
        bad_units = f.loc[~finite, "_unit"].unique()
        self.n_units_dropped = len(bad_units)
        f = f[~f["_unit"].isin(bad_units)]
        if f.empty:
            raise InputError(f"{source}: every unit has a missing {outcome!r} or covariate in some period")
        self.levels = sorted(f[by].unique().tolist()) if by else [None]
        self.small_sample = small_sample
        self._cluster_cohort = self._cohorts(f)
        self._cluster_scale = (cohort_cluster_scale(self._cluster_cohort) if small_sample != "none"
                               else np.ones(self.n_clusters))
        self._fits: dict = {}
        self.failed_cells: list = []
        n_t = len(panel.periods)
        for lv in self.levels:
            sub = (f if lv is None else f[f[by] == lv]).sort_values(["_unit", "_period"])
            n_u = sub["_unit"].nunique()
            y = sub["_y"].to_numpy().reshape(n_u, n_t)
            x = sub[covariates].to_numpy(float).reshape(n_u, n_t, len(covariates)) if covariates else None
            first = sub.groupby("_unit", sort=True).first()
            g = first["_first"].to_numpy(float)
            if weights:
                w = sub.groupby("_unit", sort=True)[weights].mean().to_numpy(float)
                if not np.all(np.isfinite(w) & (w >= 0)) or w.sum() <= 0:
                    raise InputError(f"{source}: column {weights!r}: unit weights must be finite, >= 0, not all 0")
                w = w / w.mean()
            else:
                w = np.ones(n_u)
            if comparison == "never_treated" and not (~np.isfinite(g) & (w > 0)).any():
                raise InputError(f"{source}: {by}={lv!r}: no never-treated units with data; no comparison group")
            try:
                fit = _Level(y, g, w, x, first["_cluster"].to_numpy(int), self.n_clusters, design,
                             self._cluster_scale, debias_share=small_sample == "cohort_share_debiased")
            except ValueError as err:
                raise InputError(f"{source}: {by}={lv!r}: {err}" if by else f"{source}: {err}") from err
            self.failed_cells += [(lv, self.panel.periods[gc], self.panel.periods[t], why) for gc, t, why in fit.failed]
            self._fits[lv] = fit
        self.n_treated_clusters = int(f.loc[np.isfinite(f["_first"]), "_cluster"].nunique())
        n_tc = self.n_treated_clusters
        self.few_clusters_message = warn_few_clusters(n_tc) if warn else few_clusters_message(n_tc)

    def _cohorts(self, f: pd.DataFrame) -> np.ndarray:
        """Each cluster's cohort code (-2: no data). If a cluster holds units of different cohorts (treatment
        assigned below the cluster), the cohorts are not cluster samples and every cluster counts as one cohort
        (the overall G / (G - 1) and G - 1 degrees of freedom)."""
        # Cython group reductions, not a Python function per cluster (which took most of this step's time).
        cohort = f["_first"].fillna(-1.0).groupby(f["_cluster"])
        n_cohorts, first = cohort.nunique(), cohort.first()
        codes = np.full(self.n_clusters, -2.0)
        if n_cohorts.max() > 1:
            codes[n_cohorts.index.to_numpy(int)] = 0.0
        else:
            codes[first.index.to_numpy(int)] = first.to_numpy(float)
        return codes

    # ------------------------------------------------------------------ frames
    def _periods(self, codes) -> np.ndarray:
        return self.panel.periods[np.asarray(codes, dtype=int)]

    def _add_inference(self, frame: pd.DataFrame, psi: np.ndarray, band: np.ndarray | None = None) -> pd.DataFrame:
        """Standard errors, intervals and p-values of ``frame``'s estimates from their influence ``psi``; rows in
        ``band`` share a uniform band under the bootstrap, the others get pointwise intervals."""
        band = np.zeros(psi.shape[1], bool) if band is None else np.asarray(band, bool)
        df = welch_df(psi, self._cluster_cohort) if self.small_sample != "none" else None
        ref = stats.norm if df is None else stats.t(df)
        z = ref.ppf(1 - self.alpha / 2) * np.ones(psi.shape[1])
        analytic = np.sqrt((psi**2).sum(0))
        if self.inference == "bootstrap":
            bs = multiplier_bootstrap(psi, self.n_boot, self.alpha, self.seed, band=band)
            se, crit = bs["std_error"], np.where(band, t_band_critical(bs["crit_value"], df), z)
        else:
            se, crit = analytic, z
        frame["std_error"] = se
        frame["ci_lower"] = frame["estimate"] - crit * se
        frame["ci_upper"] = frame["estimate"] + crit * se
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["p_value"] = 2 * ref.sf(np.abs(frame["estimate"] / se))
        frame["analytic_std_error"] = analytic
        frame["crit_value"] = crit
        frame["df"] = np.nan if df is None else df
        frame["interval"] = np.where(band & (crit != z), "uniform", "pointwise")
        return frame

    def _term(self, level) -> str:
        return f"{self.by}={level}" if self.by else "overall"

    def att_gt(self) -> pd.DataFrame:
        """Every ATT(g,t), keyed by ``group`` (first-treated period), ``time`` and ``event_time`` (with ``by``,
        ``level`` first); under the bootstrap, the interval is the uniform band over all cells of the level."""
        out = []
        for lv, fit in self._fits.items():
            c = fit.cells.copy()
            c.insert(0, "group", self._periods(c["group_code"]))
            c.insert(1, "time", self._periods(c["period_code"]))
            c = self._add_inference(c, fit.psi(fit.inf), band=np.ones(len(c), bool))
            if self.by:
                c.insert(0, "level", lv)
            out.append(c)
        return results.tidy_frame(pd.concat(out, ignore_index=True), keys=("level", "group", "time", "event_time"))

    def _aggregate_all(self, kind: Aggregation, window: EventWindow) -> pd.DataFrame:
        """Every row of an aggregation, overall included (inference computed jointly per level)."""
        if kind not in AGGREGATIONS:
            raise ValueError(f"kind must be one of {AGGREGATIONS}; got {kind!r}")
        out = []
        for lv, fit in self._fits.items():
            frame, psi = fit.aggregate(kind, window)
            frame.insert(0, "kind", kind)
            frame = self._add_inference(frame, psi, band=~frame["overall"].to_numpy())
            frame.insert(0, "term", self._term(lv))
            if self.by:
                frame.insert(1, "level", lv)
            out.append(frame)
        return pd.concat(out, ignore_index=True)

    def aggregate(self, kind: Aggregation = "simple", *, balance_e: int | None = None, min_e: int | None = None,
                  max_e: int | None = None) -> pd.DataFrame:
        """The rows of an aggregation per key (with ``by``, per ``level`` too), as ``aggte``: ``event_time`` (int)
        for "dynamic", ``group`` (first-treated period) for "group", ``time`` (period) for "calendar". "simple" has
        no key: its rows are :meth:`overall`. The overall effect is never a row here: see :meth:`overall`."""
        window = EventWindow(balance_e, min_e, max_e)
        if kind == "simple":
            return self.overall(kind, max_e=max_e)
        frame = self._aggregate_all(kind, window)
        frame = frame[~frame["overall"]].drop(columns=["term", "overall"])
        key = KEY_OF[kind]
        if kind == "dynamic":
            frame = frame.rename(columns={"key": key}).astype({key: "int64"})
        else:
            frame = frame.assign(key=self._periods(frame["key"].to_numpy(int))).rename(columns={"key": key})
        return results.tidy_frame(frame, keys=("level", key))

    def overall(self, kind: Aggregation = "simple", *, balance_e: int | None = None, min_e: int | None = None,
                max_e: int | None = None) -> pd.DataFrame:
        """The overall effect of an aggregation, one row per level of ``by`` (``term`` ``"<by>=<level>"``) or one
        row (``term`` ``"overall"``)."""
        frame = self._aggregate_all(kind, EventWindow(balance_e, min_e, max_e))
        frame = frame[frame["overall"]].drop(columns=["key", "overall"])
        return results.tidy_frame(frame, keys=("term", "level"))

    def tidy(self) -> pd.DataFrame:
        """The simple aggregation (average effect on adopters' post-adoption periods) per level: :meth:`overall`."""
        return self.overall("simple")

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` with the fit's information: clusters, dropped units, comparison group, method, inference."""
        return self.tidy().assign(
            n_clusters=self.n_clusters, n_treated_clusters=self.n_treated_clusters,
            n_units_dropped=self.n_units_dropped, comparison=self.comparison, est_method=self.est_method,
            covariates=", ".join(self.covariates), anticipation=self.anticipation, inference=self.inference,
            small_sample=self.small_sample,
            n_boot=self.n_boot if self.inference == "bootstrap" else 0)

    def contrast(self, a, b, kind: Aggregation = "simple", **window) -> pd.DataFrame:
        """Overall ``kind`` effect in level ``a`` minus level ``b`` of ``by`` as a one-row tidy frame (``term``
        ``"<by>=<a> - <by>=<b>"``), with the SE from the joint (cluster-level) influence functions."""
        if not self.by or a not in self._fits or b not in self._fits:
            raise ValueError(f"contrast needs `by` and two of its levels {self.levels}; got {a!r}, {b!r}")
        w = EventWindow(**window)
        fa, pa, sa = self._fits[a].aggregate(kind, w, parts=True)
        fb, pb, sb = self._fits[b].aggregate(kind, w, parts=True)
        ia, ib = int(np.flatnonzero(fa["overall"])[0]), int(np.flatnonzero(fb["overall"])[0])
        est = fa["estimate"].iloc[ia] - fb["estimate"].iloc[ib]
        frame = pd.DataFrame({"term": [f"{self.by}={a} - {self.by}={b}"], "kind": kind, "estimate": [est]})
        psi = pa[:, ia] - pb[:, ib]
        if sa is not None:  # the share terms of the difference, debiased jointly (the levels share clusters)
            (ca, ba, oa, da), (cb, bb, ob, db) = sa[ia], sb[ib]
            psi = ca - cb + share_term_factor(ba - bb, np.hstack([oa, -ob]), np.hstack([da, db])) * (ba - bb)
        frame = self._add_inference(frame, psi[:, None])
        return results.tidy_frame(frame, keys=("term",))

    def effect_summary(self, contrast: tuple | None = None, kind: Aggregation = "simple") -> pd.DataFrame:
        """The headline: the ``contrast=(a, b)`` row when given, else :meth:`overall` of ``kind``."""
        return self.contrast(*contrast, kind=kind) if contrast is not None else self.overall(kind)

    def pretrend_test(self, level=None, min_event_time: int | None = None) -> dict:
        """Wald test that pre-adoption effects are 0 (analytic, cluster-robust), as R ``did`` prints it.

        Default: every pre-period ATT(g,t) (``did``'s "P-value for pre-test of parallel trends assumption"). With
        ``min_event_time`` (e.g. -12): the dynamic aggregates for event times ``min_event_time..-1`` instead, which
        keeps the number of restrictions small on long monthly panels (a Wald test of hundreds of cells against a
        few hundred clusters over-rejects).
        """
        fit = self._fits[level if self.by else None]
        if min_event_time is None:
            pre = np.flatnonzero(~fit.cells["post"].to_numpy())
            a = fit.cells["estimate"].to_numpy()[pre]
            psi = fit.psi(fit.inf[:, pre]) if pre.size else np.zeros((self.n_clusters, 0))
        else:
            frame, psi_all = fit.aggregate("dynamic", EventWindow())
            keys = frame["key"].tolist()
            pre = np.array([i for i, (k, o) in enumerate(zip(keys, frame["overall"], strict=True))
                            if not o and min_event_time <= k < 0], dtype=int)
            a = frame["estimate"].to_numpy()[pre]
            psi = psi_all[:, pre]
        if pre.size == 0:
            return {"wald": np.nan, "df": 0, "p_value": np.nan}
        v = psi.T @ psi
        w = float(a @ np.linalg.pinv(v) @ a)
        return {"wald": w, "df": int(pre.size), "p_value": float(stats.chi2.sf(w, pre.size))}

    def plot_data(self, level=None) -> pd.DataFrame:
        """The dynamic aggregation of one level (of the whole panel without ``by``): ``event_time`` and tidy
        columns (under the bootstrap, ``ci_lower``/``ci_upper`` are the uniform band)."""
        frame = self.aggregate("dynamic")
        if self.by:
            frame = frame[frame["level"] == level]
        return frame.reset_index(drop=True)
