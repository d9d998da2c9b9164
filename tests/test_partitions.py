"""Measures counted practice partition by partition on a process pool, and generation on a process pool, give the
same files, byte for byte, as the whole-extract, single-process runs (issue 16). The Dask and Spark engines are
tested in ``tests/test_engines.py``; the layout-aware partition planner in ``tests/test_repartition.py``.

A small extract (24 practices, about 55,000 patients) is generated twice, with ``jobs=1`` and ``jobs=2``; every
comparison is of SHA-256 digests of the Parquet files the pipeline writes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from beyond_averages import cli, config
from beyond_averages.files import write_parquet
from beyond_averages.measures import (
    compute_measures,
    compute_measures_by_age,
    compute_partitioned,
    plan_partitions,
)
from beyond_averages.synth import generate_area, generate_population

SETTINGS = {"scale": 0.03, "n_practices": 24, "seed": 123, "scenario": "narrowing"}
AREAS = ("hypertension_case_finding", "diabetes_care")  # diabetes care has a register: its onset is per partition
FILES = ("patients.parquet", "practices.parquet", *(f"{k}_{a}.parquet" for a in AREAS
                                                    for k in ("events", "ground_truth", "programme")))


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _generate(out: Path, study, jobs: int) -> Path:
    generate_population(out, study, progress=False, jobs=jobs, **SETTINGS)
    for area in AREAS:
        generate_area(area, out, study, progress=False, jobs=jobs, **SETTINGS)
    return out


@pytest.fixture(scope="module")
def extracts(tmp_path_factory, study) -> tuple[Path, Path]:
    return (_generate(tmp_path_factory.mktemp("jobs1"), study, 1),
            _generate(tmp_path_factory.mktemp("jobs2"), study, 2))


def _written(frames, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        write_parquet(frame, folder / f"{i}.parquet")
    return [_digest(folder / f"{i}.parquet") for i in range(len(frames))]


def _whole(area, extract, study, folder):
    return _written((compute_measures(area, extract, study), compute_measures_by_age(area, extract, study)), folder)


def test_generation_is_byte_identical_for_any_jobs(extracts):
    one, two = extracts
    for name in FILES:
        assert _digest(one / name) == _digest(two / name), name
    assert pq.ParquetFile(one / "patients.parquet").metadata.num_row_groups == 24


def test_generated_registrations_end_on_or_after_they_start_at_day_level(extracts):
    """The generator's registration-dates bug (an end earlier in the same month as the start) is gone."""
    p = pq.read_table(extracts[1] / "patients.parquet").to_pandas(date_as_object=False)
    ended = p["registration_end"].notna()
    assert ended.sum() > 1000
    assert (p.loc[ended, "registration_end"] >= p.loc[ended, "registration_start"]).all()
    dead = p["death_date"].notna()
    assert dead.sum() > 50
    assert (p.loc[dead, "death_date"] >= p.loc[dead, "registration_start"]).all()
    same_month = ended & (p["registration_end"].dt.to_period("M") == p["registration_start"].dt.to_period("M"))
    assert same_month.sum() > 0  # the case the bug was about occurs, and is ordered


@pytest.mark.parametrize("name", AREAS)
@pytest.mark.parametrize("jobs, partition_rows", [(1, 10**9), (1, 5_000), (2, 5_000), (2, 1)])
def test_partitioned_measures_equal_whole_extract_bytes(extracts, study, tmp_path, name, jobs, partition_rows):
    area = config.load_area(name)
    extract = extracts[0]
    n_parts = len(plan_partitions(extract, area, partition_rows))
    # One partition (the whole extract), one per practice (each row group exceeds 1 row), or a few practices each.
    assert n_parts == 1 if partition_rows == 10**9 else n_parts == 24 if partition_rows == 1 else 2 < n_parts < 24
    whole = _whole(area, extract, study, tmp_path / "whole")
    parted = _written(compute_partitioned(area, extract, study, jobs=jobs, partition_rows=partition_rows),
                      tmp_path / "parted")
    assert parted == whole


def test_practices_split_between_partitions_still_give_the_same_bytes(extracts, study, tmp_path):
    """Row groups of 1,000 patients cut practices in two (and events in one row group are read by every
    partition): counts are per patient sums, so the totals and the bytes do not change."""
    area = config.load_area("diabetes_care")
    source = extracts[0]
    for name in ("patients.parquet", f"events_{area.name}.parquet"):
        table = pq.read_table(source / name)
        pq.write_table(table, tmp_path / name, row_group_size=1_000 if name == "patients.parquet" else 10**9)
    plan = plan_partitions(tmp_path, area, 3_000)
    assert len(plan) > 10 and all(p.event_row_groups == (0,) for p in plan)
    got = _written(compute_partitioned(area, tmp_path, study, jobs=2, partition_rows=3_000), tmp_path / "p")
    assert got == _whole(area, source, study, tmp_path / "w")


def test_measures_command_jobs_1_and_2_write_the_same_bytes(extracts, tmp_path):
    extract, name = extracts[0], AREAS[0]
    digests = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        assert cli.main(["measures", name, "--extract", str(extract), "--out", str(out), "--jobs", str(jobs)]) == 0
        digests.append([_digest(out / f"{name}.parquet"), _digest(out / f"{name}_by_age.parquet")])
    assert digests[0] == digests[1]
    m = pq.read_table(tmp_path / "jobs1" / f"{name}.parquet").to_pandas()
    assert len(m) == 24 * 5 * 84 and m["denominator"].sum() > 0 and (m["numerator"] <= m["denominator"]).all()


def test_unknown_engine_is_one_clear_error(extracts, study):
    from beyond_averages.files import InputError

    with pytest.raises(InputError, match="engine 'ray': expected one of local, dask, spark"):
        compute_partitioned(config.load_area(AREAS[0]), extracts[0], study, engine="ray")


def test_generation_commands_run_with_the_default_jobs(tmp_path):
    """`make` runs the generator without --jobs: the default (both cores) must work from the command line and give
    the bytes of an explicit single-process run."""
    common = ["--scale", "0.005", "--n-practices", "3", "--seed", "5", "--quiet"]
    for out, jobs in ((tmp_path / "default", []), (tmp_path / "one", ["--jobs", "1"])):
        assert cli.main(["population", "--out", str(out), *common, *jobs]) == 0
        assert cli.main(["area", "cervical_screening", "--out", str(out), *common, *jobs]) == 0
    for name in ("patients.parquet", "events_cervical_screening.parquet", "programme_cervical_screening.parquet"):
        assert (tmp_path / "default" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
