"""Does every headline CI of the DiD chapter cover the planted truth on the default rendering, and where one does not,
does the chapter's own sensitivity analysis say so in words? (issue #13, the must-show of items 4 and 6.)

Reads the default extract's ground truth (``ground_truth_<area>.parquet`` in the study's extract), the measures and
programme files ``make`` writes, and the headline table the DiD chapter saved (``outputs/results/<area>_did_headline
.csv``); the truth of each headline row is the estimand computed from the ground truth by
:func:`beyond_averages.recovery.did_truth` and :func:`~beyond_averages.recovery.inequality_truth` (same practices,
quintiles, months and weights as the estimator). With ``--flags`` it also runs the chapter's analysis and sensitivity
rows (:func:`beyond_averages.report.sensitivity.sensitivity_rows`) and prints, per headline row, whether the chapter
flags a parallel-trends violation for it; the must-show holds when every row whose CI misses the truth is flagged.

``--null-check`` generates a small extract of the ``null`` scenario (``--scale``, ``--practices``, ``--seed``) in a
temporary folder, runs the same analysis and lists the flags with the coverage there: a flag on a row whose CI covers
the truth is a spurious one.

Usage: ``python bench/default_truth_check.py [--area AREA] [--flags] [--null-check [--scale S --practices N]]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from beyond_averages import config, recovery
from beyond_averages.did import run_did_analysis_from_files
from beyond_averages.files import read_parquet
from beyond_averages.measures import attach_programme
from beyond_averages.report import headline as hl
from beyond_averages.report import sensitivity as sens

TARGET_OF_GROUP = {"Q1 - Q5": "1-5", "gap": "gap", "sii": "sii", **{f"Q{q}": str(q) for q in range(1, 6)}}


def join_truth(measures: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Measures (with ``programme_start``) beside the ground truth's counterfactual numerators; the two must count
    the same patients in every cell (checked: otherwise the truth is not the truth of these estimates)."""
    t = truth.rename(columns={"numerator": "numerator_truth", "denominator": "denominator_truth"})
    t["month"] = pd.to_datetime(t["month"]).astype("datetime64[s]")
    m = measures.assign(month=pd.to_datetime(measures["month"]).astype("datetime64[s]"))
    out = m.merge(t, on=["practice_id", "imd_quintile", "month"], how="left", validate="one_to_one")
    same = (out["numerator"] == out["numerator_truth"]) & (out["denominator"] == out["denominator_truth"])
    if out["numerator_counterfactual"].isna().any() or not same.all():
        raise SystemExit("error: the measures and the ground truth count different patients; rerun `make`")
    return out


def truths(measures_path: Path, programme_path: Path, truth_path: Path) -> pd.DataFrame:
    """``target, truth`` of every DiD headline row, from the ground truth."""
    measures = attach_programme(read_parquet(measures_path), read_parquet(programme_path))
    joined = join_truth(measures, read_parquet(truth_path))
    return pd.concat([recovery.did_truth(joined)[["target", "truth"]],
                      recovery.inequality_truth(joined)[["target", "truth"]]], ignore_index=True)


