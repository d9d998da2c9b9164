"""Planted-effect recovery: the DiD and ITS chapters' estimators, run on the compendium's own synthetic extract,
compared with the exact effect the generator wrote to ``ground_truth_<area>.parquet``.

Used by ``tests/test_recovery.py`` (small extracts) and ``make bench`` (``bench/run_bench.py``: medium scale,
several seeds). :func:`make_extract` generates one scenario's extract and measures; :func:`did_truth` and
:func:`its_truth` compute the estimands from the ground truth for the same practices, quintiles and months;
:func:`did_recovery`, :func:`its_recovery` and :func:`its_controlled_recovery` put each estimate beside its truth;
:func:`recovery` runs every scenario and seed and :func:`recovery_summary` summarises bias and coverage.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from beyond_averages import config
from beyond_averages.did import GroupTimeATT, TwoWayFixedEffects, build_did_panel
from beyond_averages.its import run_its_analysis, wave_practices
from beyond_averages.measures import attach_programme, compute_measures
from beyond_averages.synth import generate_area, generate_population

AREA = "hypertension_case_finding"
SCENARIOS = ("null", "uniform", "narrowing", "widening")
# The sign the Q1 - Q5 difference in effect should have: + when the most deprived gain more (narrowing).
EXPECTED_SIGN = {"null": 0, "uniform": 0, "narrowing": 1, "widening": -1}
MEDIUM = dict(scale=0.3, n_practices=285)          # about 600,000 patients: one scenario in about a minute
RECOVERY_SEEDS = (20261126, 11, 12, 13, 14)        # the study seed first; the others replicate the extract
ITS_HORIZONS = (6, 12, 24)


# ---------------------------------------------------------------------------------------------------------------
# Extracts
# ---------------------------------------------------------------------------------------------------------------
def make_extract(out_dir: Path, scenario: str, *, scale: float, n_practices: int, seed: int,
                 area: str = AREA, population: bool = True) -> dict:
    """Generate (population and) one area into ``out_dir`` and write its measures to ``measures_<area>.parquet``.

    Returns the paths and the loaded tables: ``measures`` (with ``programme_start``), ``programme``, ``truth``.
    The population does not depend on the scenario, so ``population=False`` reuses the one already there.
    """

    study = config.load_study()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kw = dict(scale=scale, n_practices=n_practices, seed=seed, scenario=scenario)
    if population:
        generate_population(out_dir, study, progress=False, **kw)
    generate_area(area, out_dir, study, progress=False, **kw)
    area_obj = config.load_area(area)
    measures = compute_measures(area_obj, out_dir, study)
    measures_path = out_dir / f"measures_{area}.parquet"
    measures.to_parquet(measures_path, index=False)
    programme = pd.read_parquet(out_dir / f"programme_{area}.parquet")
    truth = pd.read_parquet(out_dir / f"ground_truth_{area}.parquet")
    return {"measures_path": measures_path, "programme_path": out_dir / f"programme_{area}.parquet",
            "measures": attach_programme(measures, programme), "programme": programme, "truth": truth}


def _with_truth(measures: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Measures joined to the ground truth; the two must count the same patients (checked, not assumed)."""
    t = truth.rename(columns={"numerator": "numerator_truth", "denominator": "denominator_truth"})
    t["month"] = pd.to_datetime(t["month"]).astype("datetime64[s]")
    m = measures.copy()
    m["month"] = pd.to_datetime(m["month"]).astype("datetime64[s]")
    out = m.merge(t, on=["practice_id", "imd_quintile", "month"], how="left", validate="one_to_one")
    if out["numerator_counterfactual"].isna().any() or not (
            (out["numerator"] == out["numerator_truth"]) & (out["denominator"] == out["denominator_truth"])).all():
        raise ValueError("measures and ground truth disagree: the measures no longer count what the generator "
                         "simulated, so the truth cannot be compared with estimates")
    return out


