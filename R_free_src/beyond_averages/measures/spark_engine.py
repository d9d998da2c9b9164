"""The measures on Spark: ``groupBy(practice_id)`` of the patients, cogrouped with their events, ``applyInPandas`` of
the same per-partition kernel as every other engine.

This is the shape of a Spark job in a trusted research environment (the NHS England Secure Data Environment runs
Databricks): Spark reads ``patients.parquet`` and ``events_<area>.parquet`` itself, keeps the area's codes only,
gives each event its patient's practice (a join on ``patient_id``), and hands each practice's patients and events to
:func:`_practice_cells` as two pandas frames. That function writes them as a one-practice extract in the worker's
scratch folder and counts it with :func:`~beyond_averages.measures.partitions.count_partition`, the kernel of the local
and Dask engines, so no second implementation of the counting rules exists to drift from the first. Each practice
returns its count cells: every practice × quintile × month cell, and its non-zero quintile × age band × month cells.
Spark sums the age cells over practices, and only that result is collected to the driver: one row per cell of the
measures table plus the age-band table (about 120,000 rows for 285 practices; 3.6 million for 8,500), never a
patient or an event. The driver rebuilds the count arrays, so the frames equal the local engine's byte for byte.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import Area, Study
from ..files import InputError
from .compute import N_BANDS, Counts
from .partitions import count_partition, plan_partitions
from .reading import EVENT_COLUMNS, PATIENT_COLUMNS

PRACTICE_CELL, AGE_CELL = 0, 1
CELL_SCHEMA = "practice_id string, kind int, cell long, den long, num long"


def session(jobs: int):
    """The active Spark session (a cluster's, e.g. a Databricks notebook's), else a ``local[jobs]`` one whose Python
    workers run this interpreter (by default they would run whatever ``python3`` is first on the PATH)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("--engine spark: the pyspark package is not installed (pip install -r "
                         "requirements-bench.txt; Spark also needs Java 17 or later)") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # PySpark takes the workers' Python from this variable when it creates the context (in local mode the
    # `spark.pyspark.python` setting is not read); a value the user set is kept.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (SparkSession.builder.master(f"local[{max(jobs, 1)}]").appName("beyond_averages measures")
            # Dates are taken as they are written, whatever this machine's time zone.
            .config("spark.sql.session.timeZone", "UTC")
            # Few shuffle partitions: on one machine each is a task with its own Python worker round trip.
            .config("spark.sql.shuffle.partitions", str(4 * max(jobs, 1)))
            .config("spark.ui.showConsoleProgress", "false").getOrCreate())


def _plain(schema: pa.Schema) -> pa.Schema:
    """``schema`` with dictionary-encoded columns as their plain values (pandas frames from Spark hold values)."""
    return pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type, f.nullable)
                      for f in schema])


def _as_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """A pandas frame from Spark back into the extract file's own column types (dates, small integers, text)."""
    table = pa.Table.from_pandas(frame[schema.names], preserve_index=False)
    return pa.table([table.column(f.name).cast(f.type) for f in schema], schema=schema)


