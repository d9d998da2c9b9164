"""Calibration of the group-time ATT's and the triple difference's inference with 12 of 48 clusters treated
(issue #12): R ``did``'s inference against this package's default, by Monte Carlo.

Design shared by every setting: 48 clusters (practices), 10 periods, 12 clusters adopting, 4 in each of the waves
4, 6 and 8 (which clusters: a random permutation per replication); a cluster-period shock (AR(1), rho 0.5, sd 1)
common to every unit of the cluster; treatment, clustering and inference at the cluster level.

1. Overall dynamic effect and single event-time effects: 5 units per cluster (e.g. practice x IMD quintile),
   ``y = unit effect + cluster effect + 0.3 t + cluster-period shock + unit noise (sd 1) + effect``. Scenarios:
   ``null`` (no effect); ``heterogeneous`` (cluster c gains ``(1 + 0.5 e)(1 + u_c)`` at event time e, u_c ~ N(0,
   0.5^2): effects that grow with exposure and differ between clusters; the truth is the population effect
   ``1 + 0.5 e``, the estimand of ``aggte``, whose influence function counts the clusters as a sample);
   ``wave_fixed`` (estimand check: wave k gains ``(3 - k)(1 + 0.5 e)`` with no other variation, the scenario of
   the previous version of this script; with the waves' sizes fixed by design and deterministic effects the
   estimate's error is exactly the null scenario's, and the truth is the sample effect, so any change in coverage
   against ``null`` is the SE's term for estimating the waves' shares, which this design does not have).
   Measures: coverage of the 95% interval for the overall dynamic effect and its null rejection at 5%; for the
   event-time effects e >= 0, the mean over e of pointwise coverage and of pointwise null rejection, and the
   simultaneous coverage of the uniform band (all e at once). ``se_over_sd``: mean reported SE over the Monte
   Carlo SD of the estimate (1 = unbiased SE; the wild row repeats the CR1 SE, its interval is not +- c SE).
2. Triple difference: two groups (Q1, Q5) within each cluster, one unit each, ``y = unit effect + 0.3 t +
   cluster-period shock (shared by Q1 and Q5) + unit-period noise (sd 1) + effect``; Q5 gains ``1 + u_c``, Q1
   ``1 + delta + u_c + w_c`` (u_c ~ N(0, 0.5^2), w_c ~ N(0, 0.5^2): the contrast differs between clusters), constant
   over exposure so that static TWFE and the group-time "simple" aggregation share the estimand ``delta``. Scenarios
   ``null`` (delta 0) and ``effect`` (delta 1). Estimators: ``GroupTimeATT(by=...).contrast(1, 5)`` (R ``did``'s
   inference and the default) and ``TwoWayFixedEffects(by=..., contrast=(1, 5), wild_bootstrap=B)`` (analytic CR1
   t(G - 1) interval and the wild cluster bootstrap interval, Webb weights, by test inversion).

Inference compared: "R did" = ``small_sample="none"`` (multiplier bootstrap SE, normal reference: R ``did``'s
defaults); "default" = ``small_sample="cohort_share_debiased"`` (each cluster's influence on the ATT(g,t) cells times
sqrt(G_k / (G_k - 1)) for the G_k clusters of its cohort, an aggregate's share term shrunk by the ATTs' noise it
counts twice, t reference with the Welch-Satterthwaite degrees of freedom of the cohorts' variances); "cohort" =
``small_sample="cohort"`` (the default until 2026-12-03: the multiplier on the whole influence, share term
included; the same t reference). With 500 replications the Monte Carlo SE of a coverage is about 1 point, as
large as the distance to the bands' edges: docs/did.md and ``make bench`` use ``--replicates 1000``. Every share
is reported with its Monte Carlo SE sqrt(p (1 - p) / R). The simulation uses only the package's public API.

Usage: ``python bench/did_calibration.py [--replicates N] [--n-boot B] [--seed S] [--quick]``; ``main()`` returns
the tables as a JSON-able dict. ``--quick`` runs 40 replications with 199 draws to check the script quickly.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from bands import row_verdict
from replication_args import parse_replication_args
from beyond_averages.did import GroupTimeATT, TwoWayFixedEffects

N_CLUSTERS, UNITS_PER_CLUSTER, N_PERIODS = 48, 5, 10
WAVES, CLUSTERS_PER_WAVE = (4, 6, 8), 4
RHO, SHOCK_SD, NOISE_SD, HETEROGENEITY_SD = 0.5, 1.0, 1.0, 0.5
INFERENCE = {"R did (bootstrap SE, normal)": "none",
             "default (cells' multiplier, share term debiased, Welch t)": "cohort_share_debiased",
             "cohort (multiplier on all, Welch t; default until 2026-12-03)": "cohort"}
COLUMNS = dict(outcome="y", unit="unit", time="period", first_treated="first_treated", cluster="cluster")


def adoption(rng: np.random.Generator) -> np.ndarray:
    """Each cluster's first-treated period (0 = never): 4 random clusters in each wave."""
    first_c = np.zeros(N_CLUSTERS, int)
    adopters = rng.permutation(N_CLUSTERS)[: len(WAVES) * CLUSTERS_PER_WAVE]
    for k, wave in enumerate(WAVES):
        first_c[adopters[k * CLUSTERS_PER_WAVE:(k + 1) * CLUSTERS_PER_WAVE]] = wave
    return first_c


