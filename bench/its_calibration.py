"""Calibration of the ITS defaults by simulation (issue #12, item 1): bias, coverage and null rejection of the
level-change and slope-change tests of :class:`beyond_averages.its.SegmentedRegression` for each candidate handling
of overdispersion and autocorrelation, with Monte Carlo standard errors.

Data-generating processes (written here, independent of the package's own simulators; public API only):

* one monthly series of 84 months (January 2018 to December 2024), interruption in month 48 (January 2022, the
  first post month); ``time`` = 0 .. 83;
* counts (``nb``, ``nb_ar0.3``, ``nb_ar0.6``): denominator 1000 a month, ``log mu_t = log(1000) + log(0.2)
  + 0.004 t + u_t (+ effect)``, ``u_t`` a stationary AR(1) with marginal SD 0.10 (another in ``nb_ar<rho>_sd<sd>``)
  and lag-1 correlation rho (none in ``nb``), and ``y_t ~ negative binomial(mean mu_t, size 50)`` (variance
  ``mu + mu^2 / 50``: a Pearson dispersion of about 5 at ``mu`` = 200; the AR(1) part adds a variance of about
  (0.1 mu)^2 = 400 at ``mu`` = 200, so about a third of the Pearson variance is autocorrelated);
* Gaussian (``gauss_ar0.3``, ``gauss_ar0.6``): ``y_t = 50 + 0.05 t + e_t (+ effect)``, ``e_t`` a stationary AR(1)
  with marginal SD 1;
* planted effect (for bias and coverage): level change 0.10 and slope change 0.002 per month on the log scale for
  counts, 1.0 and 0.05 for the Gaussian series; the null replicate (for rejection) is the same draw without it.

Each replicate fits every candidate; a fit that fails counts as a miss and a rejection (reported in ``failed``).
Usage: ``python bench/its_calibration.py [--replicates N] [--quick] [--seed S] [--settings a,b] [--json PATH]``
(``--settings nb_ar0.45``: any other rho; ``nb_ar0.6_sd0.2``: another size of the AR(1) part; see :func:`setting`);
``--quick`` runs 8 replicates of every setting (a check that the script runs, a few minutes on a busy machine).
Cost: REML fits dominate. ``--quick`` (8 replicates of all five settings) took 57 s on the shared 2-core machine
(load about 10), so the full 500-replicate run is about an hour there; at the heaviest load seen (load 15) a count
replicate took up to 6.5 s, which would make it about 3 h. One process, one BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# One BLAS thread: these are many tiny fits, and multithreaded BLAS on a shared 2-core machine was 3-10x slower.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 -- after the thread settings above
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from bands import COVERAGE_BAND, REJECTION_BAND, row_verdict  # noqa: E402 -- bench/, beside this script
from beyond_averages.its import SegmentedRegression  # noqa: E402

N_MONTHS, T0_INDEX = 84, 48
AR_SD = 0.10  # marginal SD of the counts' AR(1) part on the log scale, unless a setting names another
MONTHS = pd.date_range("2018-01-01", periods=N_MONTHS, freq="MS")
T0 = MONTHS[T0_INDEX]
TERMS = ("level", "slope")
EFFECTS = {"count": {"level": 0.10, "slope": 0.002}, "gaussian": {"level": 1.0, "slope": 0.05}}
SETTINGS = {  # name -> (kind, rho of the AR(1) process or None)
    "nb": ("count", None), "nb_ar0.3": ("count", 0.3), "nb_ar0.6": ("count", 0.6),
    "gauss_ar0.3": ("gaussian", 0.3), "gauss_ar0.6": ("gaussian", 0.6),
}
CANDIDATES = {  # estimator label -> SegmentedRegression options
    "count": {"poisson / none (old default)": {"family": "poisson", "autocorrelation": "none"},
              "quasipoisson / none": {"family": "quasipoisson", "autocorrelation": "none"},
              "quasipoisson / newey_west": {"family": "quasipoisson", "autocorrelation": "newey_west"},
              "poisson / gls (default)": {"family": "poisson", "autocorrelation": "gls"}},
    "gaussian": {"gaussian / none (old default)": {"autocorrelation": "none"},
                 "gaussian / newey_west": {"autocorrelation": "newey_west"},
                 "gaussian / gls (default)": {"autocorrelation": "gls"}},
}


def ar1(rng: np.random.Generator, n: int, rho: float | None, sd: float) -> np.ndarray:
    """A stationary AR(1) series with marginal SD ``sd`` (zeros when ``rho`` is None)."""
    if rho is None:
        return np.zeros(n)
    e = rng.normal(0.0, sd * np.sqrt(1 - rho ** 2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + e[t]
    return out


def simulate(kind: str, rho: float | None, rng: np.random.Generator,
             ar_sd: float = AR_SD) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(planted, null) series sharing one noise draw; ``ar_sd``: marginal SD of the AR(1) part on the log scale of
    the count mean (the Gaussian series' AR(1) noise has SD 1)."""
    t = np.arange(N_MONTHS, dtype=float)
    post = (t >= T0_INDEX).astype(float)
    eff = EFFECTS[kind]
    shift = eff["level"] * post + eff["slope"] * post * (t - T0_INDEX)
    if kind == "count":
        den = np.full(N_MONTHS, 1000.0)
        base = np.log(den) + np.log(0.2) + 0.004 * t + ar1(rng, N_MONTHS, rho, ar_sd)
        size = 50.0
        gamma = rng.gamma(size, 1.0 / size, N_MONTHS)  # NB as a Poisson-gamma mixture: same gamma for both
        uniform = rng.random(N_MONTHS)
        frames = []
        for s in (shift, np.zeros(N_MONTHS)):
            y = stats.poisson.ppf(uniform, np.exp(base + s) * gamma)  # common random numbers
            frames.append(pd.DataFrame({"month": MONTHS, "numerator": y, "denominator": den}))
        return frames[0], frames[1]
    noise = ar1(rng, N_MONTHS, rho, 1.0)
    base = 50 + 0.05 * t + noise
    return (pd.DataFrame({"month": MONTHS, "y": base + shift}), pd.DataFrame({"month": MONTHS, "y": base}))