def _practice_cells(area: Area, study: Study, patients_schema: pa.Schema, events_schema: pa.Schema, n_months: int,
                    patients: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One practice's count cells, from its patients and events, counted by the kernel of every engine."""
    folder = Path(tempfile.mkdtemp(prefix="beyond_averages_practice_"))
    try:
        pq.write_table(_as_arrow(patients, patients_schema), folder / "patients.parquet")
        pq.write_table(_as_arrow(events, events_schema), folder / f"events_{area.name}.parquet")
        counts = [count_partition(folder, area, study, p) for p in plan_partitions(folder, area, 1 << 62)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    frames = []
    for c in counts:
        for i, practice in enumerate(c.practice_ids):
            frames.append(pd.DataFrame({"practice_id": str(practice), "kind": PRACTICE_CELL,
                                        "cell": np.arange(5 * n_months), "den": c.den[i].ravel(),
                                        "num": c.num[i].ravel()}))
        age_den, age_num = c.age_den.ravel(), c.age_num.ravel()
        used = np.flatnonzero((age_den != 0) | (age_num != 0))
        frames.append(pd.DataFrame({"practice_id": None, "kind": AGE_CELL, "cell": used, "den": age_den[used],
                                    "num": age_num[used]}))
    out = pd.concat(frames, ignore_index=True)
    return out.astype({"practice_id": object, "kind": "int32", "cell": "int64", "den": "int64", "num": "int64"})


def spark_counts(extract_dir: Path, area: Area, study: Study, jobs: int, n_months: int, first: int) -> Counts:
    """Every practice's counts and the age-band counts of the extract, computed on Spark (module docstring)."""
    spark = session(jobs)  # first: it names the missing package
    from pyspark.sql import functions as F

    p_path, e_path = Path(extract_dir) / "patients.parquet", Path(extract_dir) / f"events_{area.name}.parquet"
    if not e_path.exists():
        raise InputError(f"{e_path}: file not found (rule: an extract holds the events of each area)")
    p_schema = _plain(pq.read_schema(p_path))
    e_schema = _plain(pq.read_schema(e_path))
    p_schema = pa.schema([p_schema.field(c) for c in PATIENT_COLUMNS])
    e_schema = pa.schema([e_schema.field(c) for c in EVENT_COLUMNS if c in e_schema.names])
    # URIs, so that a cluster whose default file system is HDFS reads the same shared folder the driver checked.
    patients = spark.read.parquet(p_path.resolve().as_uri()).select(*PATIENT_COLUMNS)
    codes = sorted(set(area.codes(area.indicator.codelist)) | set(
        area.codes(area.eligibility.on_register) if area.eligibility.on_register else ()))
    # Each event's practice, from a read of its own (a self-join of `patients` would make `practice_id` ambiguous).
    practice_of = spark.read.parquet(p_path.resolve().as_uri()).select(
        "patient_id", F.col("practice_id").alias("events_practice_id"))
    events = (spark.read.parquet(e_path.resolve().as_uri()).select(*e_schema.names)
              .where(F.col("code").isin(codes)).join(practice_of, "patient_id"))
    kernel = partial(_practice_cells, area, study, p_schema, e_schema, n_months)
    cells = (patients.groupBy("practice_id").cogroup(events.groupBy("events_practice_id"))
             .applyInPandas(kernel, schema=CELL_SCHEMA)
             .groupBy("kind", "practice_id", "cell").agg(F.sum("den").alias("den"), F.sum("num").alias("num")))
    rows = pd.DataFrame(cells.collect(), columns=["kind", "practice_id", "cell", "den", "num"])
    practice = rows[rows["kind"] == PRACTICE_CELL]
    ids = np.unique(practice["practice_id"].to_numpy().astype(str))
    den = np.zeros((len(ids), 5 * n_months), np.int64)
    num = np.zeros_like(den)
    at = np.searchsorted(ids, practice["practice_id"].to_numpy().astype(str))
    den[at, practice["cell"].to_numpy()] = practice["den"].to_numpy()
    num[at, practice["cell"].to_numpy()] = practice["num"].to_numpy()
    age = rows[rows["kind"] == AGE_CELL]
    age_den = np.zeros(5 * N_BANDS * n_months, np.int64)
    age_num = np.zeros_like(age_den)
    age_den[age["cell"].to_numpy(np.int64)] = age["den"].to_numpy(np.int64)
    age_num[age["cell"].to_numpy(np.int64)] = age["num"].to_numpy(np.int64)
    return Counts(first, ids, den.reshape(len(ids), 5, n_months), num.reshape(len(ids), 5, n_months),
                  age_den.reshape(5, N_BANDS, n_months), age_num.reshape(5, N_BANDS, n_months))