def cluster_shocks(rng: np.random.Generator) -> np.ndarray:
    """Clusters x periods AR(1) shocks with stationary sd SHOCK_SD."""
    shock = np.zeros((N_CLUSTERS, N_PERIODS))
    innov = rng.normal(0, SHOCK_SD * np.sqrt(1 - RHO**2), (N_CLUSTERS, N_PERIODS))
    shock[:, 0] = rng.normal(0, SHOCK_SD, N_CLUSTERS)
    for t in range(1, N_PERIODS):
        shock[:, t] = RHO * shock[:, t - 1] + innov[:, t]
    return shock


def simulate_dynamic(scenario: str, seed: int) -> tuple[pd.DataFrame, dict[int, float]]:
    """Setting 1: one panel and the true effect at each event time e >= 0."""
    rng = np.random.default_rng(seed)
    first_c = adoption(rng)
    shock = cluster_shocks(rng)
    cluster = np.repeat(np.arange(N_CLUSTERS), UNITS_PER_CLUSTER)
    n = len(cluster)
    period = np.arange(1, N_PERIODS + 1)
    first = first_c[cluster]
    e = period[None, :] - first[:, None]
    treated = (first[:, None] > 0) & (e >= 0)
    u = rng.normal(0, HETEROGENEITY_SD, N_CLUSTERS)[cluster][:, None]
    if scenario == "null":
        tau = np.zeros((n, N_PERIODS))
    elif scenario == "heterogeneous":
        tau = np.where(treated, (1 + 0.5 * e) * (1 + u), 0.0)
    else:  # wave_fixed
        k = np.array([WAVES.index(f) if f else -1 for f in first])[:, None]
        tau = np.where(treated, (3.0 - k) * (1 + 0.5 * e), 0.0)
    y = (rng.normal(0, 1, n)[:, None] + rng.normal(0, 1, N_CLUSTERS)[cluster][:, None] + 0.3 * period[None, :]
         + shock[cluster] + tau + rng.normal(0, NOISE_SD, (n, N_PERIODS)))
    frame = pd.DataFrame({"unit": np.repeat(np.arange(n), N_PERIODS), "cluster": np.repeat(cluster, N_PERIODS),
                          "period": np.tile(period, n), "first_treated": np.repeat(first, N_PERIODS), "y": y.ravel()})
    events = np.unique(e[treated])
    if scenario == "heterogeneous":  # population effect: E[1 + u_c] = 1
        truth = {int(ev): 1 + 0.5 * ev for ev in events}
    else:  # deterministic effects: the sample effect, group-size weighted
        truth = {int(ev): float(tau[treated & (e == ev)].mean()) for ev in events}
    return frame, truth


