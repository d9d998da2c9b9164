"""The row rules of an extract's data contract, checked batch by batch (see :mod:`beyond_averages.extract_check`).

Every per-row rule is local to its row, so ``patients.parquet`` and ``events_<area>.parquet`` are read in batches
of at most :data:`BATCH_ROWS` rows, and memory follows a batch, not the file. The only whole-file state is the
patients' ids (one int64 array, 8 bytes a patient, in file order: sorted already when the extract is, as extracts
usually are), which the uniqueness of ``patient_id`` and the events' membership in ``patients`` need, plus one
boolean a row for the rows dropped in lenient mode. Counts are taken over the whole file before a strict error is
raised, so its message (the first broken rule in the rule order, its count over the file, its first offending rows
with their positions in the file) is the same whatever the batches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .config import Study
from .files import InputError

EARLIEST_BIRTH = dt.date(1900, 1, 1)
SEXES = ("female", "male", "unknown")
LENIENT_HINT = " (`measures --lenient` drops such rows)"
BATCH_ROWS = 1 << 18  # rows per batch (262,144): about 15 MB of patient columns, whatever the row groups
EXAMPLES = 3          # offending rows shown in an error


@dataclass(frozen=True)
class Dropped:
    """Rows of one file dropped (lenient mode) for breaking one rule."""

    file: str
    column: str
    rule: str
    rows: int


def kind(t: pa.DataType) -> str | None:
    """The kind of a column type the contract speaks of: integer, text, date or float (None: none of them)."""
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


def study_window_end(study: Study) -> dt.date:
    """The last day of the study window's last month."""
    return (pd.Timestamp(study.study_end) + pd.offsets.MonthEnd(0)).date()


def batches(path: Path, columns: list[str], dictionary: tuple[str, ...] = (),
            dates: tuple[str, ...] = ()) -> Iterator[tuple[pa.Table, int]]:
    """``path`` in batches of at most :data:`BATCH_ROWS` rows, in file order, each with its first row's position;
    the ``dates`` columns as date32 (days), so every comparison is at day level."""
    offset = 0
    # pre_buffer=False: with it, the reader keeps every column chunk it prefetched until it is closed, so memory
    # grows with the file (215 MB more at scale 5), not with the batch.
    reader = pq.ParquetFile(path, read_dictionary=list(dictionary), pre_buffer=False)
    for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        table = pa.Table.from_batches([batch])
        for name in dates:
            if table[name].type != pa.date32():
                table = table.set_column(table.schema.get_field_index(name), name,
                                         pc.cast(table[name], pa.date32()))
        yield table, offset
        offset += batch.num_rows


def day(value: dt.date) -> pa.Scalar:
    return pa.scalar(value, pa.date32())


def np_mask(mask) -> np.ndarray:
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def not_in(column: pa.ChunkedArray, allowed: tuple[str, ...]) -> np.ndarray:
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
    return ~np_mask(pc.is_in(column, value_set=pa.array(allowed, column.type)))


def id_array(column, like: pa.DataType) -> pa.Array:
    """Ids cast to one type (int64 or string), so ids of the same kind but different widths compare."""
    target = pa.int64() if kind(like) == "integer" else pa.string()
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return pc.cast(column, target)


class FileRules:
    """One file's rules over its batches: counts per rule in the order first checked, the first offending rows
    (position in the file and shown columns), and in lenient mode the rows to drop. :meth:`finish` raises the first
    broken rule (strict) or lists the drops (lenient)."""

    def __init__(self, path: Path, n_rows: int, lenient: bool):
        self.path, self.n_rows, self.lenient = path, n_rows, lenient
        self.counts: dict[tuple[str, str], int] = {}
        self.examples: dict[tuple[str, str], list[tuple[np.ndarray, pa.Table]]] = {}
        self.bad = np.zeros(n_rows, bool)  # pages untouched (so unallocated) unless a row is dropped
        self.with_nulls: set[str] = set()
        self.table, self.offset = pa.table({}), 0

    def batch(self, table: pa.Table, offset: int) -> None:
        self.table, self.offset = table, offset
        self.with_nulls.update(name for name in table.column_names if table[name].null_count)

    def declare(self, column: str, rule: str) -> None:
        """Fix a rule's place in the order before its mask is known (one that needs the whole file)."""
        self.counts.setdefault((column, rule), 0)

    def here(self) -> slice:
        return slice(self.offset, self.offset + self.table.num_rows)

    def check(self, column: str, rule: str, mask: np.ndarray, show: tuple[str, ...] = ()) -> None:
        key = (column, rule)
        n = int(np.count_nonzero(mask))
        self.counts[key] = self.counts.get(key, 0) + n
        if not n:
            return
        if self.lenient:
            self.bad[self.here()] |= mask
        shown = self.examples.setdefault(key, [])
        need = EXAMPLES - sum(t.num_rows for _, t in shown)
        if need > 0:
            idx = np.flatnonzero(mask)[:need]
            columns = [c for c in dict.fromkeys(("patient_id", *show, column)) if c in self.table.column_names]
            shown.append((self.offset + idx, self.table.select(columns).take(pa.array(idx))))

    def finish(self) -> list[Dropped]:
        broken = [(key, n) for key, n in self.counts.items() if n]
        if broken and not self.lenient:
            (column, rule), n = broken[0]
            raise InputError(f"{self.path}: column {column!r} breaks the rule '{rule}' in {n:,} of "
                             f"{self.n_rows:,} rows: {self._describe((column, rule))}{LENIENT_HINT}")
        return [Dropped(self.path.name, column, rule, n) for (column, rule), n in broken]

    def _describe(self, key: tuple[str, str]) -> str:
        """As :func:`beyond_averages.files.describe_rows` shows rows of the whole file read into pandas: positions
        in the file, and integer columns with a missing value anywhere in the file shown as floats, as pandas
        holds them."""
        positions = np.concatenate([p for p, _ in self.examples[key]])
        frame = pa.concat_tables([t for _, t in self.examples[key]]).to_pandas()
        for name in self.with_nulls & set(frame.columns):
            if frame[name].dtype.kind in "iu":
                frame[name] = frame[name].astype("float64")
        return "; ".join(f"row {int(p)}: " + ", ".join(f"{k}={v}" for k, v in frame.iloc[j].items())
                         for j, p in enumerate(positions))


