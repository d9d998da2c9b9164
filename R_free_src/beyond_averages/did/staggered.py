"""Group-time average treatment effects for staggered adoption (Callaway & Sant'Anna 2021), written with numpy.

For each group g (the units first treated in period g: an adoption wave) and period t, ATT(g,t) is a 2x2 DiD of
group g against a clean comparison group between t and a base period: ``g - 1`` for post periods (t >= g); for pre
periods t - 1 (``base_period="varying"``, the R ``did`` default) or g - 1 (``"universal"``). Comparison units are the
never treated, or the not yet treated (never treated plus units first treated after both t and the base period,
group g itself excluded), as in ``did::att_gt`` with no covariates and no anticipation (where its "reg", "ipw" and
"dr" methods coincide).

Inference is influence-function based: every estimate is asymptotically linear, so its variance is the sum over
clusters of the squared cluster-summed influence function, scaled by 1/n (``did``'s analytic SE when the cluster
is the unit). Aggregations carry the extra term for estimated group shares, as ``did::aggte`` does. With
``n_boot > 0`` a multiplier bootstrap (Mammen weights, clustered) adds bootstrap SEs and uniform (simultaneous)
confidence bands. Unit weights, if given, must be time-invariant: a time-varying column is averaged per unit
(e.g. a practice's mean denominator), and the estimand is then the weighted ATT.

Aggregations: ``simple`` (all post cells, weighted by group size), ``dynamic`` (event time e = t - g; overall =
mean over e >= 0) and ``group`` (each group's mean over its post periods; overall weighted by group size).
:meth:`GroupTimeATT.aggregate` returns the rows per event time or group, :meth:`GroupTimeATT.overall` the overall
row(s); both come from one joint computation, so a bootstrap's uniform band covers them together.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from beyond_averages import results
from beyond_averages.did.inference import multiplier_bootstrap, warn_few_clusters
from beyond_averages.did.panel import Comparison, validate_panel
from beyond_averages.files import InputError

BasePeriod = Literal["varying", "universal"]
Aggregation = Literal["simple", "dynamic", "group"]


def _wmean(y: np.ndarray, w: np.ndarray) -> float:
    return float((w * y).sum() / w.sum())


def _att_gt_cells(y: np.ndarray, g: np.ndarray, w: np.ndarray, comparison: Comparison, base: BasePeriod):
    """All ATT(g,t) cells of one balanced panel: rows of (g, t, b, att, n_t, n_c) and the n x cells influence
    matrix (scaled so that var = sum(IF^2) / n^2)."""
    n, n_t = y.shape
    groups = np.unique(g[np.isfinite(g)]).astype(int)
    rows, ifs = [], []
    for gc in groups:
        treat = g == gc
        for t in range(n_t):
            if t >= gc:
                b = gc - 1
            elif base == "varying":
                b = t - 1
            else:
                b = gc - 1
                if t == b:
                    continue
            if b < 0:
                continue
            if comparison == "never_treated":
                ctrl = ~np.isfinite(g)
            else:
                ctrl = ~np.isfinite(g) | ((g > max(t, b)) & (g != gc))
            if not treat.any() or not ctrl.any():
                continue
            dy = y[:, t] - y[:, b]
            wt, wc = w * treat, w * ctrl
            mt, mc = _wmean(dy[treat], w[treat]), _wmean(dy[ctrl], w[ctrl])
            inf = n * (wt * (dy - mt) / wt.sum() - wc * (dy - mc) / wc.sum())
            rows.append((gc, t, b, mt - mc, int(treat.sum()), int(ctrl.sum())))
            ifs.append(inf)
    cells = pd.DataFrame(rows, columns=["group_code", "period_code", "base_code", "estimate", "n_treated", "n_control"])
    return cells, (np.column_stack(ifs) if ifs else np.zeros((n, 0)))


def _wif(keep_groups: np.ndarray, pg: np.ndarray, w: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Influence of estimating the group-share weights pg/sum(pg) (``did:::wif``)."""
    ind = np.column_stack([w * (g == gk) - p for gk, p in zip(keep_groups, pg)])  # n x k
    s = pg.sum()
    return ind / s - ind.sum(1, keepdims=True) * (pg / s**2)[None, :]


