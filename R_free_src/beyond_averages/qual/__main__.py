"""Write the appendix files of the qualitative strand: ``python -m beyond_averages.qual DATA_DIR OUT_DIR``.

Reads a CSV project (see :mod:`beyond_averages.qual.csv_import`) and writes, each atomically and byte-stably:
``framework_matrix.csv``/``.html`` (participants x themes), ``theme_summary.csv``, ``exemplar_quotes.csv``,
``saturation.csv`` and ``project.qdpx`` (the coded data as REFI-QDA, for another analysis tool).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files import write_csv
from ..report.qualitative import write_framework_matrix
from . import summaries
from .csv_import import load_csv_project
from .refi_export import to_qdpx


def write_appendix(data_dir, out_dir, seed: int = summaries.DEFAULT_SEED) -> list[Path]:
    data = load_csv_project(data_dir)
    out = Path(out_dir)
    matrix = summaries.framework_matrix(data)
    write_framework_matrix(matrix, out / "framework_matrix.csv", out / "framework_matrix.html")
    write_csv(summaries.theme_summary(data), out / "theme_summary.csv")
    write_csv(summaries.exemplar_quotes(data, seed=seed), out / "exemplar_quotes.csv")
    write_csv(summaries.saturation_curve(data), out / "saturation.csv")
    to_qdpx(data, out / "project.qdpx")
    return [out / n for n in ("framework_matrix.csv", "framework_matrix.html", "theme_summary.csv",
                              "exemplar_quotes.csv", "saturation.csv", "project.qdpx")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m beyond_averages.qual", description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=summaries.DEFAULT_SEED)
    args = parser.parse_args(argv)
    for path in write_appendix(args.data_dir, args.out_dir, args.seed):
        print(path)


if __name__ == "__main__":
    main()
