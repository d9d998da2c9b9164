"""The data contract of an extract, checked at day level before any measure is computed.

The measures read months only, so a broken extract (text ids in one file and integers in another, a birth in the
future, a registration that ends before it starts on the same month) either crashes deep inside numpy or slips
through silently. :func:`check_extract` reads only the columns it needs, batch by batch (so memory follows a batch
and the patients' id array, not the extract: :mod:`beyond_averages.extract_rows`), and checks:

- **columns and types** (from the Parquet schema, never droppable): every required column is present; ids are
  integers (as the data dictionary says) or text, of the *same* kind in ``patients`` and ``events_<area>``;
  ``practice_id`` and ``code`` are text; dates are dates or timestamps; ``value`` and ``imd_decile`` are numbers;
- **keys**: ``patient_id`` unique and present in ``patients``; every event's patient in ``patients``; one
  programme row per practice, each practice among the patients' practices;
- **ranges, per row**: ``birth_date`` from 1900-01-01 (:data:`~beyond_averages.extract_rows.EARLIEST_BIRTH`) to the end of the study window (a
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
import pyarrow.parquet as pq

from .config import Study, load_area, load_study
from .extract_rows import Dropped, check_events, check_patients, kind
from .files import InputError, atomic_path, describe_rows, write_text

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
        got = kind(schema.field(name).type)
        ok = {"id": got in ("integer", "text"), "text": got == "text", "date": got == "date",
              "number": got in ("integer", "float")}[want]
        if not ok:
            raise InputError(f"{path}: column {name!r} has type {schema.field(name).type}; rule: it must be "
                             f"{KIND_NAMES[want]}: all {n_rows:,} rows: {_first_rows(path, name)}")
    return schema


def _same_id_kind(path_a: Path, schema_a: pa.Schema, path_b: Path, schema_b: pa.Schema, column: str) -> None:
    """Ids of one kind in both files; the error names the file that departs from the dictionary (text ids)."""
    kind_a, kind_b = kind(schema_a.field(column).type), kind(schema_b.field(column).type)
    if kind_a != kind_b:
        (bad, bad_schema), (other, other_schema) = sorted(
            [(path_a, schema_a), (path_b, schema_b)], key=lambda f: kind(f[1].field(column).type) != "text")
        n_rows = pq.ParquetFile(bad).metadata.num_rows
        raise InputError(f"{bad}: column {column!r} has type {bad_schema.field(column).type} but {other.name} has "
                         f"{other_schema.field(column).type}; rule: ids of one kind in every file (integers, as the "
                         f"data dictionary says): all {n_rows:,} rows: {_first_rows(bad, column)}")


def _check_programme(path: Path, practices: frozenset[str]) -> int:
    """Programme rows are never dropped: every problem raises (see the module docstring)."""
    frame = pq.read_table(path, columns=["practice_id", "programme_start"]).to_pandas()
    pid = frame["practice_id"]
    rules = [
        ("practice_id", "practice_id is present", pid.isna()),
        ("programme_start", "programme_start is present", frame["programme_start"].isna()),
        ("practice_id", "one row per practice", pid.duplicated(keep=False) & pid.notna()),
        ("practice_id", "practice_id is a practice in patients.parquet",
         pid.notna() & ~pid.isin(sorted(practices))),
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
    patients = check_patients(p_path, study, lenient)
    rows, keep, dropped = {p_path.name: patients.rules.n_rows}, {}, list(patients.dropped)
    if area_name:
        rows[g_path.name] = _check_programme(g_path, patients.practices)
        e_rules, e_dropped = check_events(e_path, study, patients, lenient)
        rows[e_path.name] = e_rules.n_rows
        dropped += e_dropped
        if e_rules.bad.any():
            keep[e_path.name] = ~e_rules.bad
    if patients.rules.bad.any():
        keep[p_path.name] = ~patients.rules.bad
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
