"""Patient-level extract -> monthly numerator and denominator per practice x IMD quintile.

Interval arithmetic, never patient-month expansion: each patient contributes one eligibility interval of months
``[lo, hi)`` (registered, alive, in the age band, on the register if the area needs one) and a few coverage
intervals (each coded event covers its own month and the ``lookback - 1`` months after it; overlapping ones are
merged). Denominators count eligibility intervals, numerators their intersection with coverage, both accumulated
into per-group difference arrays and summed cumulatively over months.

Semantics (tested on hand-built patients in ``tests/test_measures.py``): status is taken at the end of each month.
A patient counts in month m if ``registration_start <= end of m < registration_end`` (an end date in month m means
not registered at its end), is alive at the end of m, has completed age (counted from the month of birth) within
the band, and, for register areas, has a diagnosis code dated in or before m. The numerator needs an indicator code
dated in one of the ``lookback`` months up to and including m (any time, for an "ever" indicator). Records dated
before registration count, as transferred records do. Patients with no IMD (no usable address) are left out of the
quintile rows and counted in the study population's table (:mod:`beyond_averages.study_population`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .config import Area, Study, load_study
from .deprivation import QUINTILES, imd_quintile_from_decile
from .files import InputError, describe_rows, read_parquet, require_columns
from .months import NEVER, month_index_of, month_start

PATIENT_COLUMNS = ("patient_id", "practice_id", "sex", "birth_date", "imd_decile", "registration_start",
                   "registration_end", "death_date")
EVENT_COLUMNS = ("patient_id", "code", "event_date", "value")
# The measures table: the one data contract between this step and every estimator.
MEASURE_KEYS = ("month", "practice_id", "imd_quintile")
MEASURE_COLUMNS = ("area", *MEASURE_KEYS, "numerator", "denominator")

AGE_BAND_YEARS = 5
TOP_AGE_BAND = 18  # 90+ (the European Standard Population's top band)


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


def _read(path: Path, columns: tuple[str, ...], dictionary: tuple[str, ...] = ()):
    """Read ``columns`` (text columns in ``dictionary`` dictionary-encoded, which keeps memory small)."""
    if not path.exists():
        raise InputError(f"{path}: file not found (run `make data`, or set extract_dir in study.yaml to a real extract)")
    names = pq.read_schema(path).names
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; found {', '.join(names)}")
    return _ColumnReader(path, dictionary)


class _ColumnReader:
    """Reads one column at a time, so only one column's decoding buffers are alive at once."""

    def __init__(self, path: Path, dictionary: tuple[str, ...]):
        self._file = pq.ParquetFile(path, read_dictionary=list(dictionary) or None, pre_buffer=False)

    def __getitem__(self, name: str):
        column = self._file.read(columns=[name]).column(0)
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


def load_patients(extract_dir: Path) -> Patients:
    path = Path(extract_dir) / "patients.parquet"
    table = _read(path, PATIENT_COLUMNS, dictionary=("practice_id", "sex"))
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


def _events(extract_dir: Path, area: Area, codes: tuple[str, ...], value_max: float | None = None):
    """Patient ids and event months of events with one of ``codes``."""
    path = Path(extract_dir) / f"events_{area.name}.parquet"
    columns = EVENT_COLUMNS if value_max is not None else EVENT_COLUMNS[:3]
    table = _read(path, columns, dictionary=("code",))
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


def _row_of(patient_ids: np.ndarray, patients: Patients) -> np.ndarray:
    """Row of each patient id in the patient table (-1 if unknown)."""
    ids = patients.patient_id
    # Extracts are usually sorted by patient id already: skip the sort then.
    order = np.arange(len(ids)) if np.all(ids[1:] > ids[:-1]) else np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.searchsorted(sorted_ids, patient_ids)
    pos = np.clip(pos, 0, len(sorted_ids) - 1)
    found = sorted_ids[pos] == patient_ids
    return np.where(found, order[pos], -1)


