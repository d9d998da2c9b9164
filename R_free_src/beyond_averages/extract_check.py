"""The data contract of an extract, checked at day level before any measure is computed.

The measures read months only, so a broken extract (text ids in one file and integers in another, a birth in the
future, a registration that ends before it starts on the same month) either crashes deep inside numpy or slips
through silently. :func:`check_extract` reads only the columns it needs, with vectorised Arrow compute, and checks:

- **columns and types** (from the Parquet schema, never droppable): every required column is present; ids are
  integers (as the data dictionary says) or text, of the *same* kind in ``patients`` and ``events_<area>``;
  ``practice_id`` and ``code`` are text; dates are dates or timestamps; ``value`` and ``imd_decile`` are numbers;
- **keys**: ``patient_id`` unique and present in ``patients``; every event's patient in ``patients``; one
  programme row per practice, each practice among the patients' practices;
- **ranges, per row**: ``birth_date`` from 1900-01-01 (:data:`EARLIEST_BIRTH`) to the end of the study window (a
  patient born after it cannot have been registered in it); ``registration_start >= birth_date``;
  ``registration_end >= registration_start``; ``death_date >= birth_date``; ``registration_start <= death_date``;
  ``sex`` in female/male/unknown; ``imd_decile`` a whole number 1..10 (or empty); event dates from the earliest
  birth date in ``patients`` to the last day of the study window (no measure can use an event outside it, so one
  there means a wrong date or a wrong window in ``study.yaml``).

Strict (default): the first broken rule raises :class:`InputError`, one line naming the file, the column, the rule,
the count of offending rows and the first few. ``lenient=True``: offending patient and event rows are dropped
instead (dropping a patient drops their events) and :class:`CheckReport` counts them per file and rule; schema and
programme problems still raise, because nothing downstream would see a filtered schema or programme table (the
chapters read ``programme_<area>.parquet`` themselves, and dropping an adoption would change the design silently).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .config import Study, load_area, load_study
from .files import InputError, atomic_path, describe_rows, write_text

EARLIEST_BIRTH = dt.date(1900, 1, 1)
SEXES = ("female", "male", "unknown")
LENIENT_HINT = " (`measures --lenient` drops such rows)"

# Required columns and the kind each must have. "id": integer or text, the same kind in every file.
PATIENT_TYPES = {"patient_id": "id", "practice_id": "text", "sex": "text", "birth_date": "date",
                 "ethnicity": "text", "imd_decile": "number", "registration_start": "date",
                 "registration_end": "date", "death_date": "date"}
OPTIONAL_PATIENT_TYPES = {"lsoa_code": "text"}
EVENT_TYPES = {"patient_id": "id", "code": "text", "event_date": "date"}
PROGRAMME_TYPES = {"practice_id": "text", "programme_start": "date"}
KIND_NAMES = {"id": "integer (int64, as the data dictionary says) or text", "text": "text (string)",
              "date": "a date (date32) or timestamp", "number": "a number (integer or float)"}


@dataclass(frozen=True)
class Dropped:
    """Rows of one file dropped (lenient mode) for breaking one rule."""

    file: str
    column: str
    rule: str
    rows: int


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_extract` found: rows read and kept per file, and the rows dropped per file and rule.

    ``keep`` holds, for each file with dropped rows, the boolean mask of rows kept (in file order).
    """

    extract_dir: Path
    area: str | None
    lenient: bool
    rows: dict[str, int]
    dropped: tuple[Dropped, ...] = ()
    keep: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def kept(self, file: str) -> int:
        mask = self.keep.get(file)
        return self.rows[file] if mask is None else int(mask.sum())

    @property
    def n_dropped(self) -> dict[str, int]:
        return {name: n - self.kept(name) for name, n in self.rows.items()}

    def log_lines(self) -> list[str]:
        """One line per file and broken rule, for the log (stderr)."""
        return [f"extract check: {d.file}: dropped {d.rows:,} row(s) breaking {d.rule!r} (column {d.column!r})"
                for d in self.dropped]

    def to_dict(self) -> dict:
        """Counts only (no ids or rows): this file sits beside the measures and feeds the data chapter."""
        return {
            "area": self.area,
            "mode": "lenient" if self.lenient else "strict",
            "files": {name: {"rows": n, "kept": self.kept(name), "dropped": n - self.kept(name)}
                      for name, n in self.rows.items()},
            "dropped": [{"file": d.file, "column": d.column, "rule": d.rule, "rows": d.rows} for d in self.dropped],
        }

    def write(self, path: str | Path) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")


