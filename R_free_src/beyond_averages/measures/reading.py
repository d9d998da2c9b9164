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


# Month index of every day from 1800 to 2200 (days since 1970-01-01 -> year * 12 + month - 1), after a first slot
# holding NEVER for missing dates: a table look-up is several times faster than Arrow's year/month kernels and gives
# the same months (both proleptic Gregorian).
_FIRST_DAY = int(np.datetime64("1800-01-01", "D").astype(np.int64))
_LAST_DAY = int(np.datetime64("2200-01-01", "D").astype(np.int64))
_MONTH_OF_DAY: np.ndarray | None = None


def _month_of_day() -> np.ndarray:
    global _MONTH_OF_DAY
    if _MONTH_OF_DAY is None:
        days = np.arange(_FIRST_DAY, _LAST_DAY, dtype=np.int64).astype("datetime64[D]")
        _MONTH_OF_DAY = np.concatenate([[NEVER], days.astype("datetime64[M]").astype(np.int64) + 1970 * 12])
    return _MONTH_OF_DAY


def _months_of_days(column) -> np.ndarray | None:
    """Months of a date32 column by table look-up (None when a date lies outside the table)."""
    days = column.cast(pa.int32())
    if isinstance(days, pa.ChunkedArray):
        days = days.combine_chunks()
    n = len(days)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    values = np.frombuffer(days.buffers()[1], dtype=np.int32, count=n, offset=days.offset * 4)
    if days.null_count > n // 2:  # mostly missing (death dates): look up the few dates there are
        at = np.flatnonzero(days.is_valid().to_numpy(zero_copy_only=False))
        slot = np.subtract(values.take(at), _FIRST_DAY - 1, dtype=np.int64)
        if len(at) and (slot.min() < 1 or slot.max() > _LAST_DAY - _FIRST_DAY):
            return None
        months = np.full(n, NEVER, dtype=np.int64)
        months[at] = _month_of_day().take(slot)
        return months
    slot = np.subtract(values, _FIRST_DAY - 1, dtype=np.int64)  # 1 = the table's first day
    if days.null_count:
        # Missing dates go to slot 0 (NEVER) by multiplication, not masked assignment: no branch per row.
        slot *= days.is_valid().to_numpy(zero_copy_only=False)
        if np.count_nonzero(slot) != n - days.null_count:  # a real date in slot 0 (or its garbage value) is no date
            return None
    lowest = 0 if days.null_count else 1  # slot 0 is NEVER: only missing dates may sit there
    if slot.min() < lowest or slot.max() > _LAST_DAY - _FIRST_DAY:
        return None
    return _month_of_day().take(slot)


def _months_of(column, source: str, name: str, allow_null: bool) -> np.ndarray:
    """Month index of a date32/timestamp Arrow column (``NEVER`` where missing), computed in Arrow (date32 columns:
    by table look-up)."""
    if pa.types.is_date32(column.type):
        if column.null_count and not allow_null:
            raise InputError(f"{source}: column {name!r} has {column.null_count} missing date(s); it must be "
                             "complete")
        months = _months_of_days(column)
        if months is not None:
            return months
    try:
        months = pc.add(pc.multiply(pc.year(column), 12), pc.subtract(pc.month(column), 1))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, TypeError) as exc:
        raise InputError(f"{source}: column {name!r} is not a date column ({column.type}): {exc}") from None
    if months.null_count and not allow_null:
        raise InputError(f"{source}: column {name!r} has {months.null_count} missing date(s); it must be complete")
    return np.asarray(months.fill_null(NEVER).to_numpy(), dtype=np.int64)


_METADATA: dict[str, tuple[bytes, pq.FileMetaData]] = {}
_METADATA_KEPT = 8  # files whose footers are kept: an extract's patients and a few event files


