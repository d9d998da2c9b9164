"""Reading the extract's patients and events into arrays of month indices, whole or a few row groups at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..config import Area
from ..deprivation import imd_quintile_from_decile
from ..files import InputError
from ..months import NEVER

PATIENT_COLUMNS = ("patient_id", "practice_id", "sex", "birth_date", "imd_decile", "registration_start",
                   "registration_end", "death_date")
EVENT_COLUMNS = ("patient_id", "code", "event_date", "value")


@dataclass(frozen=True)
class Patients:
    """The patient table as arrays of month indices (``NEVER`` = no end)."""

    patient_id: np.ndarray
    practice_ids: np.ndarray     # unique practice ids, sorted
    practice: np.ndarray         # index into practice_ids
    quintile: np.ndarray         # 1-5, 0 = IMD unknown
    female: np.ndarray
    birth: np.ndarray
    reg_start: np.ndarray
    reg_end: np.ndarray
    death: np.ndarray


def _months_of(column, source: str, name: str, allow_null: bool) -> np.ndarray:
    """Month index of a date32/timestamp Arrow column (``NEVER`` where missing), computed in Arrow."""
    try:
        months = pc.add(pc.multiply(pc.year(column), 12), pc.subtract(pc.month(column), 1))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, TypeError) as exc:
        raise InputError(f"{source}: column {name!r} is not a date column ({column.type}): {exc}") from None
    if months.null_count and not allow_null:
        raise InputError(f"{source}: column {name!r} has {months.null_count} missing date(s); it must be complete")
    return np.asarray(months.fill_null(NEVER).to_numpy(), dtype=np.int64)


def _read(path: Path, columns: tuple[str, ...], dictionary: tuple[str, ...] = (),
          row_groups: Sequence[int] | None = None):
    """Read ``columns`` (text columns in ``dictionary`` dictionary-encoded, which keeps memory small) of the
    ``row_groups`` given (all when None)."""
    if not path.exists():
        raise InputError(f"{path}: file not found (run `make data`, or set extract_dir in study.yaml to a real "
                         "extract)")
    names = pq.read_schema(path).names
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; found {', '.join(names)}")
    return _ColumnReader(path, dictionary, row_groups)


class _ColumnReader:
    """Reads one column at a time, so only one column's decoding buffers are alive at once."""

    def __init__(self, path: Path, dictionary: tuple[str, ...], row_groups: Sequence[int] | None):
        self._file = pq.ParquetFile(path, read_dictionary=list(dictionary) or None, pre_buffer=False)
        self._row_groups = None if row_groups is None else list(row_groups)

    def __getitem__(self, name: str):
        if self._row_groups is None:
            column = self._file.read(columns=[name]).column(0)
        else:
            column = self._file.read_row_groups(self._row_groups, columns=[name]).column(0)
        return column.unify_dictionaries() if pa.types.is_dictionary(column.type) else column

    def filtered(self, columns: tuple[str, ...], keep):
        return {c: self[c].filter(keep) for c in columns}


def _codes(column, source: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of a string column and each row's index into them (fast, via Arrow)."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column.cast("string"))
    encoded = column.combine_chunks()
    values = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    if any(v is None for v in values) or encoded.indices.null_count:
        raise InputError(f"{source}: column {name!r} has missing values; it must be complete")
    order = np.argsort(values.astype(str), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return values[order].astype(str), rank[encoded.indices.to_numpy()]


def load_patients(extract_dir: Path, row_groups: Sequence[int] | None = None) -> Patients:
    """The patients of ``patients.parquet`` (only those of ``row_groups``, when given: one partition)."""
    path = Path(extract_dir) / "patients.parquet"
    table = _read(path, PATIENT_COLUMNS, dictionary=("practice_id", "sex"), row_groups=row_groups)
    pid = np.asarray(table["patient_id"].to_numpy())
    sorted_pid = pid if np.all(pid[1:] > pid[:-1]) else np.sort(pid)
    repeated = sorted_pid[1:] == sorted_pid[:-1]
    if repeated.any():
        dup = sorted_pid[1:][repeated][0]
        raise InputError(f"{path}: column 'patient_id' has duplicates (e.g. {dup}); one row per patient is expected")
    practice_ids, practice = _codes(table["practice_id"], str(path), "practice_id")
    decile = table["imd_decile"].to_pandas().to_numpy(dtype="float64", na_value=np.nan)
    try:
        quintile = np.nan_to_num(imd_quintile_from_decile(decile), nan=0).astype(np.int64)
    except ValueError as exc:
        raise InputError(f"{path}: column 'imd_decile': {exc}") from None
    sex_values, sex_code = _codes(table["sex"], str(path), "sex")
    bad_sex = [str(v) for v in sex_values if v not in ("female", "male", "unknown")]
    if bad_sex:
        raise InputError(f"{path}: column 'sex' has value {bad_sex[0]!r}; expected female, male or unknown")
    female = np.isin(sex_code, np.flatnonzero(sex_values == "female"))
    p = Patients(
        patient_id=pid,
        practice_ids=practice_ids,
        practice=practice.astype(np.int64),
        quintile=quintile,
        female=female,
        birth=_months_of(table["birth_date"], str(path), "birth_date", allow_null=False),
        reg_start=_months_of(table["registration_start"], str(path), "registration_start", allow_null=False),
        reg_end=_months_of(table["registration_end"], str(path), "registration_end", allow_null=True),
        death=_months_of(table["death_date"], str(path), "death_date", allow_null=True),
    )
    bad = (p.reg_end != NEVER) & (p.reg_end < p.reg_start)
    if bad.any():
        raise InputError(f"{path}: column 'registration_end' is before 'registration_start' for patient "
                         f"{pid[bad][0]} ({int(bad.sum())} rows)")
    return p


def read_events(extract_dir: Path, area: Area, codes: tuple[str, ...], value_max: float | None = None,
                row_groups: Sequence[int] | None = None):
    """Patient ids and event months of events with one of ``codes`` (in ``row_groups`` only, when given)."""
    path = Path(extract_dir) / f"events_{area.name}.parquet"
    columns = EVENT_COLUMNS if value_max is not None else EVENT_COLUMNS[:3]
    table = _read(path, columns, dictionary=("code",), row_groups=row_groups)
    # Match codes on the (small) dictionary, then select rows by index: no decoding of millions of strings.
    code = table["code"].combine_chunks()
    if pa.types.is_dictionary(code.type):
        names = np.asarray(code.dictionary.to_pylist(), dtype=object).astype(str)
        wanted = pa.array(np.flatnonzero(np.isin(names, list(codes))), type=code.indices.type)
        keep = pc.is_in(code.indices, value_set=wanted)
    else:
        keep = pc.is_in(code.cast(pa.string()), value_set=pa.array(codes, "string"))
    if value_max is not None:
        keep = pc.and_(keep, pc.less_equal(table["value"], value_max))
    del code
    kept = table.filtered(("patient_id", "event_date"), keep)
    months = _months_of(kept["event_date"], str(path), "event_date", allow_null=False)
    return kept["patient_id"].to_numpy(), months
