"""Planted-effect recovery judged against the truth itself: the DiD and ITS chapters' headline estimators, run on
the compendium's own synthetic extract, beside the exact effect the generator wrote to
``ground_truth_<area>.parquet``.

Nothing is netted out. Every row compares an estimate and its CI with its estimand computed from the ground truth
(same practices, quintiles, months and weights), so whatever misleads a reader of the chapter (non-parallel
counterfactual trends of adopters, a misspecified counterfactual) shows as bias and lost coverage. Used by
``tests/test_recovery.py`` (small extracts), ``bench/recovery_study.py`` (seeds x scenarios x scales) and
``bench/run_bench.py``.

Per row: ``scenario, seed, method, target`` (``"1"``..``"5"`` a quintile, ``"1-5"`` the Q1 - Q5 difference,
``"gap"``/``"sii"`` the within-practice inequality), ``horizon`` (ITS months; missing for DiD), ``estimand`` (a
readable name), ``estimate, std_error, ci_lower, ci_upper, truth, bias, covered``, ``narrowing`` (the sign of an
estimate that means the inequality narrowed: 0 for a single quintile) and ``planted`` (the sign the generator
planted, oriented like the estimate). The conclusion a chapter would draw and whether it matches the planted
direction come from :func:`beyond_averages.report.conclusions.judge_conclusions` (the report layer, above this one).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from beyond_averages import config
from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED
from beyond_averages.did import DidSettings, build_did_panel, within_practice_inequality
from beyond_averages.did.panel import inequality_weights
from beyond_averages.did.analysis import group_time_fitter
from beyond_averages.did.sparse import DEFAULT_RULE, SparseRule
from beyond_averages.its import run_its_analysis, wave_practices
from beyond_averages.measures import attach_programme, compute_measures
from beyond_averages.synth import generate_area, generate_population

AREA = "hypertension_case_finding"
# The scenarios whose planted effects differ by deprivation (the `ethnicity` scenario has its own check:
# tests/test_ethnicity_scenario.py): null, uniform, narrowing, widening, selection.
SCENARIOS = tuple(s for s in config.SCENARIOS if s != "ethnicity")
MEDIUM = dict(scale=0.3, n_practices=285)          # about 600,000 patients
RECOVERY_SEEDS = (20261126, 11, 12, 13, 14)        # the study seed first; the others replicate the extract
ITS_HORIZONS = (6, 12, 24)                         # the ITS chapter's horizons; its headline is the last
CONTRAST = f"{MOST_DEPRIVED}-{LEAST_DEPRIVED}"     # "1-5"
CHAPTER_DID = DidSettings()                        # the DiD chapter's defaults (notebooks/did.ipynb passes them)
DESIGNS = ("did", "its")
# Each design's version, recorded on its rows, so that a recorded study can be brought up to date after a change of
# one chapter's design by rerunning that design alone (bench/recovery_study.py --redo). Rows recorded before the
# tags existed are the first versions.
DESIGN_VERSION = {"did": "did 3: share term of the aggregates debiased (small_sample='cohort_share_debiased')",
                  "its": "its 2: intervals by the practice jackknife"}
FIRST_DESIGN_VERSION = {"did": "did 1", "its": "its 1"}
COLUMNS = ["scenario", "seed", "method", "target", "horizon", "estimand", "estimate", "std_error", "ci_lower",
           "ci_upper", "truth", "bias", "covered", "narrowing", "planted"]


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


def with_truth(measures: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
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
# Estimands from the ground truth
# ---------------------------------------------------------------------------------------------------------------
def gta_estimand(effect: np.ndarray, weight: np.ndarray, first: np.ndarray) -> float:
    """The simple aggregation of ``GroupTimeATT(weights=...)`` applied to the units' true effects.

    ``effect`` (units x months) is each unit's true effect (0 for never adopters and before adoption), ``weight``
    the unit weights, ``first`` the position of each unit's adoption month (-1: never). ``ATT(g, t) = sum_{i in g}
    w_i (tau_it - tau_i,g-1) / sum_{i in g} w_i`` for every post cell t >= g, averaged with weights ``p_g`` (the
    wave's total unit weight), as ``did``'s simple aggregation. The comparison units' change estimates the
    adopters' counterfactual change; the truth is what the estimator would return if it did so exactly.
    """
    n_t = effect.shape[1]
    num = wsum = 0.0
    for gc in np.unique(first[first >= 0]):
        treat = first == gc
        pg = weight[treat].sum()
        for t in range(gc, n_t):
            num += pg * (weight[treat] * (effect[treat, t] - effect[treat, gc - 1])).sum() / pg
            wsum += pg
    return num / wsum


def _first_positions(starts: pd.Series, months: np.ndarray) -> np.ndarray:
    return np.array([np.searchsorted(months, np.datetime64(s, "s")) if pd.notna(s) else -1 for s in starts])


def did_truth(joined: pd.DataFrame) -> pd.DataFrame:
    """The estimand of the chapter's group-time ATT by quintile (``weights="denominator"``, simple aggregation)
    from the ground truth: unit = practice x quintile, kept only if its denominator is positive in every month (the
    estimator balances the panel), effect ``100 (num - num_cf) / den``, weight its mean denominator
    (:func:`gta_estimand`). Also ``pooled`` = 100 sum(num - num_cf) / sum(den) over the same units' post-adoption
    months (the patient-level ATT). Rows per quintile and ``"1-5"``: ``target, truth, pooled, n_units``."""
    rows = []
    for q, part in joined.groupby("imd_quintile", sort=True):
        part = part.sort_values(["practice_id", "month"])
        part = part[part.groupby("practice_id")["denominator"].transform("min") > 0]
        months = np.sort(part["month"].unique())
        units = part["practice_id"].unique()
        shape = (len(units), len(months))
        den = part["denominator"].to_numpy(float).reshape(shape)
        eff = (part["numerator"] - part["numerator_counterfactual"]).to_numpy(float).reshape(shape)
        first = _first_positions(part.groupby("practice_id", sort=True)["programme_start"].first().reindex(units),
                                 months)
        post = (first[:, None] >= 0) & (np.arange(len(months))[None, :] >= first[:, None])
        rows.append({"target": str(q), "truth": gta_estimand(100 * eff / den, den.mean(1), first),
                     "pooled": 100 * eff[post].sum() / den[post].sum(), "n_units": len(units)})
    out = pd.DataFrame(rows).set_index("target")
    a, b = out.loc[str(MOST_DEPRIVED)], out.loc[str(LEAST_DEPRIVED)]
    out.loc[CONTRAST] = [a["truth"] - b["truth"], a["pooled"] - b["pooled"], a["n_units"] + b["n_units"]]
    return out.reset_index()


def inequality_truth(joined: pd.DataFrame, settings: DidSettings = CHAPTER_DID,
                     rule: SparseRule = DEFAULT_RULE) -> pd.DataFrame:
    """The estimands of the chapter's group-time ATT on the within-practice gap and SII: each practice-month's
    measure (:func:`beyond_averages.did.within_practice_inequality` under the sparse-quintile ``rule``) computed on
    the actual and on the counterfactual numerators (same denominators, so the same practices have it in every
    month), their difference the unit effect, weights the analysis's (:func:`~beyond_averages.did.panel.
    inequality_weights`: the gap's effective patients, the SII's eligible patients). Rows ``gap``, ``sii``:
    ``target, truth, n_units``."""
    cols = ["practice_id", "month", "imd_quintile", "denominator", "programme_start"]
    actual = within_practice_inequality(joined[cols + ["numerator"]], settings.outcome_scale, rule)
    cf = within_practice_inequality(joined[cols].assign(numerator=joined["numerator_counterfactual"]),
                                    settings.outcome_scale, rule)
    rows = []
    for measure in ("gap", "sii"):
        keep = actual[measure].notna().groupby(actual["practice_id"]).transform("all")
        a, c = actual[keep], cf[keep]
        months = np.sort(a["month"].unique())
        units = a["practice_id"].unique()
        shape = (len(units), len(months))
        eff = (a[measure] - c[measure]).to_numpy(float).reshape(shape)
        column = inequality_weights(measure, "denominator" if settings.weighting == "denominator" else None)
        weight = a[column].to_numpy(float).reshape(shape).mean(1) if column else np.ones(len(units))
        first = _first_positions(a.groupby("practice_id", sort=True)["programme_start"].first().reindex(units), months)
        rows.append({"target": measure, "truth": gta_estimand(eff, weight, first), "n_units": len(units)})
    return pd.DataFrame(rows)


def its_truth(joined: pd.DataFrame, practices, months) -> pd.DataFrame:
    """The ITS estimand: in month ``t0 + h`` the effect on the wave's pooled quintile series,
    ``100 sum(num - num_cf) / sum(den)`` over the wave's practices (never adopters have no effect, so this is also
    the controlled analysis's adopters-minus-comparison effect). Rows per quintile and ``"1-5"`` per month:
    ``month, target, truth``."""
    sub = joined[joined["practice_id"].isin(set(practices)) & joined["month"].isin(pd.to_datetime(months))]
    g = sub.groupby(["month", "imd_quintile"])[["numerator", "numerator_counterfactual", "denominator"]].sum()
    g["truth"] = 100 * (g["numerator"] - g["numerator_counterfactual"]) / g["denominator"]
    wide = g["truth"].unstack("imd_quintile")
    out = wide.stack().rename("truth").reset_index().rename(columns={"imd_quintile": "target"})
    out["target"] = out["target"].astype(str)
    contrast = (wide[MOST_DEPRIVED] - wide[LEAST_DEPRIVED]).rename("truth").reset_index().assign(target=CONTRAST)
    return pd.concat([out, contrast], ignore_index=True)


def its_stacked_truth(joined: pd.DataFrame, programme: pd.DataFrame, stacked, horizons) -> pd.DataFrame:
    """The estimand of the stacked controlled ITS (the chapter's headline): at horizon ``h`` the mean over the waves
    followed for ``h`` months of each wave's effect in its month ``start + h`` (``100 sum(num - num_cf) / sum(den)``
    over the wave's practices, as :func:`its_truth`), with the estimator's own wave weights
    (``stacked.horizon_weights(h)``: eligible patients in the month before each start). Rows per quintile and
    ``"1-5"`` (Q1's truth minus Q5's) per horizon: ``horizon, target, truth``."""
    rows = []
    for h in (int(x) for x in horizons):
        weights = stacked.horizon_weights(h)
        per_wave = []
        for wave, weight in weights.items():
            ids, start = wave_practices(programme, wave)
            t = its_truth(joined, ids, [start + pd.DateOffset(months=h)]).set_index("target")["truth"]
            per_wave.append(weight * t)
        total = sum(per_wave)
        rows += [{"horizon": h, "target": str(k), "truth": float(v)} for k, v in total.items()]
    return pd.DataFrame(rows)


def planted_direction(scenario: str, area: str = AREA) -> pd.DataFrame:
    """Per target, the sign the generator planted (oriented like the estimate) and the sign that means narrowing.

    From ``areas/<area>.yaml``: a quintile's planted effect; Q1 - Q5 the difference of Q1's and Q5's; the gap and
    SII (Q5 - Q1 orientation) the opposite. Narrowing is judged against the planted baseline
    (``baseline_by_quintile``): when Q5's level is above Q1's, a positive Q1 - Q5 effect narrows the inequality
    and a negative change in gap or SII does."""
    syn = config.load_area(area).synthetic
    eff = syn.effects_pp[scenario]
    base = np.sign(syn.baseline_by_quintile[LEAST_DEPRIVED] - syn.baseline_by_quintile[MOST_DEPRIVED]) or 1.0
    diff = eff[MOST_DEPRIVED] - eff[LEAST_DEPRIVED]
    rows = [{"target": str(q), "planted": np.sign(eff[q]), "narrowing": 0} for q in range(1, 6)]
    rows += [{"target": CONTRAST, "planted": np.sign(diff), "narrowing": base}]
    rows += [{"target": m, "planted": -np.sign(diff), "narrowing": -base} for m in ("gap", "sii")]
    return pd.DataFrame(rows).astype({"planted": int, "narrowing": int})


def _finish(frame: pd.DataFrame, scenario: str) -> pd.DataFrame:
    out = frame.merge(planted_direction(scenario), on="target", how="left", validate="many_to_one")
    out["bias"] = out["estimate"] - out["truth"]
    out["covered"] = (out["ci_lower"] <= out["truth"]) & (out["truth"] <= out["ci_upper"])
    h = out["horizon"].map(lambda v: "" if pd.isna(v) else f" at {int(v)} months")
    out["estimand"] = out["method"] + " " + out["target"].map(lambda t: t if t in ("gap", "sii") else
                                                              "Q1 - Q5" if t == CONTRAST else f"Q{t}") + h
    return out.assign(scenario=scenario)


# ---------------------------------------------------------------------------------------------------------------
# The chapters' headline estimates beside their truths
# ---------------------------------------------------------------------------------------------------------------
def _tidy_rows(tab: pd.DataFrame, method: str, target) -> pd.DataFrame:
    out = tab[["estimate", "std_error", "ci_lower", "ci_upper"]].reset_index(drop=True).copy()
    out.insert(0, "target", target)
    out.insert(0, "method", method)
    return out


def did_recovery(measures: pd.DataFrame, truth: pd.DataFrame, scenario: str,
                 settings: DidSettings = CHAPTER_DID) -> pd.DataFrame:
    """The DiD chapter's headline estimator (the group-time ATT, fitted as ``run_did_analysis`` fits it, with the
    chapter's default settings) by quintile, Q1 - Q5, and on the within-practice gap and SII, against the truth."""
    joined = with_truth(measures, truth)
    starts = measures[["practice_id", "programme_start"]].drop_duplicates("practice_id").dropna()
    panel = build_did_panel(measures.drop(columns=["programme_start"]), starts, outcome_scale=settings.outcome_scale)
    gta = group_time_fitter(settings)
    a, b = settings.contrast
    fit = gta(panel, "outcome", ["practice_id", "imd_quintile"], by="imd_quintile", source="did panel")
    per_q = fit.tidy()
    frames = [_tidy_rows(per_q, "group_time_att", per_q["level"].astype(int).astype(str).to_numpy()),
              _tidy_rows(fit.contrast(a, b), "group_time_att", f"{a}-{b}")]
    ineq = within_practice_inequality(panel, settings.outcome_scale)
    for measure in ("gap", "sii"):
        f = gta(ineq, measure, ["practice_id"], source=f"within-practice {measure}")
        frames.append(_tidy_rows(f.tidy(), "group_time_att", measure))
    est = pd.concat(frames, ignore_index=True)
    target = pd.concat([did_truth(joined)[["target", "truth"]], inequality_truth(joined, settings)[["target", "truth"]]])
    out = est.merge(target, on="target", how="left", validate="one_to_one").assign(horizon=np.nan)
    return _finish(out, scenario)


def its_recovery(measures_path, programme_path, truth: pd.DataFrame, measures: pd.DataFrame, scenario: str,
                 horizons=ITS_HORIZONS, analysis=None, **its_options) -> pd.DataFrame:
    """The ITS chapter's analysis (``run_its_analysis`` with its defaults unless ``its_options``): the stacked
    controlled ITS of every wave (headline, method ``its_stacked``, against :func:`its_stacked_truth`), the
    controlled ITS of one wave (method ``its_controlled``) and the uncontrolled per-quintile fits and Q1 - Q5 model
    (method ``its_uncontrolled``), per quintile and Q1 - Q5 at each horizon, the wave-1 rows against the truth in
    the same month. ``analysis``: an :class:`~beyond_averages.its.ITSAnalysis` already fitted on these files (its
    own horizons are then used); otherwise one is fitted here, without the in-time placebo unless ``its_options``
    ask for it (the truth itself judges the intervals here)."""
    its_options.setdefault("placebo", False)
    an = analysis or run_its_analysis(measures_path, programme_path, area=AREA, horizons=horizons, **its_options)
    horizons = an.horizons
    ctl = an.controlled_effects()
    if "measure" in ctl:
        ctl = ctl[ctl["measure"] == "absolute"]
    ctl = ctl.assign(method="its_controlled", target=ctl["group"].astype(str).str.replace(" ", ""))
    unc = an.quintile_effects()
    unc = unc[unc["measure"] == "absolute"].assign(target=lambda d: d["imd_quintile"].astype(str))
    con = an.contrast.effect_summary(horizons)
    con = con[(con["measure"] == "absolute") & con["group"].astype(str).str.contains("-")].assign(target=CONTRAST)
    est = pd.concat([ctl, pd.concat([unc, con]).assign(method="its_uncontrolled")], ignore_index=True)
    est["month"] = pd.to_datetime(est["month"])
    ids, _ = wave_practices(pd.read_parquet(programme_path), an.wave)
    joined = with_truth(measures, truth)
    target = its_truth(joined, ids, est["month"].unique())
    out = est.merge(target, on=["month", "target"], how="left", validate="many_to_one")
    stk = an.stacked_effects()
    stk = stk.assign(method="its_stacked", target=stk["group"].astype(str).str.replace(" ", ""))
    stk = stk.merge(its_stacked_truth(joined, pd.read_parquet(programme_path), an.stacked, horizons),
                    on=["horizon", "target"], how="left", validate="one_to_one")
    cols = ["method", "target", "horizon", "estimate", "std_error", "ci_lower", "ci_upper", "truth"]
    out = pd.concat([stk[cols], out[cols]], ignore_index=True)
    return _finish(out.astype({"horizon": float}), scenario)


# ---------------------------------------------------------------------------------------------------------------
# Seeds and scenarios
# ---------------------------------------------------------------------------------------------------------------
def _design(design: str, ex: dict, scenario: str) -> pd.DataFrame:
    try:
        if design == "did":
            return did_recovery(ex["measures"], ex["truth"], scenario)
        return its_recovery(ex["measures_path"], ex["programme_path"], ex["truth"], ex["measures"], scenario)
    except Exception as err:  # noqa: BLE001 (kept as a row of the results, and counted)
        return pd.DataFrame([{"scenario": scenario, "method": design, "error": f"{type(err).__name__}: {err}"[:300]}])


def seed_recovery(seed: int, scenarios=SCENARIOS, settings=MEDIUM, work_dir: Path | None = None,
                  log=None, designs=DESIGNS) -> pd.DataFrame:
    """Every scenario for one extract seed (one population, reused by the scenarios): the rows of each of
    ``designs`` ("did", "its"), tagged with its :data:`DESIGN_VERSION` (column ``design``); a failure of one design
    is a row with ``error`` (e.g. a redacted month stopping the ITS), not an exception."""
    frames = []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for k, scenario in enumerate(scenarios):
            t = time.perf_counter()
            ex = make_extract(Path(tmp), scenario, seed=seed, population=k == 0, **settings)
            for design in designs:
                frames.append(_design(design, ex, scenario).assign(design=DESIGN_VERSION[design]))
            if log:
                log(f"  recovery: scenario {scenario:9s} seed {seed}: {time.perf_counter() - t:.0f} s")
    out = pd.concat(frames, ignore_index=True).assign(seed=seed)
    return out[[c for c in COLUMNS if c in out] + [c for c in out if c not in COLUMNS]]


def recovery(scenarios=SCENARIOS, seeds=RECOVERY_SEEDS[:1], settings=MEDIUM, work_dir: Path | None = None,
             log=print) -> pd.DataFrame:
    """:func:`seed_recovery` for every seed, one after another."""
    return pd.concat([seed_recovery(s, scenarios, settings, work_dir, log) for s in seeds], ignore_index=True)


def recovery_summary(rec: pd.DataFrame) -> pd.DataFrame:
    """Per scenario x method x target x horizon over seeds: mean truth and estimate, bias, mean SE, coverage of the
    truth with its Monte Carlo SE, and (when ``correct`` is present, from
    :func:`beyond_averages.report.conclusions.judge_conclusions`) the share of correct conclusions."""
    ok = rec[rec["estimate"].notna()].copy() if "estimate" in rec else pd.DataFrame(columns=COLUMNS)
    ok["horizon"] = ok["horizon"].fillna(-1)  # groupby keeps DiD rows (no horizon) as -1, shown as missing
    # A failed fit's row (kept in the results, without an estimate) leaves these columns of object dtype.
    for col in ("covered", "correct", "truth", "estimate", "bias", "std_error"):
        if col in ok:
            ok[col] = ok[col].astype(float)
    agg = dict(seeds=("seed", "size"), truth=("truth", "mean"), estimate=("estimate", "mean"), bias=("bias", "mean"),
               mean_se=("std_error", "mean"), coverage=("covered", "mean"))
    if "correct" in ok:
        agg["correct"] = ("correct", "mean")
    out = ok.groupby(["scenario", "method", "target", "horizon"], sort=False).agg(**agg).reset_index()
    out["coverage_mc_se"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["seeds"])
    out["horizon"] = out["horizon"].where(out["horizon"] >= 0)
    return out