def coverage(headline: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The headline rows with their truth and whether the 95% CI covers it."""
    out = headline.assign(target=headline["group"].map(TARGET_OF_GROUP))
    out = out.merge(truth, on="target", how="left", validate="one_to_one")
    out["covered"] = (out["ci_lower"] <= out["truth"]) & (out["truth"] <= out["ci_upper"])
    return out


def with_flags(cov: pd.DataFrame, analysis, headline: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Coverage rows with the chapter's flag (and the chapter's sentence on parallel trends)."""
    rows = sens.sensitivity_rows(analysis, headline)
    flags = sens.parallel_trends_flags(rows)
    flags = flags.assign(moved_by=[", ".join(f"{a} ({d})" for a, _, d in m) for m in flags["moved_by"]],
                         honest=[_honest_text(f) for f in flags.itertuples()])
    out = cov.merge(flags[["group", "flagged", "moved_by", "honest"]], on="group", how="left", validate="one_to_one")
    out["flagged"] = out["flagged"].fillna(False).astype(bool)
    return out, sens.parallel_trends_sentence(rows)


def _honest_text(flag) -> str:
    """The HonestDiD set at Mbar = 1 (and the breakdown), and whether it overturns the conclusion."""
    if pd.isna(flag.honest_lower):
        return ""
    text = f"[{flag.honest_lower:.2f}, {flag.honest_upper:.2f}]"
    text += f" breakdown {flag.breakdown:.2f}" if pd.notna(flag.breakdown) else ""
    return text + (" overturns" if flag.honest_breaks else "")


def show(frame: pd.DataFrame) -> None:
    cols = [c for c in ("group", "estimate", "ci_lower", "ci_upper", "truth", "covered", "flagged", "honest",
                        "moved_by")
            if c in frame]
    with pd.option_context("display.width", 200, "display.max_colwidth", 80, "display.float_format", "{:.3f}".format):
        print(frame[cols].to_string(index=False))


def must_show(frame: pd.DataFrame) -> bool:
    """Every headline CI covers the truth or its row is flagged."""
    ok = frame["covered"] | frame.get("flagged", False)
    bad = frame.loc[~ok, "group"].tolist()
    print(f"must-show: {'holds' if not bad else 'FAILS for ' + ', '.join(bad)}")
    return not bad


def default_check(area: str, flags: bool) -> bool:
    study = config.load_study()
    measures_path, programme_path = study.area_inputs(area)
    truth_path = study.resolved_extract_dir() / f"ground_truth_{area}.parquet"
    headline = hl.read_headline(area, "DiD")
    cov = coverage(headline, truths(measures_path, programme_path, truth_path))
    if not flags:
        show(cov)
        return bool(cov["covered"].all())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = run_did_analysis_from_files(None, None, area=area)
    out, sentence = with_flags(cov, analysis, headline)
    show(out)
    print("\nThe chapter's sentence:", sentence or "(none: nothing flagged)")
    return must_show(out)


def null_check(scale: float, practices: int, seed: int) -> bool:
    """The flags on a small ``null`` extract: a flag on a covered row is spurious (reported, not failed)."""
    with tempfile.TemporaryDirectory() as tmp:
        ex = recovery.make_extract(Path(tmp), "null", scale=scale, n_practices=practices, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            analysis = run_did_analysis_from_files(ex["measures_path"], ex["programme_path"], area=recovery.AREA)
        headline = hl.did_headline(analysis)
        joined = join_truth(ex["measures"], ex["truth"])
        truth = pd.concat([recovery.did_truth(joined)[["target", "truth"]],
                           recovery.inequality_truth(joined)[["target", "truth"]]], ignore_index=True)
        out, sentence = with_flags(coverage(headline, truth), analysis, headline)
    show(out)
    print("\nThe chapter's sentence:", sentence or "(none: nothing flagged)")
    spurious = out.loc[out["covered"] & out["flagged"], "group"].tolist()
    print(f"null scenario (scale {scale}, {practices} practices, seed {seed}): flags on covered rows: "
          f"{', '.join(spurious) or 'none'}")
    return must_show(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--area", default=recovery.AREA)
    parser.add_argument("--flags", action="store_true", help="run the chapter's sensitivity analyses and flags")
    parser.add_argument("--null-check", action="store_true", help="the flags on a small null-scenario extract")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--practices", type=int, default=120)
    parser.add_argument("--seed", type=int, default=recovery.RECOVERY_SEEDS[0])
    args = parser.parse_args(argv)
    if args.null_check:
        return 0 if null_check(args.scale, args.practices, args.seed) else 1
    return 0 if default_check(args.area, args.flags) else 1


if __name__ == "__main__":
    sys.exit(main())