# ---------------------------------------------------------------------------------------------------------------
# DiD: group-time ATT by quintile vs its exact estimand
# ---------------------------------------------------------------------------------------------------------------
def did_truth(joined: pd.DataFrame) -> pd.DataFrame:
    """The exact estimand of ``GroupTimeATT(by="imd_quintile", weights="denominator", comparison="never_treated")``
    (simple aggregation) computed from the ground truth.

    The estimator's unit is a practice x quintile, kept only if its denominator is positive in every month (the
    estimator balances the panel). Unit effect in month t: ``tau_it = 100 (num - num_cf) / den`` (0 for never
    adopters, whose counterfactual is what they did). With unit weights ``w_i`` = the unit's mean denominator,
    ``ATT(g, t) = sum_{i in g} w_i (tau_it - tau_i,g-1) / sum_{i in g} w_i`` for every post cell t >= g, and the
    simple aggregate weights cells by their adoption wave's total weight ``p_g``: ``sum p_g ATT(g,t) / sum p_g``. (The
    control-group term has expectation equal to the treated counterfactual change under parallel trends, which the
    generator satisfies by construction, so it contributes no effect.) Also returned: ``pooled`` = 100 sum(num -
    num_cf) / sum(den) over the same units' post-adoption months (the patient-level ATT), for comparison.

    Returns one row per quintile and a ``"1-5"`` row: ``imd_quintile, truth, pooled, n_units``.
    """
    rows = []
    for q, part in joined.groupby("imd_quintile", sort=True):
        part = part.sort_values(["practice_id", "month"])
        keep = part.groupby("practice_id")["denominator"].transform("min") > 0
        part = part[keep]
        months = np.sort(part["month"].unique())
        n_t = len(months)
        units = part["practice_id"].unique()
        den = part["denominator"].to_numpy(float).reshape(len(units), n_t)
        tau = (100 * (part["numerator"] - part["numerator_counterfactual"]).to_numpy(float)
               .reshape(len(units), n_t) / den)
        start = part.groupby("practice_id", sort=True)["programme_start"].first().reindex(units)
        g = np.array([np.searchsorted(months, np.datetime64(s, "s")) if pd.notna(s) else -1 for s in start])
        w = den.mean(1)
        num = wsum = 0.0
        for gc in np.unique(g[g >= 0]):
            treat = g == gc
            pg = w[treat].sum()
            for t in range(gc, n_t):
                att = (w[treat] * (tau[treat, t] - tau[treat, gc - 1])).sum() / w[treat].sum()
                num += pg * att
                wsum += pg
        post = (g[:, None] >= 0) & (np.arange(n_t)[None, :] >= g[:, None])
        eff = (part["numerator"] - part["numerator_counterfactual"]).to_numpy(float).reshape(len(units), n_t)
        rows.append({"imd_quintile": str(q), "truth": num / wsum, "pooled": 100 * eff[post].sum() / den[post].sum(),
                     "n_units": int(len(units))})
    out = pd.DataFrame(rows)
    q1, q5 = out.set_index("imd_quintile").loc["1"], out.set_index("imd_quintile").loc["5"]
    contrast = {"imd_quintile": "1-5", "truth": q1["truth"] - q5["truth"], "pooled": q1["pooled"] - q5["pooled"],
                "n_units": int(q1["n_units"] + q5["n_units"])}
    return pd.concat([out, pd.DataFrame([contrast])], ignore_index=True)


