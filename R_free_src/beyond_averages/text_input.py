"""Read text inputs (CSV tables, reference libraries) whatever tool saved them: one strict reader for every strand.

Shared by the review (the screening log, the tool importers, the extraction table, the references) and the
qualitative CSV project, which parse and check the content themselves.

CSV is parsed strictly with :mod:`csv`, not pandas: pandas silently takes the first column as an index when the first
data row has one cell too many (an unquoted comma in a title), and pads short rows, so a cut file reads as if whole.
Here every row must have as many cells as the header, and every problem is an :class:`InputError` naming the file
and the line.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pandas as pd

from beyond_averages.files import InputError


def read_text(path: Path, advice: str, encoding: str = "utf-8") -> str:
    """The file's text; a missing file or one that is not UTF-8 raises :class:`InputError` ending with ``advice``."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start}); {advice}") from None


def _records(text: str, delimiter: str, path: Path) -> list[tuple[int, list[str]]]:
    """``(line where the record starts, cells)`` for every non-blank record; csv errors name the line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records, line = [], 1
    try:
        for cells in reader:
            if cells:
                records.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as err:
        if "unexpected end of data" in str(err):
            raise InputError(f"{path}: line {line}: a quoted cell opened here is never closed (the file ends at line "
                             f"{reader.line_num}); the file may be cut short, or a '\"' inside a cell is not doubled"
                             ) from None
        raise InputError(f"{path}: line {reader.line_num}: not valid CSV ({err}); quote cells that hold "
                         f"'{delimiter}' or '\"' and double the quotes inside them") from None
    return records


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV as text cells: UTF-8 with or without BOM, comma/semicolon/tab sniffed from the header line.

    Raises :class:`InputError` for an empty file, a header without data rows ("no rows"), a column named twice,
    and a row with more or fewer cells than the header (naming its line). Blank lines are skipped.
    """
    path = Path(path)
    text = read_text(path, "save the file as UTF-8 CSV", encoding="utf-8-sig")
    if not text.strip():
        raise InputError(f"{path}: no rows (the file is empty)")
    header = text.lstrip("\r\n").splitlines()[0]
    delimiter = max((",", ";", "\t"), key=header.count)
    records = _records(text, delimiter, path)
    columns = [c.strip() for c in records[0][1]]
    seen: dict[str, int] = {}
    for k, name in enumerate(columns, start=1):
        if name and name in seen:
            raise InputError(f"{path}: line {records[0][0]}: column {name!r} appears twice in the header (columns "
                             f"{seen[name]} and {k}); rename one")
        seen.setdefault(name, k)
    bad = [(line, len(cells)) for line, cells in records[1:] if len(cells) != len(columns)]
    if bad:
        n = bad[0][1]
        why = (f"an unquoted '{delimiter}' inside a cell? quote the cell" if n > len(columns)
               else "a missing cell, or the file is cut short")
        listed = ", ".join(f"line {ln} has {k}" for ln, k in bad[:3])
        raise InputError(f"{path}: {len(bad)} row(s) do not have the header's {len(columns)} cells — {listed}: "
                         f"{why}")
    if len(records) == 1:
        raise InputError(f"{path}: no rows (the file has a header but no data)")
    return pd.DataFrame([cells for _, cells in records[1:]], columns=columns, dtype=str)