def _kind(t: pa.DataType) -> str | None:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return "date"
    if pa.types.is_floating(t):
        return "float"
    return None


def _first_rows(path: Path, column: str, n: int = 3) -> str:
    batch = next(pq.ParquetFile(path).iter_batches(batch_size=n, columns=[column]), None)
    frame = batch.to_pandas() if batch is not None else pd.DataFrame({column: []})
    return describe_rows(frame, np.ones(len(frame), bool))


def _schema(path: Path, types: dict[str, str], optional: dict[str, str] | None = None) -> pa.Schema:
    """Check that ``path`` exists, has the required columns and each has the kind it must have."""
    if not path.exists():
        raise InputError(f"{path}: file not found (rule: required files; run `make data`, or set extract_dir in "
                         "study.yaml to a real extract)")
    schema = pq.read_schema(path)
    missing = [c for c in types if c not in schema.names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))} (rule: required columns); "
                         f"found {', '.join(schema.names)}")
    n_rows = pq.ParquetFile(path).metadata.num_rows
    for name, want in {**types, **{k: v for k, v in (optional or {}).items() if k in schema.names}}.items():
        got = _kind(schema.field(name).type)
        ok = {"id": got in ("integer", "text"), "text": got == "text", "date": got == "date",
              "number": got in ("integer", "float")}[want]
        if not ok:
            raise InputError(f"{path}: column {name!r} has type {schema.field(name).type}; rule: it must be "
                             f"{KIND_NAMES[want]}: all {n_rows:,} rows: {_first_rows(path, name)}")
    return schema


def _same_id_kind(path_a: Path, schema_a: pa.Schema, path_b: Path, schema_b: pa.Schema, column: str) -> None:
    """Ids of one kind in both files; the error names the file that departs from the dictionary (text ids)."""
    kind_a, kind_b = _kind(schema_a.field(column).type), _kind(schema_b.field(column).type)
    if kind_a != kind_b:
        (bad, bad_schema), (other, other_schema) = sorted(
            [(path_a, schema_a), (path_b, schema_b)], key=lambda f: _kind(f[1].field(column).type) != "text")
        n_rows = pq.ParquetFile(bad).metadata.num_rows
        raise InputError(f"{bad}: column {column!r} has type {bad_schema.field(column).type} but {other.name} has "
                         f"{other_schema.field(column).type}; rule: ids of one kind in every file (integers, as the "
                         f"data dictionary says): all {n_rows:,} rows: {_first_rows(bad, column)}")


def _date(column) -> pa.ChunkedArray:
    """A date or timestamp column as date32 (days), so every comparison is at day level."""
    return column if column.type == pa.date32() else pc.cast(column, pa.date32())


def _np(mask) -> np.ndarray:
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _not_in(column, allowed: tuple[str, ...]) -> np.ndarray:
    """Rows whose text value is missing or not one of ``allowed`` (decoded once per dictionary)."""
    column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        names = np.asarray(column.dictionary.to_pylist(), dtype=object)
        bad_codes = ~np.isin(names, list(allowed))
        idx = column.indices.to_numpy(zero_copy_only=False)
        out = np.ones(len(column), bool)
        valid = column.indices.is_valid().to_numpy(zero_copy_only=False)
        out[valid] = bad_codes[idx[valid].astype(np.int64)]
        return out
    return ~_np(pc.is_in(column, value_set=pa.array(allowed, column.type)))


class _Rules:
    """Collects one file's broken rules: raises on the first in strict mode, accumulates drops in lenient mode."""

    def __init__(self, path: Path, table: pa.Table, lenient: bool):
        self.path, self.table, self.lenient = path, table, lenient
        self.bad = np.zeros(table.num_rows, bool)
        self.dropped: list[Dropped] = []

    def check(self, column: str, rule: str, mask: np.ndarray, show: tuple[str, ...] = ()) -> None:
        n = int(np.count_nonzero(mask))
        if not n:
            return
        if not self.lenient:
            shown = [c for c in dict.fromkeys(("patient_id", *show, column)) if c in self.table.column_names]
            frame = self.table.select(shown).to_pandas()
            raise InputError(f"{self.path}: column {column!r} breaks the rule '{rule}' in {n:,} of "
                             f"{self.table.num_rows:,} rows: {describe_rows(frame, mask)}{LENIENT_HINT}")
        self.dropped.append(Dropped(self.path.name, column, rule, n))
        self.bad |= mask