def eligibility_intervals(area: Area, patients: Patients, first: int, last: int,
                          register_onset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi)`` months in which each patient is in the denominator, clipped to ``[first, last]``."""
    elig = area.eligibility
    lo = np.maximum.reduce([patients.reg_start, patients.birth + elig.min_age_months, np.full_like(patients.birth, first)])
    hi_parts = [patients.reg_end, patients.death, np.full_like(patients.birth, last + 1)]
    if elig.max_age_months is not None:
        hi_parts.append(patients.birth + elig.max_age_months + 1)
    hi = np.minimum.reduce(hi_parts)
    if register_onset is not None:
        lo = np.maximum(lo, register_onset)
    if elig.sex != "any":
        wrong = ~patients.female if elig.sex == "female" else patients.female
        hi = np.where(wrong, lo, hi)
    return lo, np.maximum(hi, lo)


def coverage_intervals(rows: np.ndarray, months: np.ndarray, lookback: int | None) -> tuple[np.ndarray, ...]:
    """Merge each patient's events into disjoint covered spans ``[start, end)`` (end = NEVER for 'ever')."""
    # Extracts usually come sorted by patient and date: sort only when they are not.
    same = rows[1:] == rows[:-1]
    if not np.all((rows[1:] > rows[:-1]) | (same & (months[1:] >= months[:-1]))):
        order = np.lexsort((months, rows))
        rows, months = rows[order], months[order]
    del same
    if lookback is None:
        first = np.ones(len(rows), bool)
        first[1:] = rows[1:] != rows[:-1]
        return rows[first], months[first], np.full(int(first.sum()), NEVER, dtype=np.int64)
    new_block = np.ones(len(rows), bool)
    # Events are sorted, so a block continues while the next event falls inside the previous one's window.
    new_block[1:] = (rows[1:] != rows[:-1]) | (months[1:] >= months[:-1] + lookback)
    block_id = np.cumsum(new_block) - 1
    starts = months[new_block]
    ends = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(ends, block_id, months + lookback)
    return rows[new_block], starts, ends


def _accumulate(group: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_groups: int, first: int, n_months: int):
    """Count, per group and month, the intervals ``[lo, hi)`` covering the month (months from ``first``)."""
    keep = hi > lo
    group, lo, hi = group[keep], lo[keep] - first, hi[keep] - first
    width = n_months + 1
    diff = np.bincount(group * width + lo, minlength=n_groups * width).astype(np.int64)
    diff -= np.bincount(group * width + hi, minlength=n_groups * width)
    return np.cumsum(diff.reshape(n_groups, width), axis=1)[:, :n_months]


def register_onset(extract_dir: Path, area: Area, patients: Patients) -> np.ndarray | None:
    if not area.eligibility.on_register:
        return None
    ids, months = _events(extract_dir, area, area.codes(area.eligibility.on_register))
    rows = _row_of(ids, patients)
    onset = np.full(len(patients.patient_id), NEVER, dtype=np.int64)
    ok = rows >= 0
    np.minimum.at(onset, rows[ok], months[ok])
    return onset


@dataclass(frozen=True)
class AreaIntervals:
    """An area's intervals for every patient: the month range and, per patient, eligibility ``[lo, hi)``;
    per covered span (``rows`` = patient row), the eligible and covered months ``[num_lo, num_hi)``."""

    first: int
    last: int
    lo: np.ndarray
    hi: np.ndarray
    rows: np.ndarray
    num_lo: np.ndarray
    num_hi: np.ndarray

    @property
    def n_months(self) -> int:
        return self.last - self.first + 1


def area_intervals(area: Area, study: Study, extract_dir: Path, patients: Patients) -> AreaIntervals:
    """Read the area's events once and build every interval the measures need."""
    first, last = month_index_of(study.study_start), month_index_of(study.study_end)
    onset = register_onset(extract_dir, area, patients)
    lo, hi = eligibility_intervals(area, patients, first, last, onset)
    ids, months = _events(extract_dir, area, area.codes(area.indicator.codelist), area.indicator.value_max)
    rows = _row_of(ids, patients)
    rows, months = rows[rows >= 0], months[rows >= 0]
    c_rows, c_start, c_end = coverage_intervals(rows, months, area.indicator.lookback_months)
    return AreaIntervals(first, last, lo, hi, c_rows, np.maximum(c_start, lo[c_rows]), np.minimum(c_end, hi[c_rows]))


def _inputs(area, extract_dir, study, patients, intervals):
    study = study or load_study()
    extract_dir = Path(extract_dir) if extract_dir else study.resolved_extract_dir()
    patients = patients or load_patients(extract_dir)
    intervals = intervals or area_intervals(area, study, extract_dir, patients)
    return patients, intervals


def compute_measures(area: Area, extract_dir: Path | None = None, study: Study | None = None,
                     patients: Patients | None = None, intervals: AreaIntervals | None = None) -> pd.DataFrame:
    """Monthly numerator and denominator per practice x IMD quintile (1-5), every combination present.

    Pass ``patients`` and ``intervals`` (from :func:`load_patients`, :func:`area_intervals`) to reuse them.
    """
    patients, iv = _inputs(area, extract_dir, study, patients, intervals)
    first, last, lo, hi, c_rows, n_lo, n_hi = iv.first, iv.last, iv.lo, iv.hi, iv.rows, iv.num_lo, iv.num_hi
    n_months = iv.n_months
    n_practices = len(patients.practice_ids)
    group = patients.practice * 6 + patients.quintile
    den = _accumulate(group, lo, hi, n_practices * 6, first, n_months)
    num = _accumulate(group[c_rows], n_lo, n_hi, n_practices * 6, first, n_months)
    den = den.reshape(n_practices, 6, n_months)[:, 1:, :]
    num = num.reshape(n_practices, 6, n_months)[:, 1:, :]
    months = month_start(np.arange(first, last + 1))
    frame = pd.DataFrame({
        "area": area.name,
        "month": np.tile(months.to_numpy(), n_practices * 5),
        "practice_id": np.repeat(patients.practice_ids, 5 * n_months),
        "imd_quintile": np.tile(np.repeat(np.arange(1, 6), n_months), n_practices),
        "numerator": num.ravel(),
        "denominator": den.ravel(),
    })
    frame["month"] = frame["month"].astype("datetime64[s]")
    return frame