def did_recovery(measures: pd.DataFrame, truth: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Group-time ATT (headline) and static TWFE by quintile with their Q1 - Q5 contrasts, against the truth.

    The group-time ATT is judged against its exact estimand (:func:`did_truth` ``truth``); TWFE, whose implicit
    weights are not an ATT when effects ramp up over time, is judged against the patient-level ATT (``pooled``),
    which is what a reader takes it to mean.
    """

    joined = _with_truth(measures, truth)
    target = did_truth(joined).set_index("imd_quintile")
    panel = build_did_panel(measures.drop(columns=["programme_start"]), measures[["practice_id", "programme_start"]]
                            .drop_duplicates("practice_id").dropna())
    common = dict(outcome="outcome", unit="practice_id", time="month", first_treated="programme_start",
                  by="imd_quintile", weights="denominator")
    gta_fit = GroupTimeATT(panel, comparison="never_treated", **common)
    gta = pd.concat([gta_fit.tidy(), gta_fit.contrast(1, 5)], ignore_index=True)
    gta["imd_quintile"] = [t.split("=")[1] if " - " not in t else "1-5" for t in gta["term"]]
    twfe = TwoWayFixedEffects(panel, contrast=(1, 5), **common).summary()
    twfe["imd_quintile"] = [t.split("=")[1] if " - " not in t else "1-5" for t in twfe["term"]]
    rows = []
    for name, tab, col in (("group_time_att", gta, "truth"), ("twfe", twfe, "pooled")):
        for r in tab.itertuples():
            tr = float(target.loc[r.imd_quintile, col])
            rows.append({"scenario": scenario, "method": name, "imd_quintile": r.imd_quintile,
                         "estimate": r.estimate, "std_error": r.std_error, "ci_lower": r.ci_lower,
                         "ci_upper": r.ci_upper, "truth": tr, "estimand": col})
    return _judge(pd.DataFrame(rows), scenario)


# ---------------------------------------------------------------------------------------------------------------
# ITS: per-quintile and Q1-vs-Q5 effects at horizons vs the truth in the same month
# ---------------------------------------------------------------------------------------------------------------
def its_truth(joined: pd.DataFrame, practices, months) -> pd.DataFrame:
    """The ITS estimand: in month ``t0 + h`` the effect on the wave's pooled quintile series,
    ``100 sum(num - num_cf) / sum(den)`` over the wave's practices (what the fitted-minus-counterfactual
    difference of a segmented regression of that series targets). Rows per quintile and ``"1-5"`` per month."""
    sub = joined[joined["practice_id"].isin(set(practices)) & joined["month"].isin(pd.to_datetime(months))]
    g = sub.groupby(["month", "imd_quintile"])[["numerator", "numerator_counterfactual", "denominator"]].sum()
    g["truth"] = 100 * (g["numerator"] - g["numerator_counterfactual"]) / g["denominator"]
    wide = g["truth"].unstack("imd_quintile")
    out = wide.stack().rename("truth").reset_index()
    out["imd_quintile"] = out["imd_quintile"].astype(str)
    contrast = (wide[1] - wide[5]).rename("truth").reset_index().assign(imd_quintile="1-5")
    return pd.concat([out, contrast], ignore_index=True)


def its_recovery(measures_path, programme_path, truth: pd.DataFrame, measures: pd.DataFrame, scenario: str,
                 horizons=ITS_HORIZONS, **its_options) -> pd.DataFrame:
    """The ITS chapter's secondary, uncontrolled analysis (``run_its_analysis`` defaults: wave 1, gaussian, Fourier
    seasonality, March 2020 to the wave's start left out) per quintile and for Q1 - Q5, at each horizon."""

    an = run_its_analysis(measures_path, programme_path, area=AREA, horizons=horizons, **its_options)
    per_q = an.quintile_effects()
    per_q = per_q[per_q["measure"] == "absolute"].assign(imd_quintile=lambda d: d["imd_quintile"].astype(str))
    con = an.contrast.effect_summary(horizons)
    con = con[(con["measure"] == "absolute") & con["group"].str.contains(" - ")].assign(imd_quintile="1-5")
    est = pd.concat([per_q, con], ignore_index=True)
    ids, _ = wave_practices(pd.read_parquet(programme_path), an.wave)
    joined = _with_truth(measures, truth)
    target = its_truth(joined, ids, est["month"].unique())
    est["month"] = pd.to_datetime(est["month"])
    out = est.merge(target, on=["month", "imd_quintile"], how="left")
    out = out.assign(scenario=scenario, method=lambda d: "its_h" + d["horizon"].astype(int).astype(str),
                     estimand="pooled_month")
    cols = ["scenario", "method", "imd_quintile", "estimate", "std_error", "ci_lower", "ci_upper", "truth",
            "estimand"]
    return _judge(out[cols], scenario)


def its_controlled_recovery(measures_path, programme_path, truth: pd.DataFrame, measures: pd.DataFrame,
                            scenario: str, horizons=ITS_HORIZONS) -> pd.DataFrame:
    """The ITS chapter's headline, the controlled ITS by quintile (``run_its_analysis`` defaults), per quintile and
    Q1 - Q5 at each horizon, against the truth (methods ``its_controlled_h<h>``).

    Estimand (:func:`run_bench.its_truth`): in month ``t0 + h``, ``100 sum(num - num_cf) / sum(den)`` over the
    wave's practices in the quintile. The comparison (never-adopting) practices have no effect, so the true
    controlled effect, adopters minus comparison, is the adopters' own effect; the Q1 - Q5 truth is the difference
    of the two quintiles' truths."""

    an = run_its_analysis(measures_path, programme_path, area=AREA, horizons=horizons)
    est = an.controlled_effects().rename(columns={"group": "imd_quintile"})
    est["imd_quintile"] = est["imd_quintile"].str.replace(" ", "")  # "1 - 5" -> "1-5", as its_truth
    ids, _ = wave_practices(pd.read_parquet(programme_path), an.wave)
    target = its_truth(_with_truth(measures, truth), ids, est["month"].unique())
    est["month"] = pd.to_datetime(est["month"])
    out = est.merge(target, on=["month", "imd_quintile"], how="left", validate="one_to_one")
    out = out.assign(scenario=scenario, method=lambda d: "its_controlled_h" + d["horizon"].astype(str),
                     estimand="pooled_month")
    cols = ["scenario", "method", "imd_quintile", "estimate", "std_error", "ci_lower", "ci_upper", "truth",
            "estimand"]
    return _judge(out[cols], scenario)