def _check_patients(path: Path, study: Study, lenient: bool) -> tuple[pa.Table, _Rules]:
    columns = ("patient_id", "practice_id", "sex", "birth_date", "imd_decile", "registration_start",
               "registration_end", "death_date")
    table = pq.ParquetFile(path, read_dictionary=["practice_id", "sex"]).read(columns=list(columns))
    for name in ("birth_date", "registration_start", "registration_end", "death_date"):
        table = table.set_column(table.schema.get_field_index(name), name, _date(table[name]))
    r, t = _Rules(path, table, lenient), table
    pid = t["patient_id"]
    r.check("patient_id", "patient_id is present", _np(pc.is_null(pid)))
    ids = pid.to_numpy(zero_copy_only=False)
    # Extracts usually come sorted by patient id: strictly increasing integers are unique without hashing.
    if not (pid.null_count == 0 and ids.dtype.kind == "i" and np.all(ids[1:] > ids[:-1])):
        ids = pd.Series(ids)
        r.check("patient_id", "patient_id is unique", (ids.duplicated(keep=False) & ids.notna()).to_numpy())
    for name in ("practice_id", "birth_date", "registration_start"):
        r.check(name, f"{name} is present", _np(pc.is_null(t[name])))
    r.check("sex", "sex is female, male or unknown", _not_in(t["sex"], SEXES))
    decile = t["imd_decile"].to_numpy(zero_copy_only=False).astype("float64")
    with np.errstate(invalid="ignore"):
        bad_decile = ~np.isnan(decile) & ((decile < 1) | (decile > 10) | (decile % 1 != 0))
    r.check("imd_decile", "imd_decile is a whole number 1..10 or empty", bad_decile)
    birth, start, end, death = t["birth_date"], t["registration_start"], t["registration_end"], t["death_date"]
    window_end = study_window_end(study)
    r.check("birth_date", f"birth_date >= {EARLIEST_BIRTH}", _np(pc.less(birth, _day(EARLIEST_BIRTH))))
    r.check("birth_date", f"birth_date <= {window_end} (end of the study window)",
            _np(pc.greater(birth, _day(window_end))))
    r.check("registration_start", "registration_start >= birth_date", _np(pc.less(start, birth)), ("birth_date",))
    r.check("registration_end", "registration_end >= registration_start", _np(pc.less(end, start)),
            ("registration_start",))
    r.check("death_date", "death_date >= birth_date", _np(pc.less(death, birth)), ("birth_date",))
    r.check("registration_start", "registration_start <= death_date", _np(pc.greater(start, death)),
            ("death_date",))
    return table, r


def _day(value: dt.date) -> pa.Scalar:
    return pa.scalar(value, pa.date32())


def study_window_end(study: Study) -> dt.date:
    """The last day of the study window's last month."""
    return (pd.Timestamp(study.study_end) + pd.offsets.MonthEnd(0)).date()


def _id_array(column, like: pa.DataType) -> pa.Array:
    """Ids cast to one type (int64 or string), so ids of the same kind but different widths compare."""
    target = pa.int64() if _kind(like) == "integer" else pa.string()
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return pc.cast(column, target)


def _member(ids: pa.Array, value_set: pa.Array) -> np.ndarray:
    """Rows of ``ids`` found in ``value_set``: binary search for integer ids (hashing 4 million is much slower)."""
    if not pa.types.is_integer(ids.type):
        return _np(pc.is_in(ids, value_set=value_set))
    values = np.sort(value_set.drop_null().to_numpy())
    if not len(values):
        return np.zeros(len(ids), bool)
    found = ids.fill_null(values[0] - 1).to_numpy()  # a missing id never matches
    pos = np.minimum(np.searchsorted(values, found), len(values) - 1)
    return values[pos] == found


def _check_events(path: Path, study: Study, patients: pa.Table, keep_patients: np.ndarray,
                  lenient: bool) -> tuple[_Rules, list[Dropped]]:
    table = pq.ParquetFile(path, read_dictionary=["code"]).read(columns=["patient_id", "code", "event_date"])
    table = table.set_column(2, "event_date", _date(table["event_date"]))
    r = _Rules(path, table, lenient)
    for name in ("patient_id", "code", "event_date"):
        r.check(name, f"{name} is present", _np(pc.is_null(table[name])))
    births = pc.min(patients["birth_date"].filter(pa.array(keep_patients))).as_py() or EARLIEST_BIRTH
    lower, upper = max(births, EARLIEST_BIRTH), study_window_end(study)
    date = table["event_date"]
    r.check("event_date", f"event_date >= {lower} (earliest birth_date in patients.parquet)",
            _np(pc.less(date, _day(lower))))
    r.check("event_date", f"event_date <= {upper} (end of the study window)", _np(pc.greater(date, _day(upper))))
    all_ids = _id_array(patients["patient_id"], patients.schema.field("patient_id").type)
    ids = _id_array(table["patient_id"], patients.schema.field("patient_id").type)
    r.check("patient_id", "patient_id is in patients.parquet", ~_member(ids, all_ids))
    # Events of patients dropped by the patient rules go with them (counted apart: they broke no event rule).
    extra = []
    if lenient and not keep_patients.all():
        gone = _member(ids, all_ids.filter(pa.array(~keep_patients))) & ~r.bad
        if gone.any():
            extra.append(Dropped(path.name, "patient_id", "its patient is kept in patients.parquet", int(gone.sum())))
            r.bad |= gone
    return r, extra


