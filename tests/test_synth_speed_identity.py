"""The fast generator path (Arrow and numpy, no pandas per practice) writes what the pandas path wrote.

The generator once read each practice's patients into pandas, simulated on a DataFrame, sorted the events with
``sort_values`` and wrote Arrow tables converted from DataFrames. It now reads Arrow straight into arrays and builds
the Arrow tables itself. These tests rebuild the old pandas path from :func:`simulate_area` (which still takes and
returns DataFrames) and check that the tables are equal, value for value and row for row.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beyond_averages import config
from beyond_averages.synth import generate_area, generate_population
from beyond_averages.synth import extract
from beyond_averages.synth.events import PatientArrays, simulate_area

TINY = dict(scale=0.004, n_practices=6, seed=11)
DATE_COLUMNS = ("birth_date", "registration_start", "registration_end", "death_date")


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


def _pandas_patients(table: pa.Table) -> pd.DataFrame:
    """Patients as the pandas path read them."""
    frame = table.to_pandas()
    for col in DATE_COLUMNS:
        frame[col] = pd.to_datetime(frame[col])
    return frame


@pytest.fixture(scope="module")
def population(tmp_path_factory, study):
    out = tmp_path_factory.mktemp("population")
    generate_population(out, study, progress=False, scenario="ethnicity", **TINY)
    return out


def _assert_same_arrays(got: PatientArrays, want: PatientArrays) -> None:
    for name in PatientArrays.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_arrow_patient_arrays_equal_the_pandas_reading(population):
    patients = pq.ParquetFile(population / "patients.parquet")
    for i in range(patients.num_row_groups):
        table = patients.read_row_group(i)
        _assert_same_arrays(extract.patient_arrays(table), PatientArrays.from_frame(_pandas_patients(table)))


def test_arrow_patient_arrays_handle_nulls_and_dates_before_1970():
    table = pa.table({
        "patient_id": pa.array([1, 2, 3, 4], pa.int64()),
        "sex": pa.array(["female", "male", None, "female"]),
        "birth_date": pa.array([dt.date(1929, 12, 1), dt.date(1969, 12, 1), dt.date(1970, 1, 1),
                                dt.date(2019, 2, 1)]),
        "ethnicity": pa.array(["Asian", None, "Not recorded", "Other"]),
        "imd_decile": pa.array([1, None, 10, 4], pa.int8()),
        "registration_start": pa.array([dt.date(1960, 1, 31), dt.date(2000, 2, 29), dt.date(2019, 12, 1),
                                        dt.date(2019, 3, 15)]),
        "registration_end": pa.array([None, dt.date(2021, 1, 1), None, dt.date(2022, 12, 31)], pa.date32()),
        "death_date": pa.array([None, None, None, dt.date(2022, 12, 31)], pa.date32()),
    })
    got = extract.patient_arrays(table)
    frame = _pandas_patients(table)
    frame["sex"] = frame["sex"].fillna("")   # the pandas path compared missing sex as not female too
    _assert_same_arrays(got, PatientArrays.from_frame(frame))
    assert got.birth_m.tolist() == [1929 * 12 + 11, 1969 * 12 + 11, 1970 * 12, 2019 * 12 + 1]
    assert got.quintile.tolist() == [1, 0, 5, 2]
    assert got.female.tolist() == [True, False, False, True]
    assert got.ethnic.tolist() == [config.ETHNIC_GROUPS.index("Asian"), len(config.ETHNIC_GROUPS),
                                   len(config.ETHNIC_GROUPS), config.ETHNIC_GROUPS.index("Other")]


def _pandas_practice_tables(task) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table | None]:
    """One practice's tables by the pandas path: DataFrames from simulate_area, sort_values, from_pandas."""
    area, study, patients_path, i, pid, practice_re, start, scenario, seed, stream = task
    patients = _pandas_patients(pq.ParquetFile(patients_path).read_row_group(i))
    rng = np.random.default_rng([seed, stream, i])
    events, truth, by_ethnicity = simulate_area(area, study, patients, practice_re, start, scenario, rng)
    events = events.sort_values(["patient_id", "event_date", "code"], kind="stable")
    for frame in (truth, by_ethnicity):
        frame.insert(0, "practice_id", pid)
        frame["month"] = pd.to_datetime(pd.DataFrame({"year": frame["month_index"] // 12,
                                                      "month": frame["month_index"] % 12 + 1, "day": 1}))

    def table(frame, schema):
        return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    values = table(truth, extract.VALUE_TRUTH_SCHEMA) if area.continuous_outcome is not None else None
    return (table(events, extract.EVENT_SCHEMA), table(truth, extract.TRUTH_SCHEMA),
            table(by_ethnicity, extract.ETHNIC_TRUTH_SCHEMA), values)