class PatientIds:
    """The patients' ids in file order: int64 (with a missing-value mask) or text."""

    def __init__(self, n_rows: int, id_type: pa.DataType):
        self.id_type = id_type
        self.integer = kind(id_type) == "integer"
        self.values = np.empty(n_rows if self.integer else 0, np.int64)
        self.missing = np.zeros(n_rows, bool)
        self.text: list[pa.Array] = []
        self.increasing = self.integer

    def add(self, column: pa.ChunkedArray, offset: int) -> None:
        ids = id_array(column, self.id_type)
        if ids.null_count:  # written only then: untouched zero pages take no memory
            self.missing[offset:offset + len(ids)] = np_mask(ids.is_null())
        if not self.integer:
            self.text.append(ids)
            return
        values = ids.fill_null(0).to_numpy()
        self.values[offset:offset + len(values)] = values
        # Strictly increasing integers (as extracts usually come) are unique and sorted without hashing.
        self.increasing = self.increasing and not ids.null_count and bool(
            np.all(values[1:] > values[:-1]) and (offset == 0 or not len(values) or values[0] > self.values[offset - 1]))

    def array(self) -> pa.Array:
        if self.integer:
            return pa.array(self.values, mask=self.missing)
        return pa.chunked_array(self.text, pa.string()).combine_chunks()

    def duplicated(self) -> np.ndarray:
        """Rows whose id is present and not unique."""
        if self.increasing:
            return np.zeros(len(self.missing), bool)
        if not self.integer:
            ids = pd.Series(self.array().to_numpy(zero_copy_only=False))
            return (ids.duplicated(keep=False) & ids.notna()).to_numpy()
        present = np.flatnonzero(~self.missing)
        order = np.argsort(self.values[present], kind="stable")
        ranked = self.values[present][order]
        same = ranked[1:] == ranked[:-1]
        dup = np.zeros(len(ranked), bool)
        dup[1:] |= same
        dup[:-1] |= same
        out = np.zeros(len(self.missing), bool)
        out[present[order]] = dup
        return out

    def value_set(self, rows: np.ndarray | None = None):
        """The ids (of ``rows``, a mask, or all): sorted present integers, or the text array."""
        if not self.integer:
            ids = self.array()
            return ids if rows is None else ids.filter(pa.array(rows))
        if rows is None and self.increasing:
            return self.values
        take = ~self.missing if rows is None else rows & ~self.missing
        return np.sort(self.values[take])


def member(ids: pa.Array, value_set) -> np.ndarray:
    """Rows of ``ids`` found in ``value_set`` (:meth:`PatientIds.value_set`): binary search for integer ids
    (hashing millions is much slower); a missing integer id never matches."""
    if not isinstance(value_set, np.ndarray):
        return np_mask(pc.is_in(ids, value_set=value_set))
    if not len(value_set) or not len(ids):
        return np.zeros(len(ids), bool)
    found = ids.fill_null(value_set[0] - 1).to_numpy()
    # Search only the span of ids the batch can match: one practice's patients when the extract is laid out by
    # practice, which stays in cache (the whole array at scale 5 does not: 3 times slower).
    lo, hi = np.searchsorted(value_set, [found.min(), found.max()], side="left")
    span = value_set[lo:hi + 1]
    if not len(span):
        return np.zeros(len(ids), bool)
    pos = np.minimum(np.searchsorted(span, found), len(span) - 1)
    return span[pos] == found


PATIENT_COLUMNS = ["patient_id", "practice_id", "sex", "birth_date", "imd_decile", "registration_start",
                   "registration_end", "death_date"]
PATIENT_DATES = ("birth_date", "registration_start", "registration_end", "death_date")


@dataclass(frozen=True)
class CheckedPatients:
    """What the events and the programme need from ``patients.parquet``, once its rules have passed (or dropped)."""

    rules: FileRules
    dropped: list[Dropped]
    ids: PatientIds
    practices: frozenset[str]
    earliest_birth: dt.date | None  # of the kept patients


