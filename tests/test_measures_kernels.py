"""The fast kernels of the measures (issue 16) against hand-worked values and the patient-month definition: months of
Arrow date32 columns by table look-up, rows of patient ids in runs of consecutive ids, merged coverage spans, age-band
counts by difference arrays, the partition planner's row-group pairing, and the per-process Parquet footer cache.

The hand-built extracts of ``tests/test_measures.py`` are written with timestamp columns; the synthetic extract, and
these tests, use date32, the type the look-up serves.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beyond_averages.files import InputError
from beyond_averages.measures import compute, intervals, partitions, reading
from beyond_averages.months import NEVER


def _month(year: int, month: int) -> int:
    return year * 12 + month - 1


def _dates(values, chunks: int = 1) -> pa.ChunkedArray:
    arr = pa.array(values, pa.date32())
    cut = len(arr) // chunks if chunks > 1 else len(arr)
    return pa.chunked_array([arr.slice(0, cut), arr.slice(cut)] if chunks > 1 else [arr], pa.date32())


def test_months_of_date32_are_calendar_months_inside_and_outside_the_table():
    inside = [dt.date(1800, 1, 1), dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(2199, 12, 31), None]
    expected = [_month(1800, 1), _month(1970, 1), _month(2024, 2), _month(2199, 12), NEVER]
    for chunks in (1, 2):
        got = reading._months_of(_dates(inside, chunks), "f", "c", allow_null=True)
        assert got.dtype == np.int64 and got.tolist() == expected
    # Outside the table (1800-2199): numpy's calendar gives the same months.
    outside = [dt.date(1799, 12, 31), dt.date(2200, 1, 1), dt.date(1, 1, 1), None]
    assert reading._months_of(_dates(outside), "f", "c", allow_null=True).tolist() == [
        _month(1799, 12), _month(2200, 1), _month(1, 1), NEVER]


def test_months_of_mostly_and_half_missing_date32_columns():
    mostly = [None, None, None, dt.date(2020, 3, 15), None]
    assert reading._months_of(_dates(mostly), "f", "c", True).tolist() == [NEVER] * 3 + [_month(2020, 3), NEVER]
    half = [dt.date(2019, 12, 31), None, dt.date(2020, 1, 1), None]
    assert reading._months_of(_dates(half, 2), "f", "c", True).tolist() == [_month(2019, 12), NEVER,
                                                                             _month(2020, 1), NEVER]
    assert reading._months_of(_dates([None, None]), "f", "c", True).tolist() == [NEVER, NEVER]
    assert reading._months_of(_dates([]), "f", "c", True).tolist() == []


def test_missing_date32_is_an_error_naming_file_and_column_when_not_allowed():
    with pytest.raises(InputError, match=r"patients.parquet: column 'birth_date' has 1 missing date"):
        reading._months_of(_dates([dt.date(2000, 1, 1), None]), "patients.parquet", "birth_date", False)


class _Ids:
    def __init__(self, ids):
        self.patient_id = np.asarray(ids, dtype=np.int64)


def test_row_of_ids_in_runs_of_consecutive_numbers_and_in_any_order():
    ids = np.concatenate([np.arange(100, 140), np.arange(200, 240)])  # two practices' runs of ids
    queries = np.array([99, 100, 139, 140, 150, 200, 239, 240, 10**12], dtype=np.int64)
    expected = [-1, 0, 39, -1, -1, 40, 79, -1, -1]
    assert intervals._row_of(queries, _Ids(ids)).tolist() == expected
    shuffled = np.random.default_rng(1).permutation(ids)  # pseudonymised ids: the sorted search
    got = intervals._row_of(queries, _Ids(shuffled))
    assert [shuffled[r] if r >= 0 else -1 for r in got] == [ids[e] if e >= 0 else -1 for e in expected]
    # Ids at both ends of int64 (hashed pseudonyms): differences overflow, rows must not.
    low, high = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    extreme = np.concatenate([np.arange(low, low + 40), np.arange(high - 40, high)])
    queries = np.array([low, low + 39, low + 40, 0, high - 40, high - 1, high], dtype=np.int64)
    assert intervals._row_of(queries, _Ids(extreme)).tolist() == [0, 39, -1, -1, 40, 79, -1]
    assert intervals._row_of(queries, _Ids(extreme[::-1])).tolist() == [79, 40, -1, -1, 39, 0, -1]


def test_coverage_spans_end_at_the_last_merged_event_plus_lookback():
    rows = np.array([0, 0, 0, 1], dtype=np.int64)
    months = np.array([10, 12, 20, 5], dtype=np.int64)
    # Patient 0: 10 covers 10-12, 12 falls inside it and extends the span to 14; 20 starts a new span.
    for order in ([0, 1, 2, 3], [3, 2, 0, 1]):
        got = intervals.coverage_intervals(rows[order], months[order], 3)
        assert [g.tolist() for g in got] == [[0, 0, 1], [10, 20, 5], [15, 23, 8]]
    ever = intervals.coverage_intervals(rows, months, None)
    assert [g.tolist() for g in ever] == [[0, 1], [10, 5], [NEVER, NEVER]]


def _by_age_patient_months(quintile, birth, lo, hi, first, n_months):
    """The definition: one row per patient-month, in the band of the age at that month."""
    out = np.zeros((6, compute.N_BANDS, n_months), dtype=np.int64)
    for q, b, a, z in zip(quintile, birth, lo, hi):
        for m in range(a, z):
            out[q, min((m - b) // (12 * compute.AGE_BAND_YEARS), compute.TOP_AGE_BAND), m - first] += 1
    return out


def test_age_band_counts_follow_each_month_across_several_birthdays_and_90_plus():
    first, n_months = 1000, 300
    # Born at month 950: 50 months old at the start, crossing four 5-year birthdays within the window.
    got = compute._accumulate_by_age(np.array([1]), np.array([950]), np.array([1000]), np.array([1300]), first,
                                     n_months)
    assert {band: int(got[1, band].sum()) for band in range(compute.N_BANDS) if got[1, band].any()} == {
        0: 10, 1: 60, 2: 60, 3: 60, 4: 60, 5: 50}
    assert (got.sum(axis=(0, 1)) == 1).all()  # one patient, counted once a month
    # 89 years and 2 months at the start: 10 months in 85-89, then 90+ for good.
    old = compute._accumulate_by_age(np.array([2]), np.array([1000 - 1070]), np.array([1000]), np.array([1300]),
                                     first, n_months)
    assert int(old[2, 17].sum()) == 10 and int(old[2, 18].sum()) == 290


def test_age_band_counts_equal_patient_month_expansion_on_random_intervals():
    rng = np.random.default_rng(16)
    first, n_months, n = 24000, 84, 400
    quintile = rng.integers(0, 6, n)
    birth = first - rng.integers(0, 1300, n)
    lo = first + rng.integers(0, n_months, n)
    hi = np.minimum(lo + rng.integers(1, n_months + 1, n), first + n_months)
    got = compute._accumulate_by_age(quintile, birth, lo, hi, first, n_months)
    np.testing.assert_array_equal(got, _by_age_patient_months(quintile, birth, lo, hi, first, n_months))


def test_events_row_groups_meeting_a_partition():
    e_ranges = [(0, 9), (10, 19), None, (30, 39)]
    assert partitions._meeting(e_ranges, [(5, 12)]) == (0, 1, 2)
    assert partitions._meeting(e_ranges, [(40, 50), (19, 19)]) == (1, 2)
    assert partitions._meeting(e_ranges, [None]) == (0, 1, 2, 3)
    assert partitions._meeting([(0, 9), (10, 19), (30, 39)], [(5, 12), (35, 35)]) == (0, 1, 2)
    assert partitions._meeting([("a", "c"), ("d", "f")], [("b", "b")]) == (0,)  # text ids: compared one by one


def test_parquet_footer_cache_reads_a_rewritten_file_afresh(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    assert reading.parquet_metadata(path).row_group(0).column(0).statistics.min == 1
    size = path.stat().st_size
    pq.write_table(pa.table({"a": [4, 5, 6]}), path)  # same size, same path, at once
    assert path.stat().st_size == size
    assert reading.parquet_metadata(path).row_group(0).column(0).statistics.min == 4


def test_integer_deciles_map_to_quintiles_and_bad_deciles_are_named(tmp_path):
    def write(deciles):
        n = len(deciles)
        pq.write_table(pa.table({
            "patient_id": pa.array(range(1, n + 1), pa.int64()), "practice_id": ["P1"] * n, "sex": ["female"] * n,
            "birth_date": _dates([dt.date(1960, 1, 1)] * n), "imd_decile": pa.array(deciles, pa.int8()),
            "registration_start": _dates([dt.date(2000, 1, 1)] * n), "registration_end": _dates([None] * n),
            "death_date": _dates([None] * n)}), tmp_path / "patients.parquet")

    write([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, None])
    assert reading.load_patients(tmp_path).quintile.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0]
    write([3, 11])
    with pytest.raises(InputError, match=r"patients.parquet: column 'imd_decile'.*\[11\.0\]"):
        reading.load_patients(tmp_path)