def _check_programme(path: Path, practices: pa.Array) -> int:
    """Programme rows are never dropped: every problem raises (see the module docstring)."""
    frame = pq.read_table(path, columns=["practice_id", "programme_start"]).to_pandas()
    pid = frame["practice_id"]
    rules = [
        ("practice_id", "practice_id is present", pid.isna()),
        ("programme_start", "programme_start is present", frame["programme_start"].isna()),
        ("practice_id", "one row per practice", pid.duplicated(keep=False) & pid.notna()),
        ("practice_id", "practice_id is a practice in patients.parquet",
         pid.notna() & ~pid.isin(practices.to_pylist())),
    ]
    for column, rule, mask in rules:
        if mask.any():
            raise InputError(f"{path}: column {column!r} breaks the rule '{rule}' in {int(mask.sum()):,} of "
                             f"{len(frame):,} rows: {describe_rows(frame, mask.to_numpy())}")
    return len(frame)


def check_extract(extract_dir: str | Path, area: str | None = None, study: Study | None = None, *,
                  lenient: bool = False) -> CheckReport:
    """Check ``patients.parquet`` and, with ``area``, ``events_<area>.parquet`` and ``programme_<area>.parquet``
    against the data contract (module docstring). Strict: :class:`InputError` on the first broken rule. Lenient:
    offending patient and event rows are dropped; the report counts them per file and rule."""
    study = study or load_study()
    extract_dir = Path(extract_dir)
    area_name = load_area(area).name if isinstance(area, str) else getattr(area, "name", None)
    p_path = extract_dir / "patients.parquet"
    p_schema = _schema(p_path, PATIENT_TYPES, OPTIONAL_PATIENT_TYPES)
    e_path = extract_dir / f"events_{area_name}.parquet"
    g_path = extract_dir / f"programme_{area_name}.parquet"
    if area_name:
        e_schema = _schema(e_path, EVENT_TYPES, {"value": "number"})
        _same_id_kind(p_path, p_schema, e_path, e_schema, "patient_id")
        _schema(g_path, PROGRAMME_TYPES)
    patients, p_rules = _check_patients(p_path, study, lenient)
    rows, keep, dropped = {p_path.name: patients.num_rows}, {}, list(p_rules.dropped)
    keep_patients = ~p_rules.bad
    if area_name:
        practices = pc.unique(patients["practice_id"].combine_chunks().dictionary_decode())
        rows[g_path.name] = _check_programme(g_path, practices)
        e_rules, extra = _check_events(e_path, study, patients, keep_patients, lenient)
        rows[e_path.name] = e_rules.table.num_rows
        dropped += e_rules.dropped + extra
        if e_rules.bad.any():
            keep[e_path.name] = ~e_rules.bad
    if p_rules.bad.any():
        keep[p_path.name] = keep_patients
    return CheckReport(extract_dir, area_name, lenient, rows, tuple(dropped), keep)


@contextmanager
def checked_extract(report: CheckReport) -> Iterator[Path]:
    """The extract folder to compute measures from: the original one when nothing was dropped, else a temporary
    folder holding copies of the filtered files (streamed row group by row group), removed afterwards."""
    if not report.keep:
        yield report.extract_dir
        return
    folder = Path(tempfile.mkdtemp(prefix="checked_extract_"))
    try:
        for name in ("patients.parquet", f"events_{report.area}.parquet", f"programme_{report.area}.parquet"):
            source = report.extract_dir / name
            if name in report.keep:
                _write_filtered(source, folder / name, report.keep[name])
            elif source.exists():
                shutil.copyfile(source, folder / name)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write_filtered(source: Path, target: Path, keep: np.ndarray) -> None:
    reader = pq.ParquetFile(source)
    offset = 0
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, reader.schema_arrow, compression="zstd") as writer:
        for i in range(reader.num_row_groups):
            group = reader.read_row_group(i)
            writer.write_table(group.filter(pa.array(keep[offset:offset + group.num_rows])))
            offset += group.num_rows