def _judge(frame: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Bias, coverage, |error| in SEs, and (for the contrast) whether the sign is right: a CI wholly on the
    expected side for narrowing/widening, a CI covering 0 for null/uniform."""
    out = frame.copy()
    out["bias"] = out["estimate"] - out["truth"]
    out["z_error"] = out["bias"] / out["std_error"]
    out["covers_truth"] = (out["ci_lower"] <= out["truth"]) & (out["truth"] <= out["ci_upper"])
    sign = EXPECTED_SIGN[scenario]
    is_c = out["imd_quintile"] == "1-5"
    if sign > 0:
        ok = out["ci_lower"] > 0
    elif sign < 0:
        ok = out["ci_upper"] < 0
    else:
        ok = (out["ci_lower"] <= 0) & (out["ci_upper"] >= 0)
    out["contrast_sign_ok"] = np.where(is_c, ok, np.nan)
    out["contrast_point_sign_ok"] = np.where(is_c, (np.sign(out["estimate"]) == sign) if sign else ok, np.nan)
    return out


def recovery(scenarios=SCENARIOS, seeds=RECOVERY_SEEDS[:1], settings=MEDIUM, work_dir: Path | None = None,
             log=print) -> pd.DataFrame:
    """DiD and ITS recovery for every scenario and seed (one population per seed, reused by the scenarios)."""
    frames = []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for seed in seeds:
            for k, scenario in enumerate(scenarios):
                t = time.perf_counter()
                ex = make_extract(Path(tmp), scenario, seed=seed, population=k == 0, **settings)
                did = did_recovery(ex["measures"], ex["truth"], scenario)
                try:
                    its = pd.concat([
                        its_recovery(ex["measures_path"], ex["programme_path"], ex["truth"], ex["measures"],
                                     scenario),
                        its_controlled_recovery(ex["measures_path"], ex["programme_path"], ex["truth"],
                                                ex["measures"], scenario)], ignore_index=True)
                except Exception as err:  # noqa: BLE001 (reported in the table, e.g. disclosure redaction)
                    its = pd.DataFrame([{"scenario": scenario, "method": "its", "error": str(err)[:300]}])
                part = pd.concat([did, its], ignore_index=True).assign(seed=seed)
                frames.append(part)
                log(f"  recovery: scenario {scenario:9s} seed {seed}: {time.perf_counter() - t:.0f} s")
    return net_of_null(pd.concat(frames, ignore_index=True))


def net_of_null(rec: pd.DataFrame) -> pd.DataFrame:
    """Add ``net_bias`` = (estimate - the null scenario's estimate, same seed) - truth.

    The generator draws the same random numbers in every scenario and the null scenario's numerator is the others'
    counterfactual, so subtracting the null estimate removes the error every scenario shares (sampling, practice
    effects, the COVID-19 dip). What is left is the estimator's systematic error for that effect shape: exactly 0
    for a linear estimator of the right estimand (the group-time ATT), not for TWFE or a misspecified ITS.
    """
    if "estimate" not in rec or "null" not in set(rec["scenario"]):
        return rec.assign(net_bias=np.nan)
    keys = ["seed", "method", "imd_quintile"]
    base = rec.loc[rec["scenario"] == "null", keys + ["estimate"]].rename(columns={"estimate": "null_estimate"})
    out = rec.merge(base, on=keys, how="left")
    out["net_bias"] = out["estimate"] - out["null_estimate"] - out["truth"]
    return out.drop(columns="null_estimate")


def recovery_summary(rec: pd.DataFrame) -> pd.DataFrame:
    """Per scenario x method x quintile over seeds: mean truth, estimate, bias and net-of-null bias, mean SE,
    largest |error| / SE, CI coverage of the truth, and (contrast rows) the share with the right sign."""
    ok = rec[rec["estimate"].notna()] if "estimate" in rec else rec.iloc[:0]
    return (ok.groupby(["scenario", "method", "imd_quintile"], sort=False)
              .agg(n=("seed", "size"), truth=("truth", "mean"), estimate=("estimate", "mean"),
                   bias=("bias", "mean"), net_bias=("net_bias", "mean"), mean_se=("std_error", "mean"),
                   max_abs_z=("z_error", lambda z: z.abs().max()),
                   coverage=("covers_truth", "mean"), sign_ok=("contrast_sign_ok", "mean"))
              .reset_index())
