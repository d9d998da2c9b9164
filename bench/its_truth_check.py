"""Every ITS headline estimate on the default extract beside its truth from the ground truth file (issue #13).

Runs the ITS chapter's analysis as the notebook runs it (``run_its_analysis`` with its defaults, on the files
``make`` writes: ``outputs/measures/<area>.parquet`` and the study extract's programme and ground truth), and lists
per estimand: the estimate, its 95% CI, the truth (:func:`beyond_averages.recovery.its_stacked_truth` for the
headline, :func:`beyond_averages.recovery.its_truth` for the wave-1 analysis) and whether the CI covers it.
Also the in-time placebo (true effect zero) and which of its intervals exclude zero: the chapter's own flag.

    python bench/its_truth_check.py [--area AREA] [--all]     # --all: also the wave-1 and uncontrolled rows
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from beyond_averages import config, recovery
from beyond_averages.files import read_parquet
from beyond_averages.its import run_its_analysis
from beyond_averages.measures import attach_programme, read_measures


def check(area: str, methods=("its_stacked",)) -> tuple[pd.DataFrame, pd.DataFrame]:
    study = config.load_study()
    measures_path, programme_path = study.area_inputs(area)
    truth_path = study.resolved_extract_dir() / f"ground_truth_{area}.parquet"
    programme = read_parquet(programme_path)
    measures = attach_programme(read_measures(measures_path), programme)
    truth = read_parquet(truth_path)
    analysis = run_its_analysis(measures_path, programme_path, area=area)  # the notebook's defaults
    rows = recovery.its_recovery(measures_path, programme_path, truth, measures, study.synthetic.scenario,
                                 analysis=analysis)
    return rows[rows["method"].isin(methods)], analysis.placebo_effects()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", default=recovery.AREA)
    parser.add_argument("--all", action="store_true", help="also the wave-1 controlled and uncontrolled rows")
    args = parser.parse_args(argv)
    methods = ("its_stacked", "its_controlled", "its_uncontrolled") if args.all else ("its_stacked",)
    rows, placebo = check(args.area, methods)
    cols = ["method", "target", "horizon", "estimate", "ci_lower", "ci_upper", "truth", "covered"]
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(rows[cols].round(3).to_string(index=False))
        for method, part in rows.groupby("method", sort=False):
            print(f"{method}: {int(part['covered'].sum())} of {len(part)} intervals cover the truth")
        print("\nIn-time placebo (true effect 0):")
        print(placebo[["group", "horizon", "estimate", "ci_lower", "ci_upper", "excludes_zero"]].round(3)
              .to_string(index=False))
        print(f"placebo: {int(placebo['excludes_zero'].sum())} of {len(placebo)} intervals exclude zero")
    return 0


if __name__ == "__main__":
    sys.exit(main())