@pytest.mark.parametrize("area_name", ["diabetes_care", "childhood_immunisations", "cervical_screening"])
@pytest.mark.parametrize("start", [None, pd.Timestamp("2021-04-01"), pd.Timestamp("2010-01-01")])
def test_practice_tables_equal_the_pandas_path(population, study, area_name, start):
    area = config.load_area(area_name)
    for i, pid in enumerate(pd.read_parquet(population / "practices.parquet")["practice_id"]):
        task = (area, study, population / "patients.parquet", i, pid, 0.4 - 0.2 * i, start, "ethnicity", 11, 99)
        got, want = extract._practice_events(task), _pandas_practice_tables(task)
        assert got[0].num_rows > 0
        for g, w in zip(got, want, strict=True):
            assert (g is None) == (w is None)
            if g is not None:
                assert g.schema.equals(w.schema)
                assert g.equals(w), f"{area_name}, practice {pid}: {g.schema.names}"


def test_events_sort_keeps_draw_order_of_ties():
    """Two events of one patient on one day with one code keep the order they were drawn in (stable sort)."""
    from beyond_averages.synth.events import PracticeDraws

    draws = PracticeDraws(
        event_patient=np.array([7, 5, 7, 7, 5]), event_code_index=np.array([1, 0, 1, 2, 0]),
        code_table=np.array(["b", "a", "a"], dtype=object),   # two rows of one code ("a") in the table
        event_month=np.full(5, 2020 * 12), event_day=np.array([3, 9, 3, 3, 1]),
        event_value=np.array([1.0, 2.0, 3.0, np.nan, 5.0]), truth=None, ethnic_truth=None, value_truth=None)
    table = extract._event_table(draws)
    assert table["patient_id"].to_pylist() == [5, 5, 7, 7, 7]
    assert table["event_date"].to_pylist() == [dt.date(2020, 1, 1), dt.date(2020, 1, 9)] + [dt.date(2020, 1, 3)] * 3
    assert table["code"].to_pylist() == ["b", "b", "a", "a", "a"]
    # Patient 7's three events tie (one day, code "a" from two rows of the table): draw order; NaN is null.
    assert table["value"].to_pylist() == [5.0, 2.0, 1.0, 3.0, None]


def test_pool_and_regenerated_population_give_the_same_files(tmp_path, study):
    """Worker processes open their own patients file, and a population regenerated in place is read afresh."""
    settings = dict(TINY, scenario="narrowing")
    for run, jobs in (("serial", 1), ("pool", 2)):
        generate_population(tmp_path / run, study, progress=False, jobs=jobs, **settings)
        generate_area("diabetes_care", tmp_path / run, study, progress=False, jobs=jobs, **settings)
    assert _digest(tmp_path / "serial") == _digest(tmp_path / "pool")
    other = dict(settings, seed=12)
    for run in ("serial", "fresh"):   # "serial" already holds seed 11's population, opened in this process
        generate_population(tmp_path / run, study, progress=False, **other)
        generate_area("diabetes_care", tmp_path / run, study, progress=False, **other)
    assert _digest(tmp_path / "serial") == _digest(tmp_path / "fresh")
    assert _digest(tmp_path / "serial") != _digest(tmp_path / "pool")
