"""Write the appendix files of the qualitative strand: ``python -m beyond_averages.qual DATA_DIR OUT_DIR``.

Reads a project (a CSV project folder, see :mod:`beyond_averages.qual.csv_import`; a REFI-QDA ``.qdpx``/``.qde``;
or QualCoder's coding-report ``.csv``) and writes, byte-stably:
``framework_matrix.csv``/``.html`` (participants x themes), ``theme_summary.csv``, ``exemplar_quotes.csv``,
``saturation.csv`` and ``project.qdpx`` (the coded data as REFI-QDA, for another analysis tool), plus
``agreement.csv`` when two or more named coders coded the same sources. The quotes and the framework matrix carry
the protected attribution of :mod:`.attribution` (broader groups from ``--attribution-groups``, by default the
project folder's ``attribution_groups.yaml`` when there is one); ``theme_summary.csv`` and ``project.qdpx`` keep
every role, for the analyst.

The files are written into a temporary folder beside OUT_DIR and moved into it only when all six are written:
a bad input leaves OUT_DIR as it was (its old files, or no folder at all).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .. import paths
from ..config import ConfigError
from ..files import InputError, write_csv
from ..report.qualitative import write_framework_matrix
from . import summaries
from .agreement import agreement
from .analysis import load_project
from .attribution import attribute, attribute_matrix, attribute_quotes, load_attribution_groups
from .refi_export import to_qdpx

APPENDIX_FILES = ("framework_matrix.csv", "framework_matrix.html", "theme_summary.csv", "exemplar_quotes.csv",
                  "saturation.csv", "project.qdpx")


GROUPS_FILE = "attribution_groups.yaml"


def write_appendix(data_dir, out_dir, seed: int = summaries.DEFAULT_SEED, attribution_path=None) -> list[Path]:
    """Write the appendix files of the project ``data_dir`` (folder, ``.qdpx`` or QualCoder ``.csv``) into
    ``out_dir``, all or none (``agreement.csv`` only when two or more named coders coded the same sources).

    Relative paths are taken from the repository root for both folders, as for every path of the API (the command
    line passes absolute paths resolved from the working directory). Other files in ``out_dir`` are left alone.
    ``attribution_path`` (default: ``attribution_groups.yaml`` in the project folder, if any) gives the broader
    groups quotes of small roles are attributed to.
    """
    out = paths.resolve(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; give a folder for the appendix files")
    data = load_project(paths.resolve(data_dir))
    beside = paths.resolve(data_dir) / GROUPS_FILE
    if attribution_path is None and beside.is_file():
        attribution_path = beside
    groups = load_attribution_groups(None if attribution_path is None else paths.resolve(attribution_path))
    attribution = attribute(data.participants, groups)
    names = list(APPENDIX_FILES)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        write_framework_matrix(attribute_matrix(summaries.framework_matrix(data), attribution),
                               staging / "framework_matrix.csv", staging / "framework_matrix.html")
        write_csv(summaries.theme_summary(data), staging / "theme_summary.csv")
        write_csv(attribute_quotes(summaries.exemplar_quotes(data, seed=seed), attribution),
                  staging / "exemplar_quotes.csv")
        write_csv(summaries.saturation_curve(data), staging / "saturation.csv")
        to_qdpx(data, staging / "project.qdpx")
        table = agreement(data)
        if len(table):
            write_csv(table, staging / "agreement.csv")
            names.append("agreement.csv")
        out.mkdir(exist_ok=True)
        # Every file is complete before the first one moves; each move is a rename on one file system.
        for name in names:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / name for name in names]


def main(argv=None) -> int:
    """0 on success; a bad input prints one line ``error: <message>`` to stderr and returns 2."""
    parser = argparse.ArgumentParser(
        prog="python -m beyond_averages.qual", description=__doc__.splitlines()[0],
        epilog="DATA_DIR and OUT_DIR are taken from the current working directory when relative. The files "
               "are moved into OUT_DIR only when all are written; on an error OUT_DIR is left as it was.")
    parser.add_argument("data_dir", metavar="DATA_DIR",
                        help="CSV project folder (codebook.csv, participants.csv, segments.csv, transcripts/), "
                             "REFI-QDA .qdpx/.qde, or QualCoder coding-report .csv")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder for the appendix files (created if absent)")
    parser.add_argument("--seed", type=int, default=summaries.DEFAULT_SEED, help="seed of the exemplar quotes")
    parser.add_argument("--attribution-groups", metavar="YAML", default=None,
                        help=f"broader groups of roles for quotes (default: DATA_DIR/{GROUPS_FILE} if present)")
    parser.add_argument("--debug", action="store_true", help="re-raise an input error with its full traceback")
    args = parser.parse_args(argv)
    try:
        groups = None if args.attribution_groups is None else Path(args.attribution_groups).resolve()
        written = write_appendix(Path(args.data_dir).resolve(), Path(args.out_dir).resolve(), args.seed, groups)
    except (InputError, ConfigError) as exc:
        if args.debug:
            raise
        print("error: " + " ".join(str(exc).splitlines()), file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