def _footer(path: Path) -> bytes | None:
    """The raw footer (Thrift metadata) of a plain Parquet file, None if it is not one."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size < 12:
            return None
        f.seek(size - 8)
        tail = f.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length > size - 12:
            return None
        f.seek(size - 8 - length)
        return f.read(length)


def parquet_metadata(path: Path) -> pq.FileMetaData:
    """The parsed footer of a Parquet file, parsed once per process (and inherited by forked workers): every partition
    of a partitioned run opens the same two files, and parsing a footer of hundreds of row groups costs milliseconds.
    The raw footer is read every time and compared with the one parsed, so a rewritten file is parsed afresh."""
    key = str(Path(path).resolve())
    raw = _footer(path)
    cached = _METADATA.get(key)
    if raw is not None and cached is not None and cached[0] == raw:
        return cached[1]
    meta = pq.ParquetFile(path).metadata
    if raw is not None:
        _METADATA.pop(key, None)
        if len(_METADATA) >= _METADATA_KEPT:
            _METADATA.pop(next(iter(_METADATA)))
        _METADATA[key] = (raw, meta)
    return meta


def _read(path: Path, columns: tuple[str, ...], dictionary: tuple[str, ...] = (),
          row_groups: Sequence[int] | None = None):
    """Read ``columns`` (text columns in ``dictionary`` dictionary-encoded, which keeps memory small) of the
    ``row_groups`` given (all when None)."""
    if not path.exists():
        raise InputError(f"{path}: file not found (run `make data`, or set extract_dir in study.yaml to a real "
                         "extract)")
    meta = parquet_metadata(path)
    names = meta.schema.to_arrow_schema().names
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; found {', '.join(names)}")
    return _ColumnReader(path, meta, dictionary, row_groups)


class _ColumnReader:
    """Reads one column at a time, so only one column's decoding buffers are alive at once, on the calling thread:
    the partitions already keep every core busy, and Arrow's thread pool on top of them only adds overhead."""

    def __init__(self, path: Path, meta: pq.FileMetaData, dictionary: tuple[str, ...],
                 row_groups: Sequence[int] | None):
        self._file = pq.ParquetFile(path, metadata=meta, read_dictionary=list(dictionary) or None, pre_buffer=False)
        self._row_groups = None if row_groups is None else list(row_groups)

    def __getitem__(self, name: str):
        if self._row_groups is None:
            column = self._file.read(columns=[name], use_threads=False).column(0)
        else:
            column = self._file.read_row_groups(self._row_groups, columns=[name], use_threads=False).column(0)
        return column.unify_dictionaries() if pa.types.is_dictionary(column.type) else column


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


def _quintiles(decile, source: str) -> np.ndarray:
    """IMD quintile (1-5, 0 = missing decile) of each row of an ``imd_decile`` Arrow column."""
    if pa.types.is_integer(decile.type):
        bounds = pc.min_max(decile).as_py()
        if bounds["min"] is None or (bounds["min"] >= 1 and bounds["max"] <= 10):
            # Whole deciles 1..10: look each up in the one definition, evaluated on the ten deciles.
            by_decile = np.concatenate([[0], imd_quintile_from_decile(np.arange(1, 11))]).astype(np.int64)
            return by_decile[np.asarray(decile.fill_null(0).to_numpy(), dtype=np.int64)]
    values = decile.to_pandas().to_numpy(dtype="float64", na_value=np.nan)
    try:
        return np.nan_to_num(imd_quintile_from_decile(values), nan=0).astype(np.int64)
    except ValueError as exc:
        raise InputError(f"{source}: column 'imd_decile': {exc}") from None


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
    quintile = _quintiles(table["imd_decile"], str(path))
    sex_values, sex_code = _codes(table["sex"], str(path), "sex")
    bad_sex = [str(v) for v in sex_values if v not in ("female", "male", "unknown")]
    if bad_sex:
        raise InputError(f"{path}: column 'sex' has value {bad_sex[0]!r}; expected female, male or unknown")
    female = (sex_values == "female")[sex_code]
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
    wanted_rows = None  # numpy flags per row, when the codes are dictionary-encoded and complete
    if pa.types.is_dictionary(code.type):
        names = np.asarray(code.dictionary.to_pylist(), dtype=object).astype(str)
        if not code.null_count and value_max is None:
            wanted_rows = np.isin(names, list(codes)).take(code.indices.to_numpy())
        else:
            wanted = pa.array(np.flatnonzero(np.isin(names, list(codes))), type=code.indices.type)
            keep = pc.is_in(code.indices, value_set=wanted)
    else:
        keep = pc.is_in(code.cast(pa.string()), value_set=pa.array(codes, "string"))
    if value_max is not None:
        keep = pc.and_(keep, pc.less_equal(table["value"], value_max))
    del code
    ids, dates = table["patient_id"], table["event_date"]
    if wanted_rows is not None and not (ids.null_count or dates.null_count):
        # Complete columns (the usual case): months of every row, then one numpy selection of ids and months.
        months = _months_of(dates, str(path), "event_date", allow_null=False)
        ids = ids.combine_chunks().to_numpy(zero_copy_only=False)
        if not wanted_rows.all():
            ids, months = ids[wanted_rows], months[wanted_rows]
        return ids, months
    if wanted_rows is not None:
        keep = pa.array(wanted_rows)
    kept = {"patient_id": ids.filter(keep), "event_date": dates.filter(keep)}
    months = _months_of(kept["event_date"], str(path), "event_date", allow_null=False)
    return kept["patient_id"].to_numpy(), months
