"""The measures on an existing engine, Dask or Spark, equal those of the local engine, byte for byte (issue 16).

Spark runs the kernel of every engine once per practice, on the pandas frames ``groupBy(practice_id)
.applyInPandas`` hands it (:mod:`beyond_averages.measures.spark_engine`). That step is tested here without a JVM, on
frames shaped as Spark gives them (dates as ``datetime.date`` objects, a nullable small integer as floats, text as
pandas strings), so ``make test`` covers it; the whole Spark path runs in local mode in a slow test (a JVM takes
30-60 s to start on 2 shared cores), skipped with the reason where pyspark or Java is missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from beyond_averages import config
from beyond_averages.files import InputError, write_parquet
from beyond_averages.measures import (
    compute_measures,
    compute_measures_by_age,
    compute_partitioned,
)
from beyond_averages.measures.compute import N_BANDS
from beyond_averages.measures.spark_engine import (
    AGE_CELL,
    PRACTICE_CELL,
    _plain,
    _practice_cells,
)
from beyond_averages.months import month_index_of

AREAS = ("hypertension_case_finding", "diabetes_care")  # diabetes care has a register: its events are read twice


def _digests(frames, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        write_parquet(frame, folder / f"{i}.parquet")
    return [hashlib.sha256((folder / f"{i}.parquet").read_bytes()).hexdigest() for i in range(len(frames))]


def _as_spark_gives_them(table) -> pd.DataFrame:
    """A table as ``applyInPandas`` hands it over: dates as objects, IMD decile as float, text as pandas strings."""
    frame = table.to_pandas(date_as_object=True)
    for field in table.schema:
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            frame[field.name] = frame[field.name].astype("string")
    if "imd_decile" in frame:
        frame["imd_decile"] = frame["imd_decile"].astype("float64")
    return frame


@pytest.mark.parametrize("name", AREAS)
def test_one_practice_counted_from_spark_frames_equals_the_local_counts(small_extract, study, name):
    area = config.load_area(name)
    patients = pq.read_table(small_extract / "patients.parquet")
    events = pq.read_table(small_extract / f"events_{name}.parquet")
    practice = sorted(set(patients["practice_id"].to_pylist()))[3]
    mine = patients.filter(pq.filters_to_expression([("practice_id", "=", practice)]))
    their_events = events.filter(pq.filters_to_expression([("patient_id", "in", mine["patient_id"].to_pylist())]))
    assert mine.num_rows > 500 and their_events.num_rows > 100
    first = month_index_of(study.study_start)
    n_months = month_index_of(study.study_end) - first + 1
    cells = _practice_cells(area, study, _plain(patients.schema), _plain(events.schema), n_months,
                            _as_spark_gives_them(mine), _as_spark_gives_them(their_events))

    own = cells[cells["kind"] == PRACTICE_CELL]
    assert set(own["practice_id"]) == {practice} and len(own) == 5 * n_months
    local = compute_measures(area, small_extract, study)
    local = local[local["practice_id"] == practice].sort_values(["imd_quintile", "month"])
    np.testing.assert_array_equal(own["den"].to_numpy(), local["denominator"].to_numpy())
    np.testing.assert_array_equal(own["num"].to_numpy(), local["numerator"].to_numpy())
    assert local["numerator"].sum() > 0

    age = cells[cells["kind"] == AGE_CELL]
    assert age["practice_id"].isna().all() and (age[["den", "num"]] != 0).any(axis=1).all()  # non-zero cells only
    by_age = compute_measures_by_age(area, small_extract, study, practices=[practice])
    expected = by_age.sort_values(["imd_quintile", "age_band", "month"])["denominator"].to_numpy()
    got = np.zeros(5 * N_BANDS * n_months, np.int64)
    got[age["cell"].to_numpy()] = age["den"].to_numpy()
    np.testing.assert_array_equal(got, expected)


def test_dask_engine_equals_local_engine(small_extract, study, tmp_path):
    pytest.importorskip("dask", reason="the Dask engine needs `pip install dask` (not in requirements.txt)")
    area = config.load_area("diabetes_care")
    local = _digests(compute_partitioned(area, small_extract, study, jobs=1, partition_rows=5_000), tmp_path / "l")
    dask = _digests(compute_partitioned(area, small_extract, study, jobs=2, engine="dask", partition_rows=5_000),
                    tmp_path / "d")
    assert dask == local


def test_spark_without_pyspark_is_one_clear_error(small_extract, study, monkeypatch):
    for module in ("pyspark", "pyspark.sql"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(InputError, match=r"--engine spark: the pyspark package is not installed .*Java 17"):
        compute_partitioned(config.load_area(AREAS[0]), small_extract, study, engine="spark")


@pytest.fixture(scope="module")
def spark_session():
    pytest.importorskip("pyspark", reason="the Spark engine needs pyspark: pip install -r requirements-bench.txt")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("the Spark engine needs Java 17 or later (java on the PATH, or JAVA_HOME)")
    from beyond_averages.measures.spark_engine import session
    from pyspark.errors import PySparkRuntimeError

    try:
        return session(2)
    except PySparkRuntimeError as exc:  # JAVA_GATEWAY_EXITED: this machine's Java, not the engine
        pytest.skip(f"Spark could not start in local mode (Java 17 or later needed): {type(exc).__name__}: "
                    f"{str(exc)[:200]}")


@pytest.mark.slow  # a JVM and Python workers start: about a minute on 2 cores (`make bench` runs `pytest -m slow`)
@pytest.mark.parametrize("name", AREAS)
def test_spark_engine_equals_local_engine(spark_session, small_extract, study, tmp_path, name):
    area = config.load_area(name)
    spark = compute_partitioned(area, small_extract, study, jobs=2, engine="spark")
    local = compute_partitioned(area, small_extract, study, jobs=1)
    assert _digests(spark, tmp_path / "s") == _digests(local, tmp_path / "l")
    assert spark[0]["practice_id"].nunique() == 24 and spark[0]["numerator"].sum() > 0


def test_a_practice_without_events_gives_its_denominators_and_no_numerators(small_extract, study):
    """Spark hands a practice none of the area's events as an empty frame: the kernel must still count it."""
    area = config.load_area("hypertension_case_finding")  # no register: the denominators need no events
    patients = pq.read_table(small_extract / "patients.parquet")
    events = pq.read_table(small_extract / f"events_{area.name}.parquet")
    practice = min(patients["practice_id"].to_pylist())
    mine = patients.filter(pq.filters_to_expression([("practice_id", "=", practice)]))
    first = month_index_of(study.study_start)
    n_months = month_index_of(study.study_end) - first + 1
    cells = _practice_cells(area, study, _plain(patients.schema), _plain(events.schema), n_months,
                            _as_spark_gives_them(mine), _as_spark_gives_them(events.slice(0, 0)))
    own = cells[cells["kind"] == PRACTICE_CELL]
    local = compute_measures(area, small_extract, study)
    local = local[local["practice_id"] == practice].sort_values(["imd_quintile", "month"])
    assert local["denominator"].sum() > 1000
    np.testing.assert_array_equal(own["den"].to_numpy(), local["denominator"].to_numpy())
    assert (own["num"] == 0).all()