class _Level:
    """ATT(g,t) and aggregations for one level of ``by`` (or the whole panel)."""

    def __init__(self, y, g, w, unit_cluster, n_clusters, comparison, base):
        self.n = y.shape[0]
        self.g, self.w = g, w
        self.cells, self.inf = _att_gt_cells(y, g, w, comparison, base)
        self.cells["post"] = self.cells["period_code"] >= self.cells["group_code"]
        self.cells["event_time"] = self.cells["period_code"] - self.cells["group_code"]
        self.cluster, self.n_clusters = unit_cluster, n_clusters
        glist = np.unique(g[np.isfinite(g)]).astype(int)
        self.glist = glist
        self.pg = np.array([np.mean(w * (g == gk)) for gk in glist])
        self.cells["pg"] = self.pg[np.searchsorted(glist, self.cells["group_code"].to_numpy())]

    def psi(self, inf_cols: np.ndarray) -> np.ndarray:
        """Cluster-summed influence / n: clusters x estimates, variance = column sums of squares."""
        inf_cols = inf_cols.reshape(self.n, -1)
        return np.stack([np.bincount(self.cluster, weights=inf_cols[:, j], minlength=self.n_clusters)
                         for j in range(inf_cols.shape[1])], 1) / self.n

    def _weighted(self, idx: np.ndarray):
        c = self.cells.iloc[idx]
        pg = c["pg"].to_numpy()
        wts = pg / pg.sum()
        att = c["estimate"].to_numpy()
        inf = self.inf[:, idx] @ wts + _wif(c["group_code"].to_numpy(), pg, self.w, self.g) @ att
        return float(wts @ att), inf

    def aggregate(self, kind: Aggregation) -> tuple[pd.DataFrame, np.ndarray]:
        """``key`` (event time or group code; missing on the overall row), ``estimate`` and ``overall`` (the last
        row), with the clusters x rows influence matrix."""
        c = self.cells
        keys, ests, infs = [], [], []
        if kind == "simple":
            est, inf = self._weighted(np.flatnonzero(c["post"].to_numpy()))
            ests, infs = [est], [inf]
        elif kind == "dynamic":
            post_e = []
            for e in sorted(c["event_time"].unique()):
                est, inf = self._weighted(np.flatnonzero((c["event_time"] == e).to_numpy()))
                keys.append(int(e)), ests.append(est), infs.append(inf)
                if e >= 0:
                    post_e.append((est, inf))
            ests.append(float(np.mean([p[0] for p in post_e])))
            infs.append(np.mean([p[1] for p in post_e], axis=0))
        elif kind == "group":
            per = []
            for gk in self.glist:
                idx = np.flatnonzero(((c["group_code"] == gk) & c["post"]).to_numpy())
                if idx.size == 0:
                    continue
                est = float(c["estimate"].to_numpy()[idx].mean())
                inf = self.inf[:, idx].mean(1)
                keys.append(int(gk)), ests.append(est), infs.append(inf)
                per.append((gk, est, inf))
            gks = np.array([p[0] for p in per])
            pg = self.pg[np.searchsorted(self.glist, gks)]
            wts = pg / pg.sum()
            att = np.array([p[1] for p in per])
            inf = np.column_stack([p[2] for p in per]) @ wts + _wif(gks, pg, self.w, self.g) @ att
            ests.append(float(wts @ att)), infs.append(inf)
        else:
            raise ValueError(f"kind must be 'simple', 'dynamic' or 'group'; got {kind!r}")
        psi = self.psi(np.column_stack(infs))
        frame = pd.DataFrame({"key": pd.array(keys + [None], dtype="Int64"), "estimate": ests,
                              "overall": [False] * len(keys) + [True]})
        return frame, psi


