"""Command line of the compendium: the steps that the Makefile runs, one command per step.

    python -m beyond_averages population --out data_synthetic/extract
    python -m beyond_averages area hypertension_case_finding --out data_synthetic/extract
    python -m beyond_averages measures hypertension_case_finding --out outputs/measures
    python -m beyond_averages repartition --extract /path/to/real/extract --out /path/to/by_practice
    python -m beyond_averages render
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import config, paths
from .files import InputError, write_parquet


def _synthetic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="extract folder to write")
    p.add_argument("--scale", type=float, help="patients relative to study.yaml's target (default from study.yaml)")
    p.add_argument("--n-practices", type=int, help="number of practices (default from study.yaml)")
    p.add_argument("--seed", type=int, help="random seed (default from study.yaml)")
    p.add_argument("--scenario", choices=config.SCENARIOS, help="planted effect scenario (default from study.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _jobs_arg(p)


def _jobs_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes, one practice partition each at a time (default: 2, or 1 on one core); "
                        "the output does not depend on it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beyond_averages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", type=Path, default=None, help="study configuration (default: study.yaml)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an input error")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("population", help="write synthetic practices and patients")
    _synthetic_args(p)
    p = sub.add_parser("area", help="write one area's synthetic events, programme and ground truth")
    p.add_argument("area")
    _synthetic_args(p)
    p = sub.add_parser("measures", help="compute an area's monthly measures from the extract")
    p.add_argument("area")
    p.add_argument("--extract", type=Path, help="extract folder (default: extract_dir of study.yaml)")
    p.add_argument("--out", type=Path, default=paths.MEASURES_DIR)
    p.add_argument("--lenient", action="store_true",
                   help="drop patient and event rows that break the extract's data contract (counted in the log "
                        "and in <out>/<area>_extract_check.json) instead of stopping at the first")
    _jobs_arg(p)
    p.add_argument("--engine", choices=("local", "dask", "spark"), default="local",
                   help="where the practice partitions are counted: this machine's processes (local), Dask or "
                        "Spark (local mode, or the cluster they are pointed at: docs/extract.md)")
    p = sub.add_parser("repartition", help="rewrite an extract by practice (one row group per N practices), once")
    p.add_argument("--extract", type=Path, help="extract folder (default: extract_dir of study.yaml)")
    p.add_argument("--out", type=Path, required=True, help="folder to write the repartitioned copy to")
    p.add_argument("--practices-per-row-group", type=int, default=1, metavar="N")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_parser("areas", help="list the configured clinical areas")
    sub.add_parser("check-area", help="validate every area file").add_argument("areas", nargs="*")
    sub.add_parser("book-metadata", help="write the title page of _quarto.yml from the thesis block of study.yaml")
    p = sub.add_parser("render", help="render the book (Quarto if on PATH, else the fallback renderer)")
    p.add_argument("--root", type=Path, default=paths.ROOT)
    p.add_argument("--fallback", action="store_true", help="use the fallback renderer even if Quarto is installed")
    args = parser.parse_args(argv)

    try:
        study = config.load_study(args.study)
        if args.command == "population":
            from .synth import generate_population
            t = time.perf_counter()
            practices = generate_population(args.out, study, progress=not args.quiet, scale=args.scale,
                                            n_practices=args.n_practices, seed=args.seed, scenario=args.scenario,
                                            jobs=args.jobs)
            print(f"population: {len(practices)} practices written to {args.out} in {time.perf_counter() - t:.1f} s")
        elif args.command == "area":
            from .synth import generate_area
            t = time.perf_counter()
            info = generate_area(args.area, args.out, study, progress=not args.quiet, scale=args.scale,
                                 n_practices=args.n_practices, seed=args.seed, scenario=args.scenario,
                                 jobs=args.jobs)
            print(f"area {info['area']}: {info['events']:,} events, {info['adopting_practices']} adopting practices "
                  f"in {time.perf_counter() - t:.1f} s")
        elif args.command == "measures":
            from .extract_check import check_extract, checked_extract
            from .measures import compute_partitioned
            from .measures.values import write_value_measures
            area = config.load_area(args.area)
            t = time.perf_counter()
            # The data contract first (strict unless --lenient): measures run on the checked rows only.
            report = check_extract(args.extract or study.resolved_extract_dir(), area.name, study,
                                   lenient=args.lenient)
            for line in report.log_lines():
                print(line, file=sys.stderr)
            with checked_extract(report) as extract:
                # Practice partition by partition: memory follows the largest partition; same bytes for any jobs.
                measures, by_age = compute_partitioned(area, extract, study, jobs=args.jobs, engine=args.engine)
                # An area with a continuous outcome also gets its mean-value table (nothing for the others).
                write_value_measures(area, extract, study, args.out)
            report.write(args.out / f"{area.name}_extract_check.json")
            write_parquet(by_age, args.out / f"{area.name}_by_age.parquet")
            write_parquet(measures, args.out / f"{area.name}.parquet")  # last: Make's target
            print(f"measures {area.name}: {len(measures):,} rows in {time.perf_counter() - t:.1f} s")
        elif args.command == "repartition":
            from .repartition import repartition
            t = time.perf_counter()
            written = repartition(args.extract or study.resolved_extract_dir(), args.out,
                                  args.practices_per_row_group, progress=not args.quiet)
            print(f"repartition: {len(written)} files by practice ({len(written['patients.parquet']):,} row groups "
                  f"of patients) written to {args.out} in {time.perf_counter() - t:.1f} s")
        elif args.command == "areas":
            print("\n".join(config.list_areas()))
        elif args.command == "check-area":
            for name in args.areas or config.list_areas():
                config.load_area(name)
                print(f"{name}: ok")
        elif args.command == "book-metadata":
            from .book.title_page import write_book_metadata
            changed = write_book_metadata(paths.ROOT)
            print(f"_quarto.yml: title page {'updated' if changed else 'already up to date'}")
        elif args.command == "render":
            from . import book
            if args.fallback:
                book.render_fallback(args.root)
            else:
                book.render(args.root)
    except (InputError, config.ConfigError) as exc:
        if args.debug:
            raise
        # One line a user can act on (the message names the file and the field); the traceback only with --debug.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
