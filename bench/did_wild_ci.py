"""Wild cluster bootstrap intervals (test inversion) for TWFE with few treated clusters, by Monte Carlo, and the
cost of a HonestDiD sensitivity analysis (issue #12).

Setting: G clusters (practices), half adopting in period 4 of 6, ``y = cluster level + 0.2 t + effect * D +
cluster-specific effect shock (sd 0.5) * D + noise (sd 0.5)``: the effect varies between treated clusters, which
is what makes cluster-robust inference with few treated clusters fragile. Scenarios: ``null`` (effect 0: rejection
at 5% of the analytic CR1 t(G - 1) test and of the wild bootstrap test) and ``effect`` (effect 1: coverage of both
95% intervals). Each row: replications, coverage or rejection with its Monte Carlo SE sqrt(p(1 - p)/R), mean width
of the wild interval over the analytic one.

HonestDiD timing: one Delta^RM (C-LF, Mbar 0..2) and one Delta^SD (FLCI, M 0..0.3) analysis of an event study with
4 pre- and 4 post-periods (a fixed synthetic betahat and sigma), default grid of 1,000 points.

Usage: ``python bench/did_wild_ci.py [--replicates N] [--n-boot B] [--quick]``; ``main()`` returns the tables as a
JSON-able dict. ``--quick``: 30 replications with 199 draws and a 100-point HonestDiD grid, about a minute.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

from replication_args import parse_replication_args
from beyond_averages.did import TwoWayFixedEffects, honest_sensitivity


def panel(n_clusters: int, effect: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_clusters), 6)
    period = np.tile(np.arange(1, 7), n_clusters)
    first = np.where(unit % 2 == 0, 4, 0)
    d = (first > 0) & (period >= first)
    y = (rng.normal(0, 1, n_clusters)[unit] + 0.2 * period + effect * d
         + rng.normal(0, 0.5, n_clusters)[unit] * d + rng.normal(0, 0.5, unit.size))
    return pd.DataFrame({"unit": unit, "period": period, "first": first, "y": y})


def one(n_clusters: int, effect: float, seed: int, n_boot: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the few-treated-clusters warning, expected here
        row = TwoWayFixedEffects(panel(n_clusters, effect, seed), outcome="y", unit="unit", time="period",
                                 first_treated="first", wild_bootstrap=n_boot, seed=seed).tidy().iloc[0]
    return {"analytic_covers": row["ci_lower"] < effect < row["ci_upper"],
            "wild_covers": row["wild_ci_lower"] < effect < row["wild_ci_upper"],
            "analytic_rejects_0": row["p_value"] <= 0.05, "wild_rejects_0": row["wild_p_value"] <= 0.05,
            "width_ratio": (row["wild_ci_upper"] - row["wild_ci_lower"]) / (row["ci_upper"] - row["ci_lower"])}


def honest_timing(grid_points: int) -> list[dict]:
    b = np.array([0.01, 0.03, -0.01, 0.07, 0.2, 0.31, 0.24, 0.13])
    idx = np.arange(8)
    sigma = 4e-4 * 0.5 ** np.abs(idx[:, None] - idx[None, :])
    out = []
    for label, options in (("DeltaRM C-LF, 5 Mbar", {"mbar": [0, 0.5, 1, 1.5, 2]}),
                           ("DeltaSD FLCI, 4 M", {"m": [0, 0.1, 0.2, 0.3]})):
        t0 = time.perf_counter()
        honest_sensitivity(b, sigma, 4, 4, grid_points=grid_points, **options)
        out.append({"analysis": label, "grid_points": grid_points, "seconds": round(time.perf_counter() - t0, 2)})
    return out


def main(argv: list[str] | None = None) -> dict:
    a = parse_replication_args(argv, __doc__.split("\n")[0], quick=(30, 199))
    reps, n_boot = a.reps, a.n_boot
    t0 = time.perf_counter()
    table = []
    for g in (12, 24, 48):
        for scenario, effect in (("null", 0.0), ("effect", 1.0)):
            rows = pd.DataFrame([one(g, effect, a.seed + 1000 * g + r + (0 if effect else 500_000), n_boot)
                                 for r in range(reps)])
            for est in ("analytic", "wild"):
                share = rows[f"{est}_rejects_0" if scenario == "null" else f"{est}_covers"].mean()
                table.append({"clusters": g, "treated": g // 2, "scenario": scenario, "interval": est,
                              "replications": reps,
                              "measure": "rejection at 5%" if scenario == "null" else "coverage of 95%",
                              "value": float(share), "mc_se": float(np.sqrt(share * (1 - share) / reps)),
                              "width_wild_over_analytic": float(rows["width_ratio"].mean())})
    frame = pd.DataFrame(table)
    timing = honest_timing(100 if a.quick else 1000)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"TWFE wild cluster bootstrap intervals ({reps} replications, {n_boot} draws, Webb weights)")
        print(frame.round(4).to_string(index=False))
        print("HonestDiD sensitivity, 4 pre + 4 post periods")
        print(pd.DataFrame(timing).to_string(index=False))
    return {"did_wild_ci": table, "honest_timing": timing, "replications": reps, "n_boot": n_boot,
            "seconds": round(time.perf_counter() - t0, 1)}


if __name__ == "__main__":
    main()
    sys.exit(0)