def _fit(data: pd.DataFrame, kind: str, options: dict):
    kw = {"outcome": "y"} if kind == "gaussian" else {}
    try:
        return SegmentedRegression(data, T0, **kw, **options).tidy().set_index("term")
    except Exception:  # noqa: BLE001 -- a failed fit is counted, not fatal, in a Monte Carlo
        return None


def setting(name: str) -> tuple[str, float | None, int, float]:
    """(kind, rho, random-number stream, SD of the counts' AR(1) part) of a setting: one of ``SETTINGS``, or any
    ``nb_ar<rho>`` or ``gauss_ar<rho>`` (e.g. ``nb_ar0.45``, to find where a default stops being calibrated), a count
    one optionally with ``_sd<sd>`` (e.g. ``nb_ar0.6_sd0.2``: the AR(1) part's marginal SD on the log scale, 0.10
    unless given; how large the autocorrelated share of the variance is). Every such extra setting draws from one
    stream of its own (the same random numbers at every rho and SD), after the five standard ones."""
    if name in SETTINGS:
        kind, rho = SETTINGS[name]
        return kind, rho, list(SETTINGS).index(name), AR_SD
    for prefix, kind in (("nb_ar", "count"), ("gauss_ar", "gaussian")):
        if name.startswith(prefix):
            rho_text, _, sd_text = name[len(prefix):].partition("_sd")
            if sd_text and kind == "gaussian":
                break  # the Gaussian series' noise is AR(1) alone: its SD only scales everything
            try:
                rho, sd = float(rho_text), float(sd_text) if sd_text else AR_SD
            except ValueError:
                break
            if 0 <= rho < 1 and sd > 0:
                return kind, rho, len(SETTINGS), sd
    raise SystemExit(f"--settings: {name!r} is not one of {', '.join(SETTINGS)} nor nb_ar<rho>[_sd<sd>] / "
                     "gauss_ar<rho> with 0 <= rho < 1 and sd > 0")


