"""The recovery study of issue #13: do the chapters' conclusions recover the planted truth?

For every extract seed, scale and scenario (null, uniform, narrowing, widening, selection) the hypertension
case-finding area is generated, the DiD and ITS chapters' headline analyses are run as the chapters run them
(:func:`beyond_averages.recovery.seed_recovery`), each headline estimate is compared with its truth from
``ground_truth_<area>.parquet`` itself (nothing netted out), and the chapter's conclusion ("narrowed", "widened",
"no evidence of change"; "increased"/"decreased" for one quintile) is drawn by the book's one rule
(:func:`beyond_averages.report.conclusions.judge_conclusions`) and compared with the planted direction.

Printed: per scale, scenario and headline estimand (DiD group-time ATT per quintile, Q1 - Q5, within-practice gap
and SII; controlled ITS per quintile and Q1 - Q5 at 24 months): seeds, mean truth, bias, 95% CI coverage of the
truth with its Monte Carlo SE, and the share of seeds whose conclusion matches the planted direction (in the null
scenario, one minus the rejection rate). Targets (issue #13): coverage 93-97%, null rejections 3-7%, correct
direction in >= 80% of seeds for narrowing and widening at full scale.

Resumable: every (scale, seed) is one task on a process pool (``--jobs``, default both cores,
:func:`beyond_averages.parallel.ordered_map`); the per-seed results file (``bench/recorded/recovery_study.parquet``,
tracked, so the book and later sessions need not rerun it; ``bench/results/recovery_study_quick.parquet`` with
``--quick``) is rewritten atomically after each finished seed, and a rerun skips the (scale, seed) pairs already in
it. At the end the headline summary of every scale in the file is written beside it, atomically
(``<results file stem>_summary.csv``: ``bench/recorded/recovery_study_summary.csv``), for the appendix
``notebooks/recovery_study.ipynb``. Usage::

    python bench/recovery_study.py [--quick] [--replicates N] [--scales 0.1,0.3] [--jobs 2] [--out PATH]
    python bench/recovery_study.py --scales 1 --replicates 40      # the full-scale confirmation
    python bench/recovery_study.py --redo did --scales 0.1,0.3,1   # after a change of the DiD chapter's design

``--quick``: 2 seeds at scale 0.1, scenarios null and narrowing only: a check of the script (about a minute on
two idle cores).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from beyond_averages import parallel, recovery
from beyond_averages.files import read_parquet, write_csv, write_parquet
from beyond_averages.report.conclusions import judge_conclusions

RESULTS_DIR = Path(__file__).resolve().parent / "results"     # git-ignored: quick checks
RECORDED_DIR = Path(__file__).resolve().parent / "recorded"   # tracked: the study's per-seed rows and summary
FIRST_SEED = 1000           # seeds FIRST_SEED, FIRST_SEED + 1, ...: the study seed (20261126) is not among them
N_PRACTICES = 285           # the study's practices at every scale (114 adopters, 38 per wave)
HEADLINE_ITS_HORIZON = 24
TARGET_ORDER = {t: i for i, t in enumerate(["1", "2", "3", "4", "5", "1-5", "gap", "sii"])}


def _one_seed(task: tuple[float, int, tuple[str, ...], tuple[str, ...]]) -> pd.DataFrame:
    """One (scale, seed): every scenario, each of the designs, judged (a pool task)."""
    scale, seed, scenarios, designs = task
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few-cluster and convergence warnings: the results carry the numbers
        rec = recovery.seed_recovery(seed, scenarios, dict(scale=scale, n_practices=N_PRACTICES), designs=designs)
    rec = judge_conclusions(rec)
    for col in ("error", "conclusion", "expected"):
        if col not in rec:
            rec[col] = None
    return rec.assign(scale=scale, seconds=time.perf_counter() - t)


def design_of(rec: pd.DataFrame) -> pd.Series:
    """Which design ("did" or "its") each per-seed row belongs to (a failed fit's row is named by its design)."""
    return rec["method"].map(lambda m: "did" if m in ("group_time_att", "did") else "its")


def is_current(rec: pd.DataFrame) -> pd.Series:
    """Per row: made by its design's current version (:data:`beyond_averages.recovery.DESIGN_VERSION`)? A row
    without a tag is of its design's first version."""
    design = design_of(rec)
    tag = rec["design"] if "design" in rec else pd.Series(None, index=rec.index, dtype=object)
    tag = tag.fillna(design.map(recovery.FIRST_DESIGN_VERSION))
    return pd.Series(tag.to_numpy() == design.map(recovery.DESIGN_VERSION).to_numpy(), index=rec.index)


def outdated(rec: pd.DataFrame, design: str, scales) -> list[tuple[float, int]]:
    """The (scale, seed) pairs of ``scales`` whose ``design`` rows were not made by its current version: what
    ``--redo`` reruns."""
    if rec.empty:
        return []
    stale = rec[(design_of(rec) == design) & rec["scale"].isin(scales) & ~is_current(rec)]
    return sorted(set(zip(stale["scale"].astype(float), stale["seed"].astype(int))))


def replace_design(rec: pd.DataFrame, part: pd.DataFrame, design: str) -> pd.DataFrame:
    """``rec`` with the ``design`` rows of ``part``'s (scale, seed) replaced by ``part``'s (the seconds column keeps
    the first run's time; the rerun's time is in ``redo_seconds``)."""
    scale, seed = part["scale"].iloc[0], part["seed"].iloc[0]
    old = (rec["scale"] == scale) & (rec["seed"] == seed)
    part = part.assign(redo_seconds=part["seconds"], seconds=rec.loc[old, "seconds"].iloc[0])
    return pd.concat([rec[~(old & (design_of(rec) == design))], part], ignore_index=True)


def _done(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    return read_parquet(path)


def headline(summary: pd.DataFrame) -> pd.DataFrame:
    """The headline rows: the DiD group-time ATT and the stacked controlled ITS (every wave) at 24 months."""
    did = summary["method"] == "group_time_att"
    its = (summary["method"] == "its_stacked") & (summary["horizon"] == HEADLINE_ITS_HORIZON)
    out = summary[did | its].copy()
    out["_order"] = out["target"].map(TARGET_ORDER)
    out["_scenario"] = out["scenario"].map({s: i for i, s in enumerate(recovery.SCENARIOS)})
    return (out.sort_values(["scale", "_scenario", "method", "_order"], kind="stable")
            .drop(columns=["_order", "_scenario"]))


def current(rec: pd.DataFrame) -> pd.DataFrame:
    """The rows made by each design's current version (:func:`is_current`), so that a study only partly rerun after
    a change of design never mixes the two versions in one summary: its seeds count only where the new version has
    run."""
    return rec if rec.empty else rec[is_current(rec)]


def summarise(rec: pd.DataFrame) -> pd.DataFrame:
    """:func:`recovery.recovery_summary` per scale (with errors counted); callers pass the current designs' rows
    (:func:`current`)."""
    parts = []
    for scale, part in rec.groupby("scale", sort=True):
        s = recovery.recovery_summary(part)
        s.insert(0, "scale", scale)
        parts.append(s)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def show(table: pd.DataFrame) -> str:
    t = table.copy()
    t["estimand"] = t["method"].map({"group_time_att": "DiD", "its_stacked": "ITS 24m"}) + " " + t["target"].map(
        lambda x: "Q1 - Q5" if x == "1-5" else x if x in ("gap", "sii") else f"Q{x}")
    t["coverage (MC SE)"] = [f"{100 * c:.1f}% ({100 * s:.1f})" for c, s in zip(t["coverage"], t["coverage_mc_se"])]
    t["correct"] = [f"{100 * c:.0f}%" for c in t["correct"]]
    cols = ["scale", "scenario", "estimand", "seeds", "truth", "bias", "mean_se", "coverage (MC SE)", "correct"]
    return t[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}")


# ---------------------------------------------------------------------------------------------------------------
# The tracked summary (bench/recorded/recovery_study_summary.csv), read by beyond_averages.report.recovery
# ---------------------------------------------------------------------------------------------------------------
SUMMARY_COLUMNS = ["scale", "n_practices", "scenario", "method", "target", "horizon", "planted", "narrowing",
                   "seeds", "seeds_planned", "first_seed", "last_seed", "failed_fits", "truth", "bias", "mean_se",
                   "coverage", "coverage_mc_se", "correct", "correct_mc_se", "rejection_rate"]
# A failed fit is one row per design (recovery._design names it "did" or "its"); it counts against the design's
# headline method.
FAILED_DESIGN = {"did": "group_time_att", "its": "its_stacked"}


def summary_path_for(out: Path) -> Path:
    """The summary CSV beside a per-seed results file: ``recovery_study.parquet`` -> ``recovery_study_summary.csv``."""
    return Path(out).with_name(f"{Path(out).stem}_summary.csv")


def planned_seeds(summary_path: Path, this_run: dict[float, int]) -> dict[float, int]:
    """Seeds planned per scale: this run's for its scales, the earlier summary's for the others (a run at scale 1
    keeps the plan of scales 0.1 and 0.3)."""
    planned: dict[float, int] = {}
    if Path(summary_path).exists():
        old = pd.read_csv(summary_path)
        if {"scale", "seeds_planned"} <= set(old.columns):
            planned = {float(k): int(v) for k, v in
                       old.dropna(subset=["seeds_planned"]).groupby("scale")["seeds_planned"].max().items()}
    return {**planned, **{float(k): int(v) for k, v in this_run.items()}}


def recorded_summary(rec: pd.DataFrame, planned: dict[float, int] | None = None) -> pd.DataFrame:
    """The headline rows (:func:`headline`) of every scale in the per-seed rows ``rec``, with what the appendix needs
    to judge them: the planted sign and narrowing side, seeds with an estimate (``seeds``) and planned, the seed
    range, failed fits of the design, coverage and the share of correct conclusions with their Monte Carlo SEs
    (``sqrt(p (1 - p) / seeds)``), and where no effect was planted (``planted == 0``: every row of the null
    scenario) the rejection rate of "no evidence of change", ``1 - correct``."""
    planned = planned or {}
    rec = current(rec)
    table = headline(summarise(rec)).reset_index(drop=True)
    if table.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    keys = ["scale", "scenario", "method", "target"]
    ok = rec[rec["estimate"].notna()]
    signs = ok.drop_duplicates(keys)[keys + ["planted", "narrowing"]]
    table = table.merge(signs, on=keys, how="left", validate="many_to_one")
    seeds = rec.groupby("scale")["seed"].agg(["min", "max"])
    table["first_seed"] = table["scale"].map(seeds["min"])
    table["last_seed"] = table["scale"].map(seeds["max"])
    table["seeds_planned"] = table["scale"].map(lambda sc: planned.get(float(sc), np.nan))
    table["n_practices"] = N_PRACTICES
    if "error" in rec:
        failed = rec[rec["error"].notna()].assign(method=lambda d: d["method"].map(FAILED_DESIGN).fillna(d["method"]))
        counts = failed.groupby(["scale", "scenario", "method"]).size().rename("failed_fits").reset_index()
        table = table.merge(counts, on=["scale", "scenario", "method"], how="left")
    table["failed_fits"] = table.get("failed_fits", pd.Series(0, index=table.index)).fillna(0).astype(int)
    table["correct_mc_se"] = np.sqrt(table["correct"] * (1 - table["correct"]) / table["seeds"])
    table["rejection_rate"] = (1 - table["correct"]).where(table["planted"] == 0)
    return table[SUMMARY_COLUMNS]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 seeds at scale 0.1, null and narrowing only (a check)")
    p.add_argument("--replicates", type=int, default=100, help="extract seeds per scale (default 100)")
    p.add_argument("--scales", default="0.1,0.3", help="comma-separated extract scales (default 0.1,0.3)")
    p.add_argument("--scenarios", default=",".join(recovery.SCENARIOS))
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: both cores)")
    p.add_argument("--redo", choices=recovery.DESIGNS, default=None,
                   help="rerun only this design for the (scale, seed) pairs already recorded whose rows an earlier "
                        "version of the design made (after a change of that chapter's design), in their scenarios")
    p.add_argument("--summary-only", action="store_true",
                   help="run no seed: summarise the results file as it stands (a study stopped part-way)")
    p.add_argument("--out", type=Path, default=None,
                   help="per-seed results file (Parquet); default bench/recorded/recovery_study.parquet "
                        "(--quick: bench/results/recovery_study_quick.parquet); the summary is written beside it")
    a = p.parse_args(argv)
    scales = [0.1] if a.quick else [float(s) for s in a.scales.split(",")]
    n_seeds = 2 if a.quick else a.replicates
    scenarios = ("null", "narrowing") if a.quick else tuple(s.strip() for s in a.scenarios.split(","))
    out = a.out or (RESULTS_DIR / "recovery_study_quick.parquet" if a.quick
                    else RECORDED_DIR / "recovery_study.parquet")

    rec = _done(out)
    done = set(zip(rec["scale"], rec["seed"])) if len(rec) else set()
    if a.redo:
        tasks = [(sc, seed, tuple(rec.loc[(rec["scale"] == sc) & (rec["seed"] == seed), "scenario"].unique()),
                  (a.redo,)) for sc, seed in outdated(rec, a.redo, scales)]
    else:
        tasks = [] if a.summary_only else [(sc, FIRST_SEED + k, scenarios, recovery.DESIGNS) for sc in scales
                                           for k in range(n_seeds) if (sc, FIRST_SEED + k) not in done]
    plan = (f"rerunning the {a.redo.upper()} design where an earlier version made its rows" if a.redo else
            f"{n_seeds} seeds each, scenarios {list(scenarios)}")
    print(f"Recovery study: {recovery.AREA}, {N_PRACTICES} practices, scales {scales}, {plan}; {len(done)} "
          f"(scale, seed) pairs already in {out}, {len(tasks)} to run", flush=True)
    t0 = time.perf_counter()
    for k, part in enumerate(parallel.ordered_map(_one_seed, tasks, a.jobs), start=1):
        rec = replace_design(rec, part, a.redo) if a.redo else pd.concat([rec, part], ignore_index=True)
        write_parquet(rec, out)  # atomic: an interrupted run keeps every finished seed
        print(f"  scale {part['scale'].iloc[0]:g} seed {part['seed'].iloc[0]}: {part['seconds'].iloc[0]:.0f} s "
              f"({k}/{len(tasks)}, {time.perf_counter() - t0:.0f} s elapsed)", flush=True)
    summary_path = summary_path_for(out)
    if len(rec):  # every scale in the file, so a later run at another scale keeps the earlier scales' rows
        this_run = {} if a.redo else {sc: n_seeds for sc in scales}  # a redo keeps the plan of the first run
        write_csv(recorded_summary(rec, planned_seeds(summary_path, this_run)), summary_path,
                  float_format="%.10g")
        print(f"Summary of every scale in {out.name} written to {summary_path}", flush=True)
    rec = current(rec[rec["scale"].isin(scales)])
    summary = summarise(rec)
    table = headline(summary)
    print("\nHeadline estimands against the truth itself (bias and truth in percentage points; correct = share of "
          "seeds whose conclusion matches the planted direction):")
    print(show(table))
    errors = rec[rec["error"].notna()] if "error" in rec else rec.iloc[:0]
    if len(errors):
        print(f"\nFailed fits: {len(errors)}")
        print(errors.groupby(["scale", "scenario", "method"]).size().to_string())
    per_seed = rec.drop_duplicates(["scale", "seed"]).groupby("scale")["seconds"].agg(["count", "mean", "max"])
    print("\nSeconds per seed (all scenarios, one worker):")
    print(per_seed.to_string(float_format=lambda v: f"{v:.0f}"))
    return {"results_file": str(out), "summary_file": str(summary_path), "scales": scales, "seeds": n_seeds,
            "scenarios": list(scenarios),
            "per_seed_seconds": {str(k): float(v) for k, v in per_seed["mean"].items()},
            "errors": len(errors),
            "headline": table.replace({np.nan: None}).to_dict(orient="records")}


if __name__ == "__main__":
    main(sys.argv[1:])
