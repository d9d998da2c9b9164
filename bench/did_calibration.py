"""Calibration of the group-time ATT's inference with few treated clusters (issue #12): analytic influence-function
SEs against the multiplier bootstrap (the default), by Monte Carlo.

Setting (the one the issue's independent simulation found miscalibrated): 48 clusters (practices) of 5 units each
(e.g. practice x IMD quintile), 10 periods, 12 clusters adopting, 4 in each of the waves 4, 6 and 8; treatment,
clustering and inference at the practice level. Outcome ``y = unit effect + cluster effect + period effect +
cluster-period shock (AR(1), rho 0.5, sd 1) + unit noise (sd 1) + effect``. Scenarios: ``null`` (no effect:
rejection of the overall dynamic effect = 0 is the test's size) and ``heterogeneous`` (wave k gains
``(3 - k)(1 + 0.5 e)`` at event time e, as ``did.simulate_staggered_panel``; coverage of the true overall dynamic
effect, the mean over e >= 0 of the group-size-weighted effect at e in the sample).

Reported per scenario and inference: replications, bias, coverage of the 95% interval (with its Monte Carlo SE,
sqrt(p(1-p)/R)), null rejection at 5% (null scenario), and the simultaneous coverage of the event-time effects
(all e >= 0 covered at once: the uniform band under the bootstrap, pointwise intervals under analytic SEs). A third
row, computed from the same fits, is a candidate small-sample correction not (yet) a default: the bootstrap SE with
the t quantile on (treated clusters - 1) = 11 degrees of freedom instead of the normal one.

Usage: ``python bench/did_calibration.py [--replicates N] [--n-boot B] [--quick]``; ``main()`` returns the table as
a JSON-able dict. ``--quick`` runs 40 replications with 199 draws to check the script in under a minute.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

from replication_args import parse_replication_args
from beyond_averages.did import GroupTimeATT

N_CLUSTERS, UNITS_PER_CLUSTER, N_PERIODS = 48, 5, 10
WAVES, CLUSTERS_PER_WAVE = (4, 6, 8), 4
RHO, SHOCK_SD, NOISE_SD = 0.5, 1.0, 1.0
Z = 1.959963984540054


def simulate(scenario: str, seed: int) -> tuple[pd.DataFrame, float, dict[int, float]]:
    """One panel, the true overall dynamic effect and the true effect at each event time e >= 0."""
    rng = np.random.default_rng(seed)
    first_c = np.zeros(N_CLUSTERS, int)
    adopters = rng.permutation(N_CLUSTERS)[: len(WAVES) * CLUSTERS_PER_WAVE]
    for k, wave in enumerate(WAVES):
        first_c[adopters[k * CLUSTERS_PER_WAVE:(k + 1) * CLUSTERS_PER_WAVE]] = wave
    wave_c = np.array([WAVES.index(f) if f else -1 for f in first_c])
    shock = np.zeros((N_CLUSTERS, N_PERIODS))
    innov = rng.normal(0, SHOCK_SD * np.sqrt(1 - RHO**2), (N_CLUSTERS, N_PERIODS))
    shock[:, 0] = rng.normal(0, SHOCK_SD, N_CLUSTERS)
    for t in range(1, N_PERIODS):
        shock[:, t] = RHO * shock[:, t - 1] + innov[:, t]
    cluster = np.repeat(np.arange(N_CLUSTERS), UNITS_PER_CLUSTER)
    n = len(cluster)
    period = np.arange(1, N_PERIODS + 1)
    first = first_c[cluster]
    e = period[None, :] - first[:, None]
    treated = (first[:, None] > 0) & (e >= 0)
    k = wave_c[cluster][:, None]
    tau = np.where(treated, (3.0 - k) * (1 + 0.5 * e), 0.0) if scenario == "heterogeneous" else np.zeros((n, N_PERIODS))
    y = (rng.normal(0, 1, n)[:, None] + rng.normal(0, 1, N_CLUSTERS)[cluster][:, None] + 0.3 * period[None, :]
         + shock[cluster] + tau + rng.normal(0, NOISE_SD, (n, N_PERIODS)))
    frame = pd.DataFrame({"unit": np.repeat(np.arange(n), N_PERIODS), "cluster": np.repeat(cluster, N_PERIODS),
                          "period": np.tile(period, n), "first_treated": np.repeat(first, N_PERIODS), "y": y.ravel()})
    by_e = {int(ev): float(tau[treated & (e == ev)].mean()) for ev in np.unique(e[treated])}
    return frame, float(np.mean(list(by_e.values()))), by_e


def one_replicate(scenario: str, seed: int, n_boot: int) -> dict:
    data, truth, truth_e = simulate(scenario, seed)
    fit = GroupTimeATT(data, outcome="y", unit="unit", time="period", first_treated="first_treated",
                       cluster="cluster", n_boot=n_boot, seed=seed, warn=False)
    o = fit.overall("dynamic").iloc[0]
    dyn = fit.aggregate("dynamic").set_index("event_time")
    post = dyn[dyn.index >= 0]
    true_e = np.array([truth_e[int(ev)] for ev in post.index])
    band = bool(np.all(np.abs(post["estimate"].to_numpy() - true_e) <= post["crit_value"] * post["std_error"]))
    pointwise = bool(np.all(np.abs(post["estimate"].to_numpy() - true_e) <= Z * post["analytic_std_error"]))
    return {"estimate": o["estimate"], "truth": truth, "boot_se": o["std_error"],
            "analytic_se": o["analytic_std_error"], "band_all": band, "pointwise_all": pointwise}


def summarise(rows: pd.DataFrame, scenario: str) -> list[dict]:
    out = []
    r = len(rows)
    err = rows["estimate"] - rows["truth"]
    t_crit = stats.t.ppf(0.975, len(WAVES) * CLUSTERS_PER_WAVE - 1)
    for name, se, crit, simultaneous in (
        ("analytic", rows["analytic_se"], Z, rows["pointwise_all"]),
        ("multiplier bootstrap (default)", rows["boot_se"], Z, rows["band_all"]),
        ("multiplier bootstrap, t(treated clusters - 1) quantile (candidate)", rows["boot_se"], t_crit, None),
    ):
        cover = float(np.mean(np.abs(err) <= crit * se))
        reject = float(np.mean(np.abs(rows["estimate"]) > crit * se)) if scenario == "null" else np.nan
        sim = float(np.mean(simultaneous)) if simultaneous is not None else np.nan
        out.append({
            "setting": f"12 of 48 clusters treated, {scenario}", "estimator": f"group-time ATT, {name}",
            "replications": r, "bias": float(err.mean()), "bias_mc_se": float(err.std(ddof=1) / np.sqrt(r)),
            "coverage": cover, "coverage_mc_se": float(np.sqrt(cover * (1 - cover) / r)),
            "null_rejection": reject,
            "null_rejection_mc_se": float(np.sqrt(reject * (1 - reject) / r)) if scenario == "null" else np.nan,
            "event_time_simultaneous_coverage": sim, "mean_se": float(se.mean()), "sd_estimate": float(err.std(ddof=1)),
        })
    return out


def main(argv: list[str] | None = None) -> dict:
    a = parse_replication_args(argv, __doc__.split("\n")[0], quick=(40, 199))
    reps, n_boot = a.reps, a.n_boot
    t0 = time.perf_counter()
    table = []
    for s_i, scenario in enumerate(("null", "heterogeneous")):
        rows = pd.DataFrame([one_replicate(scenario, a.seed + 100_000 * s_i + r, n_boot) for r in range(reps)])
        table += summarise(rows, scenario)
    frame = pd.DataFrame(table)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"Group-time ATT inference, overall dynamic effect ({reps} replications, {n_boot} bootstrap draws)")
        print(frame.drop(columns=["mean_se", "sd_estimate"]).round(4).to_string(index=False))
    table = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()} for row in table]
    return {"did_calibration": table, "replications": reps, "n_boot": n_boot,
            "seconds": round(time.perf_counter() - t0, 1)}


if __name__ == "__main__":
    main()
    sys.exit(0)
