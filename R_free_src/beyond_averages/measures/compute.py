"""Counts per practice x IMD quintile x month (and per quintile x age band x month) from the intervals, and the
measures frames built from them.

Counting and framing are separate so that partitions (groups of practices) can be counted anywhere, by any engine,
and framed once: per-practice counts are concatenated in practice order and age-band counts summed, which gives the
same frame, byte for byte, as counting the whole extract at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Area, Study, load_study
from .intervals import AreaIntervals, area_intervals
from .reading import Patients, load_patients

AGE_BAND_YEARS = 5
TOP_AGE_BAND = 18  # 90+ (the European Standard Population's top band)
N_BANDS = TOP_AGE_BAND + 1


@dataclass(frozen=True)
class Counts:
    """Denominators and numerators of some practices: ``den``/``num`` of shape (practices, 5 quintiles, months),
    ``age_den``/``age_num`` of shape (5 quintiles, 19 age bands, months) summed over the practices."""

    first: int
    practice_ids: np.ndarray
    den: np.ndarray
    num: np.ndarray
    age_den: np.ndarray
    age_num: np.ndarray


def _nonempty(rows: np.ndarray | None, lo: np.ndarray, hi: np.ndarray):
    """The intervals ``[lo, hi)`` holding at least one month (``rows``: their patients; None = one per patient)."""
    keep = hi > lo
    if keep.all():
        return rows, lo, hi
    at = np.flatnonzero(keep)  # positions, then gathers: faster than boolean selection when about half are kept
    return (at if rows is None else rows.take(at)), lo.take(at), hi.take(at)


def _pick(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return values if rows is None else values.take(rows)


def count_intervals(group: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_groups: int, first: int, n_months: int,
                    weights: np.ndarray | None = None) -> np.ndarray:
    """Count, per group and month, the intervals ``[lo, hi)`` covering the month (months from ``first``), or with
    ``weights`` sum theirs: +1 (+w) where an interval starts, -1 (-w) where it ends, summed cumulatively over months.
    The one counting kernel of the measures (by quintile, by any equity dimension, of recorded values); callers
    drop intervals with ``hi < lo``."""
    width = n_months + 1
    base = group * width - first
    if weights is None:
        diff = np.bincount(base + lo, minlength=n_groups * width).astype(np.int64)
        diff -= np.bincount(base + hi, minlength=n_groups * width)
    else:
        diff = np.bincount(base + lo, weights=weights, minlength=n_groups * width)
        diff -= np.bincount(base + hi, weights=weights, minlength=n_groups * width)
    return np.cumsum(diff.reshape(n_groups, width), axis=1)[:, :n_months]


def _interval_sets(iv: AreaIntervals):
    """The denominator's intervals (one per patient: rows None) and the numerator's (rows = their patients)."""
    return ((None, iv.lo, iv.hi), (iv.rows, iv.num_lo, iv.num_hi))


def _by_practice(patients: Patients, iv: AreaIntervals, rows, lo, hi) -> np.ndarray:
    n_practices = len(patients.practice_ids)
    group = _pick(patients.practice * 6 + patients.quintile, rows)
    counts = count_intervals(group, lo, hi, n_practices * 6, iv.first, iv.n_months)
    return counts.reshape(n_practices, 6, iv.n_months)[:, 1:, :]


def practice_counts(patients: Patients, iv: AreaIntervals) -> tuple[np.ndarray, np.ndarray]:
    """Denominator and numerator per practice x quintile (1-5) x month: arrays (practices, 5, months)."""
    den, num = (_by_practice(patients, iv, *_nonempty(*s)) for s in _interval_sets(iv))
    return den, num


def partition_counts(patients: Patients, iv: AreaIntervals) -> tuple[np.ndarray, ...]:
    """:func:`practice_counts` and :func:`age_counts` (all practices) at once, each interval set filtered once:
    den, num, age_den, age_num."""
    out = []
    for s in _interval_sets(iv):
        rows, lo, hi = _nonempty(*s)
        out.append((_by_practice(patients, iv, rows, lo, hi), _by_age(patients, iv, rows, lo, hi)))
    (den, age_den), (num, age_num) = out
    return den, num, age_den, age_num


def _accumulate_by_age(quintile: np.ndarray, birth: np.ndarray, lo: np.ndarray, hi: np.ndarray, first: int,
                       n_months: int) -> np.ndarray:
    """Count, per quintile (0-5) x age band x month, the non-empty intervals ``[lo, hi)`` covering the month, each
    month in the band of the patient's age at it (5-year bands from the month of birth, 90+ the last).

    An interval starts in its first month's band, moves up one band at each 5-year birthday inside it, and ends in
    its last month's band (90+ is never left): +1 where it enters a band, -1 where it leaves one. Only the intervals
    that cross a birthday add entries beyond their start and end, one pair per birthday crossed: no interval is cut
    into pieces."""
    width = n_months + 1
    band_months = 12 * AGE_BAND_YEARS
    size = 6 * N_BANDS * width
    band_lo = np.minimum((lo - birth) // band_months, TOP_AGE_BAND)
    band_hi = np.minimum((hi - 1 - birth) // band_months, TOP_AGE_BAND)
    base = quintile * (N_BANDS * width) - first
    diff = np.bincount(base + band_lo * width + lo, minlength=size).astype(np.int64)
    diff -= np.bincount(base + band_hi * width + hi, minlength=size)
    crossings = band_hi - band_lo
    crossing = np.flatnonzero(crossings)
    if len(crossing):
        times = crossings[crossing]
        at = np.repeat(crossing, times)
        # The k-th birthday crossed (k = 1, 2, ...) enters band band_lo + k at month birth + 60 * (band_lo + k).
        k = np.arange(1, len(at) + 1) - np.repeat(np.cumsum(times) - times, times)
        band = band_lo[at] + k
        enter = base[at] + band * width + birth[at] + band * band_months
        diff += np.bincount(enter, minlength=size)
        diff -= np.bincount(enter - width, minlength=size)
    return np.cumsum(diff.reshape(6 * N_BANDS, width), axis=1)[:, :n_months].reshape(6, N_BANDS, n_months)


def _by_age(patients: Patients, iv: AreaIntervals, rows, lo, hi) -> np.ndarray:
    counts = _accumulate_by_age(_pick(patients.quintile, rows), _pick(patients.birth, rows), lo, hi, iv.first,
                                iv.n_months)
    return counts[1:]


def age_counts(patients: Patients, iv: AreaIntervals,
               practices: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Denominator and numerator per quintile (1-5) x age band x month, summed over ``practices`` (all)."""
    include = None if practices is None else np.isin(patients.practice_ids[patients.practice], list(practices))
    out = []
    for rows, lo, hi in _interval_sets(iv):
        if include is not None:
            rows = np.arange(len(lo)) if rows is None else rows
            sel = include[rows]
            rows, lo, hi = rows[sel], lo[sel], hi[sel]
        out.append(_by_age(patients, iv, *_nonempty(rows, lo, hi)))
    return out[0], out[1]


