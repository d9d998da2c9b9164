"""The measures table: its schema, its checks, reading it, and joining the programme onto it."""

from __future__ import annotations

import pandas as pd

from ..deprivation import QUINTILES
from ..files import InputError, describe_rows, read_parquet, require_columns

# The measures table: the one data contract between this step and every estimator.
MEASURE_KEYS = ("month", "practice_id", "imd_quintile")
MEASURE_COLUMNS = ("area", *MEASURE_KEYS, "numerator", "denominator")


def attach_programme(measures: pd.DataFrame, programme: pd.DataFrame, source: str = "programme") -> pd.DataFrame:
    """Add ``programme_start`` (NaT = never adopted) to a measures table.

    A practice listed twice with the same start is kept once; listed with different starts it is an error (a
    practice adopts once). ``source`` names the programme table in error messages.
    """
    require_columns(programme, ["practice_id", "programme_start"], source)
    prog = programme[["practice_id", "programme_start"]].copy()
    prog["programme_start"] = pd.to_datetime(prog["programme_start"]).astype("datetime64[s]")
    n = prog.groupby("practice_id")["programme_start"].nunique(dropna=False)
    if (n > 1).any():
        pid = n[n > 1].index[0]
        dates = sorted(str(d.date()) for d in prog.loc[prog["practice_id"] == pid, "programme_start"].unique())
        raise InputError(f"{source}: practice_id {pid!r} has {len(dates)} different programme_start dates {dates}; "
                         "a practice adopts once: keep its first adoption")
    starts = prog.drop_duplicates("practice_id").set_index("practice_id")["programme_start"]
    out = measures.copy()
    out["programme_start"] = out["practice_id"].map(starts).astype("datetime64[s]")
    return out


def check_quintile_counts(frame: pd.DataFrame, part: str, source: str) -> tuple[pd.Series, pd.Series]:
    """The checks every measures table shares: :class:`InputError` (naming ``source``, the column and the first
    offending rows) for an IMD quintile outside 1..5, or counts ``part`` and ``denominator`` that are not whole
    numbers with ``0 <= part <= denominator``. Returns the two counts as numbers."""
    bad_q = ~frame["imd_quintile"].isin(QUINTILES)
    if bad_q.any():
        raise InputError(f"{source}: column 'imd_quintile' must be 1..5: {describe_rows(frame, bad_q)}")
    num = pd.to_numeric(frame[part], errors="coerce")
    den = pd.to_numeric(frame["denominator"], errors="coerce")
    bad = num.isna() | den.isna() | (num < 0) | (den < 0) | (num > den) | (num % 1 != 0) | (den % 1 != 0)
    if bad.any():
        raise InputError(f"{source}: columns '{part}'/'denominator' must be counts with 0 <= {part} <= denominator: "
                         f"{describe_rows(frame, bad)}")
    return num, den


def check_measures(measures: pd.DataFrame, source: str = "measures") -> pd.DataFrame:
    """Check a measures table against the contract and return it: :class:`InputError` (naming ``source``, the column
    and the first offending rows) for a missing column (``area`` is optional), an IMD quintile outside 1..5, or counts
    that are not whole numbers with ``0 <= numerator <= denominator``."""
    require_columns(measures, MEASURE_COLUMNS[1:], source)
    check_quintile_counts(measures, "numerator", source)
    return measures


def read_measures(path) -> pd.DataFrame:
    """Read and check a measures Parquet file (a relative path is taken from the repository root)."""
    from ..paths import resolve

    path = resolve(path)
    return check_measures(read_parquet(path, columns=MEASURE_COLUMNS[1:]), source=str(path))
