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
from ..months import month_start
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


def _accumulate(group: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_groups: int, first: int, n_months: int):
    """Count, per group and month, the intervals ``[lo, hi)`` covering the month (months from ``first``)."""
    keep = hi > lo
    group, lo, hi = group[keep], lo[keep] - first, hi[keep] - first
    width = n_months + 1
    diff = np.bincount(group * width + lo, minlength=n_groups * width).astype(np.int64)
    diff -= np.bincount(group * width + hi, minlength=n_groups * width)
    return np.cumsum(diff.reshape(n_groups, width), axis=1)[:, :n_months]


def practice_counts(patients: Patients, iv: AreaIntervals) -> tuple[np.ndarray, np.ndarray]:
    """Denominator and numerator per practice x quintile (1-5) x month: arrays (practices, 5, months)."""
    n_practices = len(patients.practice_ids)
    group = patients.practice * 6 + patients.quintile
    den = _accumulate(group, iv.lo, iv.hi, n_practices * 6, iv.first, iv.n_months)
    num = _accumulate(group[iv.rows], iv.num_lo, iv.num_hi, n_practices * 6, iv.first, iv.n_months)
    return (den.reshape(n_practices, 6, iv.n_months)[:, 1:, :], num.reshape(n_practices, 6, iv.n_months)[:, 1:, :])


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


def age_counts(patients: Patients, iv: AreaIntervals,
               practices: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Denominator and numerator per quintile (1-5) x age band x month, summed over ``practices`` (all)."""
    include = np.ones(len(patients.patient_id), bool)
    if practices is not None:
        include = np.isin(patients.practice_ids[patients.practice], list(practices))
    out = []
    for rows, a, b in ((np.arange(len(iv.lo)), iv.lo, iv.hi), (iv.rows, iv.num_lo, iv.num_hi)):
        sel = include[rows]
        r, s, e, band = _split_by_age_band(rows[sel], a[sel], b[sel], patients.birth)
        group = patients.quintile[r] * N_BANDS + band
        out.append(_accumulate(group, s, e, 6 * N_BANDS, iv.first, iv.n_months).reshape(6, N_BANDS, iv.n_months)[1:])
    return out[0], out[1]


def measures_frame(area_name: str, practice_ids: np.ndarray, den: np.ndarray, num: np.ndarray,
                   first: int) -> pd.DataFrame:
    """The measures table (practice x quintile x month, practices in the order given) from count arrays."""
    n_practices, _, n_months = den.shape
    months = month_start(np.arange(first, first + n_months))
    frame = pd.DataFrame({
        "area": area_name,
        "month": np.tile(months.to_numpy(), n_practices * 5),
        "practice_id": np.repeat(np.asarray(practice_ids), 5 * n_months),
        "imd_quintile": np.tile(np.repeat(np.arange(1, 6), n_months), n_practices),
        "numerator": num.ravel(),
        "denominator": den.ravel(),
    })
    frame["month"] = frame["month"].astype("datetime64[s]")
    return frame


def by_age_frame(area_name: str, den: np.ndarray, num: np.ndarray, first: int) -> pd.DataFrame:
    """The age-band table (quintile x age band x month) from count arrays."""
    n_months = den.shape[-1]
    months = month_start(np.arange(first, first + n_months)).to_numpy()
    frame = pd.DataFrame({
        "area": area_name,
        "month": np.tile(months, 5 * N_BANDS),
        "imd_quintile": np.repeat(np.arange(1, 6), N_BANDS * n_months),
        "age_band": np.tile(np.repeat(np.arange(N_BANDS), n_months), 5),
        "numerator": num.ravel(),
        "denominator": den.ravel(),
    })
    frame["month"] = frame["month"].astype("datetime64[s]")
    return frame


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