def _split_by_age_band(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, birth: np.ndarray):
    """Cut intervals at 5-year birthdays: returns rows, lo, hi, band (0 = 0-4 years ... 18 = 90+)."""
    keep = hi > lo
    rows, lo, hi = rows[keep], lo[keep], hi[keep]
    b = birth[rows]
    width = 12 * AGE_BAND_YEARS
    band_lo = np.minimum((lo - b) // width, TOP_AGE_BAND)
    band_hi = np.minimum((hi - 1 - b) // width, TOP_AGE_BAND)
    pieces = band_hi - band_lo + 1
    idx = np.repeat(np.arange(len(rows)), pieces)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    band = band_lo[idx] + offset
    start = np.maximum(lo[idx], b[idx] + band * width)
    end = np.where(band >= TOP_AGE_BAND, hi[idx], np.minimum(hi[idx], b[idx] + (band + 1) * width))
    return rows[idx], start, end, band


def compute_measures_by_age(area: Area, extract_dir: Path | None = None, study: Study | None = None,
                            patients: Patients | None = None, practices: list[str] | None = None,
                            intervals: AreaIntervals | None = None) -> pd.DataFrame:
    """Monthly numerator and denominator per IMD quintile x 5-year age band, summed over ``practices`` (all)."""
    patients, iv = _inputs(area, extract_dir, study, patients, intervals)
    first, last, lo, hi, c_rows, n_lo, n_hi = iv.first, iv.last, iv.lo, iv.hi, iv.rows, iv.num_lo, iv.num_hi
    n_months = iv.n_months
    include = np.ones(len(patients.patient_id), bool)
    if practices is not None:
        include = np.isin(patients.practice_ids[patients.practice], list(practices))
    n_bands = TOP_AGE_BAND + 1
    out = []
    for rows, a, b in ((np.arange(len(lo)), lo, hi), (c_rows, n_lo, n_hi)):
        sel = include[rows]
        r, s, e, band = _split_by_age_band(rows[sel], a[sel], b[sel], patients.birth)
        group = patients.quintile[r] * n_bands + band
        out.append(_accumulate(group, s, e, 6 * n_bands, first, n_months).reshape(6, n_bands, n_months)[1:])
    den, num = out[0], out[1]
    months = month_start(np.arange(first, last + 1)).to_numpy()
    frame = pd.DataFrame({
        "area": area.name,
        "month": np.tile(months, 5 * n_bands),
        "imd_quintile": np.repeat(np.arange(1, 6), n_bands * n_months),
        "age_band": np.tile(np.repeat(np.arange(n_bands), n_months), 5),
        "numerator": num.ravel(),
        "denominator": den.ravel(),
    })
    frame["month"] = frame["month"].astype("datetime64[s]")
    return frame


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


def check_measures(measures: pd.DataFrame, source: str = "measures") -> pd.DataFrame:
    """Check a measures table against the contract and return it: :class:`InputError` (naming ``source``, the column
    and the first offending rows) for a missing column (``area`` is optional), an IMD quintile outside 1..5, or counts
    that are not whole numbers with ``0 <= numerator <= denominator``."""
    require_columns(measures, MEASURE_COLUMNS[1:], source)
    bad_q = ~measures["imd_quintile"].isin(QUINTILES)
    if bad_q.any():
        raise InputError(f"{source}: column 'imd_quintile' must be 1..5: {describe_rows(measures, bad_q)}")
    num = pd.to_numeric(measures["numerator"], errors="coerce")
    den = pd.to_numeric(measures["denominator"], errors="coerce")
    bad = num.isna() | den.isna() | (num < 0) | (den < 0) | (num > den) | (num % 1 != 0) | (den % 1 != 0)
    if bad.any():
        raise InputError(
            f"{source}: columns 'numerator'/'denominator' must be counts with 0 <= numerator <= denominator: "
            f"{describe_rows(measures, bad)}"
        )
    return measures


def read_measures(path) -> pd.DataFrame:
    """Read and check a measures Parquet file (a relative path is taken from the repository root)."""
    from .paths import resolve

    path = resolve(path)
    return check_measures(read_parquet(path, columns=MEASURE_COLUMNS[1:]), source=str(path))