def check_patients(path: Path, study: Study, lenient: bool) -> CheckedPatients:
    """The per-row rules of ``patients.parquet`` and the uniqueness of ``patient_id`` (module docstring of
    :mod:`beyond_averages.extract_check`); strict: :class:`InputError` on the first broken rule."""
    n_rows = pq.ParquetFile(path).metadata.num_rows
    r = FileRules(path, n_rows, lenient)
    ids = PatientIds(n_rows, pq.read_schema(path).field("patient_id").type)
    r.declare("patient_id", "patient_id is present")
    r.declare("patient_id", "patient_id is unique")
    window_end = study_window_end(study)
    practices: set[str] = set()
    births = []
    for t, offset in batches(path, PATIENT_COLUMNS, ("practice_id", "sex"), PATIENT_DATES):
        r.batch(t, offset)
        ids.add(t["patient_id"], offset)
        for name in ("patient_id", "practice_id", "birth_date", "registration_start"):
            r.check(name, f"{name} is present", np_mask(pc.is_null(t[name])))
        r.check("sex", "sex is female, male or unknown", not_in(t["sex"], SEXES))
        decile = t["imd_decile"].to_numpy().astype("float64")
        with np.errstate(invalid="ignore"):
            bad_decile = ~np.isnan(decile) & ((decile < 1) | (decile > 10) | (decile % 1 != 0))
        r.check("imd_decile", "imd_decile is a whole number 1..10 or empty", bad_decile)
        birth, start, end, death = t["birth_date"], t["registration_start"], t["registration_end"], t["death_date"]
        r.check("birth_date", f"birth_date >= {EARLIEST_BIRTH}", np_mask(pc.less(birth, day(EARLIEST_BIRTH))))
        r.check("birth_date", f"birth_date <= {window_end} (end of the study window)",
                np_mask(pc.greater(birth, day(window_end))))
        r.check("registration_start", "registration_start >= birth_date", np_mask(pc.less(start, birth)),
                ("birth_date",))
        r.check("registration_end", "registration_end >= registration_start", np_mask(pc.less(end, start)),
                ("registration_start",))
        r.check("death_date", "death_date >= birth_date", np_mask(pc.less(death, birth)), ("birth_date",))
        r.check("registration_start", "registration_start <= death_date", np_mask(pc.greater(start, death)),
                ("death_date",))
        practices.update(pc.unique(t["practice_id"].combine_chunks().dictionary_decode()).drop_null().to_pylist())
        births.append(pc.min(birth.filter(pa.array(~r.bad[r.here()]))).as_py())
    duplicated = ids.duplicated()
    if duplicated.any():  # the whole file's ids, shown as one batch
        r.batch(pa.table({"patient_id": ids.array()}), 0)
        r.check("patient_id", "patient_id is unique", duplicated)
        if lenient:  # a dropped duplicate may have been the earliest birth
            births = [pc.min(t["birth_date"].filter(pa.array(~r.bad[offset:offset + t.num_rows]))).as_py()
                      for t, offset in batches(path, ["birth_date"], dates=("birth_date",))]
    dropped = r.finish()
    births = [b for b in births if b is not None]
    return CheckedPatients(r, dropped, ids, frozenset(practices), min(births) if births else None)


def check_events(path: Path, study: Study, patients: CheckedPatients, lenient: bool) -> tuple[FileRules,
                                                                                             list[Dropped]]:
    """The per-row rules of ``events_<area>.parquet``, each event's patient among the patients; in lenient mode the
    events of dropped patients go with them (counted apart: they broke no event rule)."""
    r = FileRules(path, pq.ParquetFile(path).metadata.num_rows, lenient)
    lower, upper = max(patients.earliest_birth or EARLIEST_BIRTH, EARLIEST_BIRTH), study_window_end(study)
    all_ids = patients.ids.value_set()
    gone_ids = patients.ids.value_set(patients.rules.bad) if lenient and patients.rules.bad.any() else None
    n_gone = 0
    for t, offset in batches(path, ["patient_id", "code", "event_date"], ("code",), ("event_date",)):
        r.batch(t, offset)
        for name in ("patient_id", "code", "event_date"):
            r.check(name, f"{name} is present", np_mask(pc.is_null(t[name])))
        date = t["event_date"]
        r.check("event_date", f"event_date >= {lower} (earliest birth_date in patients.parquet)",
                np_mask(pc.less(date, day(lower))))
        r.check("event_date", f"event_date <= {upper} (end of the study window)",
                np_mask(pc.greater(date, day(upper))))
        ids = id_array(t["patient_id"], patients.ids.id_type)
        r.check("patient_id", "patient_id is in patients.parquet", ~member(ids, all_ids))
        if gone_ids is not None:
            gone = member(ids, gone_ids) & ~r.bad[r.here()]
            n_gone += int(np.count_nonzero(gone))
            r.bad[r.here()] |= gone
    dropped = r.finish()
    if n_gone:
        dropped.append(Dropped(path.name, "patient_id", "its patient is kept in patients.parquet", n_gone))
    return r, dropped