def run_setting(name: str, replicates: int, seed: int) -> pd.DataFrame:
    kind, rho, index, ar_sd = setting(name)
    truth = EFFECTS[kind]
    rows = {(est, term): {"est": [], "cover": 0, "reject": 0, "failed": 0}
            for est in CANDIDATES[kind] for term in TERMS}
    for i in range(replicates):
        rng = np.random.default_rng([seed, index, i])
        planted, null = simulate(kind, rho, rng, ar_sd)
        for est, options in CANDIDATES[kind].items():
            tp, tn = _fit(planted, kind, options), _fit(null, kind, options)
            for term in TERMS:
                acc = rows[(est, term)]
                if tp is None or tn is None:
                    acc["failed"] += 1
                    acc["reject"] += 1
                    continue
                r = tp.loc[term]
                acc["est"].append(r["estimate"] - truth[term])
                acc["cover"] += int(r["ci_lower"] <= truth[term] <= r["ci_upper"])
                acc["reject"] += int(tn.loc[term, "p_value"] < 0.05)
    out = []
    for (est, term), acc in rows.items():
        cov, rej = acc["cover"] / replicates, acc["reject"] / replicates
        out.append({"setting": name, "estimator": est, "term": term, "replications": replicates,
                    "bias": float(np.mean(acc["est"])) if acc["est"] else np.nan,
                    "coverage": cov, "coverage_mc_se": float(np.sqrt(cov * (1 - cov) / replicates)),
                    "null_rejection": rej, "null_rejection_mc_se": float(np.sqrt(rej * (1 - rej) / replicates)),
                    "failed": acc["failed"]})
    return pd.DataFrame(out)


def format_table(table: pd.DataFrame) -> str:
    show = table.assign(
        bias=table["bias"].map(lambda v: f"{v:+.4f}"),
        coverage=[f"{c:.3f} ({s:.3f})" for c, s in zip(table["coverage"], table["coverage_mc_se"])],
        null_rejection=[f"{r:.3f} ({s:.3f})" for r, s in zip(table["null_rejection"],
                                                                table["null_rejection_mc_se"])])
    show["bands"] = [row_verdict(c, r, n) for c, r, n in zip(table["coverage"], table["null_rejection"],
                                                              table["replications"])]
    cols = ["setting", "estimator", "term", "replications", "bias", "coverage", "null_rejection", "failed", "bands"]
    return show[cols].to_string(index=False)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="8 replicates per setting: a quick check that the script runs")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--settings", default=",".join(SETTINGS),
                    help="comma-separated, from " + ", ".join(SETTINGS) + " or nb_ar<rho> / gauss_ar<rho>")
    ap.add_argument("--json", default="", help="also write the table as JSON here")
    args = ap.parse_args(argv)
    replicates = 8 if args.quick else args.replicates
    start = time.perf_counter()
    parts = []
    for name in args.settings.split(","):
        parts.append(run_setting(name, replicates, args.seed))
        print(f"  {name}: done after {time.perf_counter() - start:.0f} s", flush=True)
    table = pd.concat(parts, ignore_index=True)
    seconds = time.perf_counter() - start
    print("ITS calibration: bias, coverage (Monte Carlo SE) and null rejection at nominal 5% (Monte Carlo SE)")
    print(format_table(table))
    print(f"{seconds:.0f} s; coverage band {COVERAGE_BAND[0]:.3f}-{COVERAGE_BAND[1]:.3f}, rejection band "
          f"{REJECTION_BAND[0]:.3f}-{REJECTION_BAND[1]:.3f} (issue #12)")
    result = {"replicates": replicates, "seed": args.seed, "seconds": round(seconds, 1),
              "table": table.to_dict(orient="records")}
    if args.json:
        from beyond_averages.files import write_text

        write_text(args.json, json.dumps(result, indent=1, default=float))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
