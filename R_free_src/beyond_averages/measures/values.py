"""Patient records -> the mean of a recorded value per practice x IMD quintile x month (an area's
``continuous_outcome``, e.g. the latest HbA1c in 12 months among people on the diabetes register).

Same population and semantics as the proportion measures (status at the end of each month; eligibility from
:func:`beyond_averages.measures.eligibility_intervals` and :func:`~beyond_averages.measures.register_onset`):
among the patients eligible in month m, those with a value of the outcome's codelist dated in one of the
``lookback_months`` months up to and including m count in ``value_n``, and their *latest* such value adds to
``value_sum`` (its square to ``value_sum_sq``, so a standard deviation and the standard error of the mean follow).
Events without a value are ignored. Two values on the same day: the larger counts (a rule that does not depend on
the extract's row order).

Interval arithmetic, as the proportion measures: after sorting a patient's values by date, each value is the latest
over the months ``[its month, min(its month + lookback, next value's month))``, clipped to the patient's eligibility
interval; counts, sums and sums of squares are accumulated into per-group difference arrays and summed over months.

Output: ``outputs/measures/<area>_values.parquet`` (:data:`VALUE_MEASURE_COLUMNS`, checked by
:func:`check_value_measures`), written by :func:`write_value_measures` for areas with a continuous outcome.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..config import Area, Study, load_study
from ..files import InputError, describe_rows, read_parquet, require_columns, write_parquet
from ..months import month_index_of, month_start
from .compute import count_intervals
from .intervals import eligibility_intervals, register_onset
from .reading import Patients, load_patients
from .table import check_quintile_counts

VALUE_MEASURE_KEYS = ("month", "practice_id", "imd_quintile")
VALUE_MEASURE_COLUMNS = ("area", *VALUE_MEASURE_KEYS, "denominator", "value_n", "value_sum", "value_sum_sq")
# Accumulated sums of floating-point values carry rounding error of this order relative to the sum of squares.
SUM_TOLERANCE = 1e-9


def value_measures_path(area: str, out_dir: Path) -> Path:
    return Path(out_dir) / f"{area}_values.parquet"


def read_values(extract_dir: Path, area: Area, codes: tuple[str, ...]) -> pd.DataFrame:
    """``patient_id``, ``event_date`` (day number), ``month`` and ``value`` of the events with one of ``codes`` and
    a recorded (non-missing) value."""
    path = Path(extract_dir) / f"events_{area.name}.parquet"
    if not path.exists():
        raise InputError(f"{path}: file not found (run `make data`, or set extract_dir in study.yaml to a real "
                         "extract)")
    columns = ["patient_id", "code", "event_date", "value"]
    names = pq.read_schema(path).names
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; found {', '.join(names)}")
    table = pq.read_table(path, columns=columns)
    if not pa.types.is_floating(table["value"].type) and not pa.types.is_integer(table["value"].type):
        raise InputError(f"{path}: column 'value' must be numeric; got {table['value'].type}")
    keep = pc.and_(pc.is_in(table["code"].cast(pa.string()), value_set=pa.array(codes, pa.string())),
                   pc.is_valid(table["value"]))
    table = table.filter(keep)
    dates = table["event_date"]
    if dates.null_count:
        raise InputError(f"{path}: column 'event_date' has {dates.null_count} missing date(s) among the values")
    day = pc.cast(pc.cast(dates, pa.date32()), pa.int32()).to_numpy()
    month = (pc.add(pc.multiply(pc.year(dates), 12), pc.subtract(pc.month(dates), 1))).to_numpy()
    value = table["value"].to_numpy().astype(np.float64)
    bad = ~np.isfinite(value)
    if bad.any():
        raise InputError(f"{path}: column 'value' has {int(bad.sum())} non-finite value(s) (e.g. {value[bad][0]})")
    return pd.DataFrame({"patient_id": table["patient_id"].to_numpy(), "day": day.astype(np.int64),
                         "month": month.astype(np.int64), "value": value})


def _rows_of(patient_ids: np.ndarray, patients: Patients) -> np.ndarray:
    """Row of each patient id in the patient table (-1 if unknown)."""
    ids = patients.patient_id
    if len(ids) == 0:
        return np.full(len(patient_ids), -1, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.clip(np.searchsorted(ids[order], patient_ids), 0, len(ids) - 1)
    return np.where(ids[order][pos] == patient_ids, order[pos], -1)


def latest_value_spans(rows: np.ndarray, day: np.ndarray, month: np.ndarray, value: np.ndarray, lookback: int):
    """Each value's span of months ``[start, end)`` in which it is its patient's latest in the look-back window:
    returns rows, start, end, value (sorted by patient, date, then value, so the larger of same-day values wins)."""
    # Patient and day as one integer key: the order of lexsort((value, day, rows)) at half the cost.
    key = rows.astype(np.int64) * int(day.max() - day.min() + 1) + (day - day.min()) if len(day) else rows
    order = np.lexsort((value, key))
    rows, month, value = rows[order], month[order], value[order]
    end = month + lookback
    followed = np.flatnonzero(rows[1:] == rows[:-1])   # values with a later one of the same patient
    end[followed] = np.minimum(end[followed], month[followed + 1])
    return rows, month, end, value


def _accumulate(group, lo, hi, weight, n_groups: int, first: int, n_months: int) -> np.ndarray:
    """Per group and month, the sum of ``weight`` over the non-empty intervals ``[lo, hi)`` covering the month."""
    keep = hi > lo
    return count_intervals(group[keep], lo[keep], hi[keep], n_groups, first, n_months, weights=weight[keep])


def compute_value_measures(area: Area, extract_dir: Path | None = None, study: Study | None = None,
                           patients: Patients | None = None) -> pd.DataFrame:
    """The value measures table of ``area`` (every practice x quintile 1-5 x month present); an area without a
    ``continuous_outcome`` is an error."""
    outcome = area.continuous_outcome
    if outcome is None:
        raise InputError(f"areas/{area.name}.yaml: no continuous_outcome block, so there is no mean to compute")
    study = study or load_study()
    extract_dir = Path(extract_dir) if extract_dir else study.resolved_extract_dir()
    patients = patients or load_patients(extract_dir)
    first, last = month_index_of(study.study_start), month_index_of(study.study_end)
    n_months = last - first + 1
    lo, hi = eligibility_intervals(area, patients, first, last, register_onset(extract_dir, area, patients))
    events = read_values(extract_dir, area, area.codes(outcome.codelist))
    rows = _rows_of(events["patient_id"].to_numpy(), patients)
    known = rows >= 0
    rows, start, end, value = latest_value_spans(rows[known], events["day"].to_numpy()[known],
                                                 events["month"].to_numpy()[known],
                                                 events["value"].to_numpy()[known], outcome.lookback_months)
    # A value counts only while its patient is eligible (records from before registration count, as transferred
    # records do, if their window reaches an eligible month).
    start, end = np.maximum(start, lo[rows]), np.minimum(end, hi[rows])
    n_practices = len(patients.practice_ids)
    n_groups = n_practices * 6
    group = patients.practice * 6 + patients.quintile
    den = _accumulate(group, lo, hi, np.ones(len(lo)), n_groups, first, n_months)
    g = group[rows]
    n = _accumulate(g, start, end, np.ones(len(rows)), n_groups, first, n_months)
    total = _accumulate(g, start, end, value, n_groups, first, n_months)
    squares = _accumulate(g, start, end, value**2, n_groups, first, n_months)
    n = np.rint(n).astype(np.int64)
    total[n == 0] = 0.0   # the difference arrays leave rounding residue where every value has left
    squares[n == 0] = 0.0

    def cells(arr):
        return arr.reshape(n_practices, 6, n_months)[:, 1:, :].ravel()

    months = month_start(np.arange(first, last + 1)).to_numpy()
    frame = pd.DataFrame({
        "area": area.name,
        "month": np.tile(months, n_practices * 5),
        "practice_id": np.repeat(np.asarray(patients.practice_ids), 5 * n_months),
        "imd_quintile": np.tile(np.repeat(np.arange(1, 6), n_months), n_practices),
        "denominator": np.rint(cells(den)).astype(np.int64),
        "value_n": cells(n),
        "value_sum": cells(total),
        "value_sum_sq": cells(squares),
    })
    frame["month"] = frame["month"].astype("datetime64[s]")
    return check_value_measures(frame, f"value measures of {area.name}")


def check_value_measures(frame: pd.DataFrame, source: str = "value measures") -> pd.DataFrame:
    """Check a value measures table and return it: :class:`InputError` naming ``source``, the column and the first
    offending rows for a missing column (``area`` optional), an IMD quintile outside 1..5, counts that are not whole
    numbers with ``0 <= value_n <= denominator``, non-finite sums, sums where ``value_n`` is 0, or a sum of squares
    below ``value_sum**2 / value_n`` (a negative variance)."""
    require_columns(frame, VALUE_MEASURE_COLUMNS[1:], source)
    n, _ = check_quintile_counts(frame, "value_n", source)
    total = pd.to_numeric(frame["value_sum"], errors="coerce")
    squares = pd.to_numeric(frame["value_sum_sq"], errors="coerce")
    bad = ~np.isfinite(total) | ~np.isfinite(squares) | ((n == 0) & ((total != 0) | (squares != 0)))
    if bad.any():
        raise InputError(f"{source}: columns 'value_sum'/'value_sum_sq' must be finite, and 0 where value_n is 0: "
                         f"{describe_rows(frame, bad)}")
    with np.errstate(divide="ignore", invalid="ignore"):
        bad = (n > 0) & (squares < total**2 / n - SUM_TOLERANCE * squares.abs().clip(lower=1))
    if bad.any():
        raise InputError(f"{source}: column 'value_sum_sq' is below value_sum**2 / value_n (a negative variance): "
                         f"{describe_rows(frame, bad)}")
    return frame


def read_value_measures(path) -> pd.DataFrame:
    """Read and check a value measures Parquet file (a relative path is taken from the repository root)."""
    from ..paths import resolve

    path = resolve(path)
    return check_value_measures(read_parquet(path, columns=list(VALUE_MEASURE_COLUMNS)), source=str(path))


def write_value_measures(area: Area, extract_dir: Path, study: Study, out_dir: Path) -> Path | None:
    """Write ``<out_dir>/<area>_values.parquet`` for an area with a continuous outcome (the measures command's
    hook); ``None`` (nothing written) for an area without one."""
    if area.continuous_outcome is None:
        return None
    path = value_measures_path(area.name, out_dir)
    write_parquet(compute_value_measures(area, extract_dir, study), path)
    return path