def pointwise_p(estimate, truth, se, df) -> np.ndarray:
    """Two-sided p-value of H0: effect = truth with each row's reference distribution (``df`` NaN: normal)."""
    df = np.where(np.isnan(np.asarray(df, float)), np.inf, np.asarray(df, float))
    return 2 * stats.t.sf(np.abs((np.asarray(estimate) - np.asarray(truth)) / np.asarray(se)), df)


def one_dynamic(scenario: str, seed: int, n_boot: int) -> list[dict]:
    data, truth_e = simulate_dynamic(scenario, seed)
    truth = float(np.mean(list(truth_e.values())))
    rows = []
    for label, small_sample in INFERENCE.items():
        fit = GroupTimeATT(data, n_boot=n_boot, seed=seed, small_sample=small_sample, warn=False, **COLUMNS)
        o = fit.overall("dynamic").iloc[0]
        dyn = fit.aggregate("dynamic").set_index("event_time")
        post = dyn[dyn.index >= 0]
        true_e = np.array([truth_e[int(ev)] for ev in post.index])
        est_e = post["estimate"].to_numpy()
        rows.append({
            "inference": label, "estimate": o["estimate"], "truth": truth, "std_error": o["std_error"],
            "covers": o["ci_lower"] <= truth <= o["ci_upper"], "rejects": o["p_value"] <= 0.05,
            "event_covers": float(np.mean(pointwise_p(est_e, true_e, post["std_error"], post["df"]) > 0.05)),
            "event_rejects": float(np.mean(post["p_value"] <= 0.05)),
            "band_covers": bool(np.all((post["ci_lower"] <= true_e) & (true_e <= post["ci_upper"]))),
        })
    return rows


def simulate_triple(delta: float, seed: int) -> pd.DataFrame:
    """Setting 2: Q1 and Q5 within each cluster (unit = cluster, by = quintile), contrast truth ``delta``."""
    rng = np.random.default_rng(seed)
    first_c = adoption(rng)
    shock = cluster_shocks(rng)
    u, w = rng.normal(0, HETEROGENEITY_SD, (2, N_CLUSTERS))
    period = np.arange(1, N_PERIODS + 1)
    d = (first_c[:, None] > 0) & (period[None, :] >= first_c[:, None])
    parts = []
    for q, gain in ((1, 1 + delta + u + w), (5, 1 + u)):
        y = (rng.normal(0, 1, N_CLUSTERS)[:, None] + 0.3 * period[None, :] + shock + d * gain[:, None]
             + rng.normal(0, NOISE_SD, (N_CLUSTERS, N_PERIODS)))
        parts.append(pd.DataFrame({"unit": np.repeat(np.arange(N_CLUSTERS), N_PERIODS), "quintile": q,
                                   "period": np.tile(period, N_CLUSTERS),
                                   "first_treated": np.repeat(first_c, N_PERIODS), "y": y.ravel()}))
    frame = pd.concat(parts, ignore_index=True)
    frame["cluster"] = frame["unit"]
    return frame


def one_triple(delta: float, seed: int, n_boot: int) -> list[dict]:
    data = simulate_triple(delta, seed)
    rows = []
    for label, small_sample in INFERENCE.items():
        c = GroupTimeATT(data, by="quintile", n_boot=n_boot, seed=seed, small_sample=small_sample, warn=False,
                         **COLUMNS).contrast(1, 5).iloc[0]
        rows.append({"inference": f"group-time ATT, {label}", "estimate": c["estimate"], "std_error": c["std_error"],
                     "covers": c["ci_lower"] <= delta <= c["ci_upper"], "rejects": c["p_value"] <= 0.05})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the few-treated-clusters caution, expected here
        tw = TwoWayFixedEffects(data, by="quintile", contrast=(1, 5), wild_bootstrap=n_boot, seed=seed,
                                **COLUMNS).contrast().iloc[0]
    rows.append({"inference": "TWFE, CR1 t(G - 1)", "estimate": tw["estimate"], "std_error": tw["std_error"],
                 "covers": tw["ci_lower"] <= delta <= tw["ci_upper"], "rejects": tw["p_value"] <= 0.05})
    rows.append({"inference": "TWFE, wild cluster bootstrap (Webb, test inversion)", "estimate": tw["estimate"],
                 "std_error": tw["std_error"],
                 "covers": tw["wild_ci_lower"] <= delta <= tw["wild_ci_upper"], "rejects": tw["wild_p_value"] <= 0.05})
    return rows


