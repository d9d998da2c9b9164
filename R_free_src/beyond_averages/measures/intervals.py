"""Each patient's eligibility interval and covered spans, in months: the interval arithmetic of the measures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Area, Study
from ..months import NEVER, month_index_of
from .reading import Patients, read_events


def _row_of(patient_ids: np.ndarray, patients: Patients) -> np.ndarray:
    """Row of each patient id in the patient table (-1 if unknown)."""
    ids = patients.patient_id
    if len(ids) == 0:
        return np.full(len(patient_ids), -1, dtype=np.int64)
    # Extracts are usually sorted by patient id already: skip the sort then.
    ascending = bool(np.all(ids[1:] > ids[:-1]))
    if ascending and ids.dtype.kind == "i" and np.asarray(patient_ids).dtype.kind == "i":
        run_first = np.flatnonzero(np.diff(ids) != 1) + 1  # ascending: a wrapped difference is never 1
        if len(run_first) < len(ids) // 16:
            return _row_in_runs(patient_ids, ids, run_first)
    order = np.arange(len(ids)) if ascending else np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.searchsorted(sorted_ids, patient_ids)
    pos = np.clip(pos, 0, len(sorted_ids) - 1)
    found = sorted_ids[pos] == patient_ids
    return np.where(found, order[pos], -1)


def _row_in_runs(patient_ids: np.ndarray, ids: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Row of each patient id (-1 if unknown) when the ascending ``ids`` come in a few runs of consecutive numbers
    (each starting at a row of ``breaks``, besides the first), as a practice's patients often do: the run is found
    among a few run starts, which stay in cache, and the row is the offset into it."""
    run_first = np.concatenate([[0], breaks])
    run_last = np.concatenate([breaks, [len(ids)]]) - 1
    # Entry r of each table is run r (1-based): entry 0 stands for ids before the first run, which are unknown.
    run = np.searchsorted(ids[run_first], patient_ids, side="right")
    shift = np.concatenate([[0], run_first - ids[run_first]])
    last_id = np.concatenate([[np.iinfo(np.int64).min], ids[run_last]])
    pos = patient_ids + shift[run]
    known = patient_ids <= last_id[run]
    return pos if known.all() else np.where(known, pos, -1)


def eligibility_intervals(area: Area, patients: Patients, first: int, last: int,
                          register_onset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi)`` months in which each patient is in the denominator, clipped to ``[first, last]``."""
    elig = area.eligibility
    lo = np.maximum(np.maximum(patients.reg_start, patients.birth + elig.min_age_months), first)
    hi = np.minimum(np.minimum(patients.reg_end, patients.death), last + 1)
    if elig.max_age_months is not None:
        np.minimum(hi, patients.birth + elig.max_age_months + 1, out=hi)
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
    start = np.flatnonzero(new_block)  # positions, then gathers: faster than boolean selection of a few rows
    # Months ascend within a block, so its end is its last event's month + lookback.
    last = np.append(start[1:] - 1, len(rows) - 1) if len(start) else start
    return rows.take(start), months.take(start), months.take(last) + lookback


def register_onset(extract_dir: Path, area: Area, patients: Patients,
                   event_row_groups: Sequence[int] | None = None) -> np.ndarray | None:
    """Month of each patient's first diagnosis code of the area's register (``NEVER``: none); None: no register."""
    if not area.eligibility.on_register:
        return None
    ids, months = read_events(extract_dir, area, area.codes(area.eligibility.on_register), row_groups=event_row_groups)
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


def area_intervals(area: Area, study: Study, extract_dir: Path, patients: Patients,
                   event_row_groups: Sequence[int] | None = None) -> AreaIntervals:
    """Read the area's events once (those of ``event_row_groups`` only, when given) and build every interval the
    measures need. Events of patients not in ``patients`` are ignored, so a partition may read extra row groups."""
    first, last = month_index_of(study.study_start), month_index_of(study.study_end)
    onset = register_onset(extract_dir, area, patients, event_row_groups)
    lo, hi = eligibility_intervals(area, patients, first, last, onset)
    ids, months = read_events(extract_dir, area, area.codes(area.indicator.codelist), area.indicator.value_max,
                              row_groups=event_row_groups)
    rows = _row_of(ids, patients)
    known = rows >= 0
    if not known.all():
        rows, months = rows[known], months[known]
    c_rows, c_start, c_end = coverage_intervals(rows, months, area.indicator.lookback_months)
    return AreaIntervals(first, last, lo, hi, c_rows, np.maximum(c_start, lo[c_rows]), np.minimum(c_end, hi[c_rows]))