def _month_starts(first: int, n_months: int) -> np.ndarray:
    """First day of each of ``n_months`` months from month index ``first``, as the tables' datetime64[s]."""
    return (np.arange(first, first + n_months) - 1970 * 12).astype("datetime64[M]").astype("datetime64[s]")


def measures_frame(area_name: str, practice_ids: np.ndarray, den: np.ndarray, num: np.ndarray,
                   first: int) -> pd.DataFrame:
    """The measures table (practice x quintile x month, practices in the order given) from count arrays."""
    n_practices, _, n_months = den.shape
    return pd.DataFrame({
        "area": area_name,
        "month": np.tile(_month_starts(first, n_months), n_practices * 5),
        "practice_id": np.repeat(np.asarray(practice_ids), 5 * n_months),
        "imd_quintile": np.tile(np.repeat(np.arange(1, 6), n_months), n_practices),
        "numerator": num.ravel(),
        "denominator": den.ravel(),
    })


def by_age_frame(area_name: str, den: np.ndarray, num: np.ndarray, first: int) -> pd.DataFrame:
    """The age-band table (quintile x age band x month) from count arrays."""
    n_months = den.shape[-1]
    return pd.DataFrame({
        "area": area_name,
        "month": np.tile(_month_starts(first, n_months), 5 * N_BANDS),
        "imd_quintile": np.repeat(np.arange(1, 6), N_BANDS * n_months),
        "age_band": np.tile(np.repeat(np.arange(N_BANDS), n_months), 5),
        "numerator": num.ravel(),
        "denominator": den.ravel(),
    })


def _inputs(area, extract_dir, study, patients, intervals):
    study = study or load_study()
    extract_dir = Path(extract_dir) if extract_dir else study.resolved_extract_dir()
    patients = patients or load_patients(extract_dir)
    intervals = intervals or area_intervals(area, study, extract_dir, patients)
    return patients, intervals


def compute_measures(area: Area, extract_dir: Path | None = None, study: Study | None = None,
                     patients: Patients | None = None, intervals: AreaIntervals | None = None) -> pd.DataFrame:
    """Monthly numerator and denominator per practice x IMD quintile (1-5), every combination present.

    Pass ``patients`` and ``intervals`` (from :func:`load_patients`, :func:`area_intervals`) to reuse them. The whole
    extract is held in memory: :func:`beyond_averages.measures.compute_partitioned` reads it practice partition by
    partition and gives the same frame.
    """
    patients, iv = _inputs(area, extract_dir, study, patients, intervals)
    den, num = practice_counts(patients, iv)
    return measures_frame(area.name, patients.practice_ids, den, num, iv.first)


def compute_measures_by_age(area: Area, extract_dir: Path | None = None, study: Study | None = None,
                            patients: Patients | None = None, practices: list[str] | None = None,
                            intervals: AreaIntervals | None = None) -> pd.DataFrame:
    """Monthly numerator and denominator per IMD quintile x 5-year age band, summed over ``practices`` (all)."""
    patients, iv = _inputs(area, extract_dir, study, patients, intervals)
    den, num = age_counts(patients, iv, practices)
    return by_age_frame(area.name, den, num, iv.first)