def share(x: pd.Series) -> tuple[float, float]:
    p = float(np.mean(x))
    return p, float(np.sqrt(p * (1 - p) / len(x)))


def summarise(rows: pd.DataFrame, setting: str, scenario: str, null: bool, extra: bool) -> list[dict]:
    out = []
    for label, r in rows.groupby("inference", sort=False):
        cover, cover_se = share(r["covers"])
        reject, reject_se = share(r["rejects"]) if null else (np.nan, np.nan)
        row = {"setting": setting, "scenario": scenario, "inference": label, "replications": len(r),
               "bias": float((r["estimate"] - r["truth"]).mean()),
               "se_over_sd": float(r["std_error"].mean() / (r["estimate"] - r["truth"]).std(ddof=1)),
               "coverage": cover, "coverage_mc_se": cover_se, "null_rejection": reject,
               "null_rejection_mc_se": reject_se}
        if extra:
            ev_cover, ev_reject = float(r["event_covers"].mean()), float(r["event_rejects"].mean())
            band, band_se = share(r["band_covers"])
            row.update({"event_time_coverage": ev_cover,
                        "event_time_rejection": ev_reject if null else np.nan,
                        "band_coverage": band, "band_coverage_mc_se": band_se})
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> dict:
    a = parse_replication_args(argv, __doc__.split("\n")[0], quick=(40, 199))
    reps, n_boot = a.reps, a.n_boot
    t0 = time.perf_counter()
    dynamic, triple = [], []
    for s_i, scenario in enumerate(("null", "heterogeneous", "wave_fixed")):
        rows = pd.DataFrame([row for r in range(reps) for row in one_dynamic(scenario, a.seed + 100_000 * s_i + r,
                                                                             n_boot)])
        dynamic += summarise(rows, "overall dynamic effect, 12 of 48 clusters", scenario, scenario == "null",
                             extra=True)
    for s_i, (scenario, delta) in enumerate((("null", 0.0), ("effect", 1.0))):
        rows = pd.DataFrame([row | {"truth": delta} for r in range(reps)
                             for row in one_triple(delta, a.seed + 500_000 + 100_000 * s_i + r, n_boot)])
        triple += summarise(rows, "triple difference Q1 - Q5, 12 of 48 clusters", scenario, delta == 0.0,
                            extra=False)
    for row in dynamic + triple:
        row["bands"] = row_verdict(row["coverage"], row["null_rejection"], row["replications"])
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 60):
        print(f"Group-time ATT: overall dynamic effect and event-time effects ({reps} replications, {n_boot} draws)")
        print(pd.DataFrame(dynamic).drop(columns=["setting"]).round(4).to_string(index=False))
        print(f"\nTriple difference Q1 - Q5 ({reps} replications, {n_boot} draws)")
        print(pd.DataFrame(triple).drop(columns=["setting"]).round(4).to_string(index=False))
        print(f"\n{time.perf_counter() - t0:.0f} s")

    def clean(table):
        return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()} for row in table]

    return {"did_calibration": clean(dynamic), "did_triple_difference": clean(triple), "replications": reps,
            "n_boot": n_boot, "seconds": round(time.perf_counter() - t0, 1)}


if __name__ == "__main__":
    main()
    sys.exit(0)