class GroupTimeATT(results.Estimator):
    """Callaway-Sant'Anna group-time ATTs with simple, dynamic (event-time) and group aggregations.

    Parameters: ``first_treated`` holds each unit's first-treatment period (NaN/NaT/0 = never); ``by`` fits each
    level separately (e.g. IMD quintile, with ``unit`` = practice), sharing clusters so that ``contrast(a, b)`` has a
    valid SE; ``comparison`` "never_treated" | "not_yet_treated"; ``base_period`` "varying" | "universal";
    ``weights`` a unit weight column; ``cluster`` defaults to ``unit``; ``n_boot`` > 0 adds the multiplier
    bootstrap (SEs and uniform bands, seeded). Units with a missing outcome in any period are dropped
    (``n_units_dropped``), as ``did`` balances the panel.

    Frames: :meth:`tidy` is the simple aggregation per level (key ``term``, with ``by`` also ``level``);
    :meth:`att_gt` every ATT(g,t) cell; :meth:`aggregate` the rows per event time or group; :meth:`overall` the
    overall row(s) of an aggregation; :meth:`contrast` level ``a`` minus level ``b``.
    """

    def __init__(
        self, data: pd.DataFrame, *, outcome: str = "outcome", unit: str = "practice_id", time: str = "month",
        first_treated: str = "programme_start", by: str | None = None, comparison: Comparison = "never_treated",
        base_period: BasePeriod = "varying", weights: str | None = None, cluster: str | None = None,
        alpha: float = 0.05, n_boot: int = 0, seed: int = 20240601, source: str = "panel",
    ):
        if comparison not in ("never_treated", "not_yet_treated"):
            raise ValueError(f"comparison must be 'never_treated' or 'not_yet_treated'; got {comparison!r}")
        if base_period not in ("varying", "universal"):
            raise ValueError(f"base_period must be 'varying' or 'universal'; got {base_period!r}")
        panel = validate_panel(data, outcome=outcome, unit=unit, time=time, first_treated=first_treated, by=by,
                               comparison=comparison, extra=tuple(c for c in (weights, cluster) if c), source=source)
        self.panel, self.by, self.comparison, self.base_period = panel, by, comparison, base_period
        self.alpha, self.n_boot, self.seed = alpha, n_boot, seed
        f = panel.frame
        cluster = cluster or unit
        f["_cluster"] = pd.factorize(f[cluster])[0]
        self.n_clusters = int(f["_cluster"].max()) + 1
        y_all = pd.to_numeric(f[outcome], errors="coerce").to_numpy(float)
        f["_y"] = y_all
        bad_units = f.loc[~np.isfinite(y_all), "_unit"].unique()
        self.n_units_dropped = int(len(bad_units))
        f = f[~f["_unit"].isin(bad_units)]
        if f.empty:
            raise InputError(f"{source}: every unit has a missing {outcome!r} in some period")
        self.levels = sorted(f[by].unique().tolist()) if by else [None]
        self._fits: dict = {}
        n_t = len(panel.periods)
        for lv in self.levels:
            sub = f if lv is None else f[f[by] == lv]
            sub = sub.sort_values(["_unit", "_period"])
            units = sub["_unit"].unique()
            y = sub["_y"].to_numpy().reshape(len(units), n_t)
            first = sub.groupby("_unit", sort=True).first()
            g = first["_first"].to_numpy(float)
            if weights:
                w = sub.groupby("_unit", sort=True)[weights].mean().to_numpy(float)
                if not np.all(np.isfinite(w) & (w >= 0)) or w.sum() <= 0:
                    raise InputError(f"{source}: column {weights!r}: unit weights must be finite, >= 0, not all 0")
                w = w / w.mean()
            else:
                w = np.ones(len(units))
            if comparison == "never_treated" and not (~np.isfinite(g) & (w > 0)).any():
                raise InputError(f"{source}: {by}={lv!r}: no never-treated units with data; no comparison group")
            self._fits[lv] = _Level(y, g, w, first["_cluster"].to_numpy(int), self.n_clusters, comparison,
                                    base_period)
        treated_clusters = f.loc[np.isfinite(f["_first"]), "_cluster"].nunique()
        self.n_treated_clusters = int(treated_clusters)
        self.few_clusters_message = warn_few_clusters(self.n_treated_clusters)

    # ------------------------------------------------------------------ frames
    def _periods(self, codes) -> np.ndarray:
        return self.panel.periods[np.asarray(codes, dtype=int)]

    def _add_inference(self, frame: pd.DataFrame, psi: np.ndarray) -> pd.DataFrame:
        se = np.sqrt((psi**2).sum(0))
        z = stats.norm.ppf(1 - self.alpha / 2)
        frame["std_error"] = se
        frame["ci_lower"] = frame["estimate"] - z * se
        frame["ci_upper"] = frame["estimate"] + z * se
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["p_value"] = 2 * stats.norm.sf(np.abs(frame["estimate"] / se))
        if self.n_boot:
            bs = multiplier_bootstrap(psi, self.n_boot, self.alpha, self.seed)
            frame["boot_std_error"] = bs["std_error"]
            frame["band_lower"] = frame["estimate"] - bs["crit_value"] * bs["std_error"]
            frame["band_upper"] = frame["estimate"] + bs["crit_value"] * bs["std_error"]
            frame["crit_value"] = bs["crit_value"]
        return frame

    def _term(self, level) -> str:
        return f"{self.by}={level}" if self.by else "overall"

    def att_gt(self) -> pd.DataFrame:
        """Every ATT(g,t), keyed by ``group`` (first-treated period), ``time`` and ``event_time`` (with ``by``,
        ``level`` first), with analytic SEs (and bootstrap SE / uniform band if ``n_boot``)."""
        out = []
        for lv, fit in self._fits.items():
            c = fit.cells.copy()
            c.insert(0, "group", self._periods(c["group_code"]))
            c.insert(1, "time", self._periods(c["period_code"]))
            c = self._add_inference(c, fit.psi(fit.inf))
            if self.by:
                c.insert(0, "level", lv)
            out.append(c.drop(columns=["pg"]))
        return results.tidy_frame(pd.concat(out, ignore_index=True), keys=("level", "group", "time", "event_time"))

    def _aggregate_all(self, kind: Aggregation) -> pd.DataFrame:
        """Every row of an aggregation, overall included (inference computed jointly per level)."""
        out = []
        for lv, fit in self._fits.items():
            frame, psi = fit.aggregate(kind)
            frame.insert(0, "kind", kind)
            frame = self._add_inference(frame, psi)
            frame.insert(0, "term", self._term(lv))
            if self.by:
                frame.insert(1, "level", lv)
            out.append(frame)
        return pd.concat(out, ignore_index=True)

    def aggregate(self, kind: Aggregation = "simple") -> pd.DataFrame:
        """The rows of an aggregation per key (with ``by``, per ``level`` too): ``event_time`` for "dynamic",
        ``group`` (first-treated period) for "group". "simple" has no key: its rows are :meth:`overall`."""
        if kind == "simple":
            return self.overall(kind)
        frame = self._aggregate_all(kind)
        frame = frame[~frame["overall"]].drop(columns=["term", "overall"])
        if kind == "dynamic":
            frame = frame.rename(columns={"key": "event_time"}).astype({"event_time": "int64"})
            keys = ("level", "event_time")
        else:
            frame = frame.assign(key=self._periods(frame["key"].to_numpy(int))).rename(columns={"key": "group"})
            keys = ("level", "group")
        return results.tidy_frame(frame, keys=keys)

    def overall(self, kind: Aggregation = "simple") -> pd.DataFrame:
        """The overall effect of an aggregation, one row per level of ``by`` (``term`` ``"<by>=<level>"``) or one
        row (``term`` ``"overall"``)."""
        frame = self._aggregate_all(kind)
        frame = frame[frame["overall"]].drop(columns=["key", "overall"])
        return results.tidy_frame(frame, keys=("term", "level"))

    def tidy(self) -> pd.DataFrame:
        """The simple aggregation (average effect on adopters' post-adoption periods) per level: :meth:`overall`."""
        return self.overall("simple")

    def summary(self) -> pd.DataFrame:
        """:meth:`tidy` with ``n_clusters``, ``n_treated_clusters``, ``n_units_dropped`` and ``comparison``."""
        return self.tidy().assign(n_clusters=self.n_clusters, n_treated_clusters=self.n_treated_clusters,
                                  n_units_dropped=self.n_units_dropped, comparison=self.comparison)

    def contrast(self, a, b, kind: Aggregation = "simple") -> pd.DataFrame:
        """Overall ``kind`` effect in level ``a`` minus level ``b`` of ``by`` as a one-row tidy frame (``term``
        ``"<by>=<a> - <by>=<b>"``), with the SE from the joint (cluster-level) influence functions."""
        if not self.by or a not in self._fits or b not in self._fits:
            raise ValueError(f"contrast needs `by` and two of its levels {self.levels}; got {a!r}, {b!r}")
        fa, pa = self._fits[a].aggregate(kind)
        fb, pb = self._fits[b].aggregate(kind)
        ia, ib = int(np.flatnonzero(fa["overall"])[0]), int(np.flatnonzero(fb["overall"])[0])
        est = fa["estimate"].iloc[ia] - fb["estimate"].iloc[ib]
        frame = pd.DataFrame({"term": [f"{self.by}={a} - {self.by}={b}"], "kind": kind, "estimate": [est]})
        frame = self._add_inference(frame, (pa[:, ia] - pb[:, ib])[:, None])
        return results.tidy_frame(frame, keys=("term",))

    def effect_summary(self, contrast: tuple | None = None, kind: Aggregation = "simple") -> pd.DataFrame:
        """The headline: the ``contrast=(a, b)`` row when given, else :meth:`overall` of ``kind``."""
        return self.contrast(*contrast, kind=kind) if contrast is not None else self.overall(kind)

    def pretrend_test(self, level=None, min_event_time: int | None = None) -> dict:
        """Wald test that pre-adoption effects are 0, cluster-robust.

        Default: every pre-period ATT(g,t) (``did``'s pre-test). With ``min_event_time`` (e.g. -12): the dynamic
        aggregates for event times ``min_event_time..-1`` instead, which keeps the number of restrictions small
        on long monthly panels (a Wald test of hundreds of cells against a few hundred clusters over-rejects).
        """
        fit = self._fits[level if self.by else None]
        if min_event_time is None:
            pre = np.flatnonzero(~fit.cells["post"].to_numpy())
            a = fit.cells["estimate"].to_numpy()[pre]
            psi = fit.psi(fit.inf[:, pre]) if pre.size else np.zeros((self.n_clusters, 0))
        else:
            frame, psi_all = fit.aggregate("dynamic")
            keys = frame["key"].tolist()
            pre = np.array([i for i, (k, o) in enumerate(zip(keys, frame["overall"]))
                            if not o and min_event_time <= k < 0], dtype=int)
            a = frame["estimate"].to_numpy()[pre]
            psi = psi_all[:, pre]
        if pre.size == 0:
            return {"wald": np.nan, "df": 0, "p_value": np.nan}
        v = psi.T @ psi
        w = float(a @ np.linalg.pinv(v) @ a)
        return {"wald": w, "df": int(pre.size), "p_value": float(stats.chi2.sf(w, pre.size))}

    def plot_data(self, level=None) -> pd.DataFrame:
        """The dynamic aggregation of one level (of the whole panel without ``by``): ``event_time``, tidy columns
        and, with ``n_boot``, the uniform band ``band_lower``/``band_upper``."""
        frame = self.aggregate("dynamic")
        if self.by:
            frame = frame[frame["level"] == level]
        return frame.reset_index(drop=True)
