"""Read the review's text inputs (CSV tables, reference libraries), whatever tool saved them.

Shared by the native screening log (:mod:`.screening_log`), the tool importers (:mod:`.importers`), the extraction
table (:mod:`.extraction`) and the references (:mod:`.references`), which parse and check the content themselves.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pandas as pd

from ..files import InputError


def read_text(path: Path, advice: str, encoding: str = "utf-8") -> str:
    """The file's text; a missing file or one that is not UTF-8 raises :class:`InputError` ending with ``advice``."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start}); {advice}") from None


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV as text cells: UTF-8 with or without BOM, comma/semicolon/tab sniffed from the header line."""
    path = Path(path)
    text = read_text(path, "save the file as UTF-8 CSV", encoding="utf-8-sig")
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    header = text.splitlines()[0]
    delimiter = max((",", ";", "\t"), key=header.count)
    frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                        quoting=csv.QUOTE_MINIMAL)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
