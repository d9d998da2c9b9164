"""Repartitioning an extract by practice (beyond_averages.repartition, `python -m beyond_averages repartition`): a
shuffled copy of the small extract, as a real extract may arrive, rewritten by practice gives the same measures,
byte for byte, and the layout the practice partitions read cheaply (issue 16)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import test_extract_check as contract

from beyond_averages import cli
from beyond_averages.extract_check import check_extract
from beyond_averages.files import InputError
from beyond_averages.repartition import LAYOUT_KEY, repartition

AREAS = ("hypertension_case_finding", "diabetes_care")  # diabetes care has a register
PER_GROUP = 3


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shuffled(small_extract, tmp_path_factory) -> Path:
    """The small extract with patients and events in a random order, one row group each."""
    out = tmp_path_factory.mktemp("shuffled")
    shutil.copytree(small_extract, out, dirs_exist_ok=True)
    rng = np.random.default_rng(16)
    for path in [out / "patients.parquet", *out.glob("events_*.parquet")]:
        table = pq.read_table(path)
        pq.write_table(table.take(pa.array(rng.permutation(table.num_rows))), path,
                       row_group_size=table.num_rows)
    return out


@pytest.fixture(scope="module")
def by_practice(shuffled, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("by_practice")
    assert cli.main(["repartition", "--extract", str(shuffled), "--out", str(out),
                     "--practices-per-row-group", str(PER_GROUP), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("area", AREAS)
def test_measures_on_the_repartitioned_extract_equal_the_original_byte_for_byte(shuffled, by_practice, tmp_path,
                                                                                area):
    digests = []
    for name, extract in (("original", shuffled), ("by_practice", by_practice)):
        out = tmp_path / name
        assert cli.main(["measures", area, "--extract", str(extract), "--out", str(out), "--jobs", "1"]) == 0
        files = (f"{area}.parquet", f"{area}_by_age.parquet", f"{area}_extract_check.json")
        digests.append([_digest(out / f) for f in files])
    assert digests[0] == digests[1]
    assert pd.read_parquet(tmp_path / "original" / f"{area}.parquet")["numerator"].sum() > 0


def test_patients_are_sorted_by_practice_in_row_groups_of_n_practices(shuffled, by_practice):
    original = pq.read_table(shuffled / "patients.parquet").to_pandas()
    reader = pq.ParquetFile(by_practice / "patients.parquet")
    practices = sorted(original["practice_id"].unique())
    assert reader.metadata.num_row_groups == -(-len(practices) // PER_GROUP) == 8  # 24 practices
    for i in range(reader.metadata.num_row_groups):
        group = reader.read_row_group(i, columns=["practice_id"])["practice_id"].to_pylist()
        assert sorted(set(group)) == practices[PER_GROUP * i:PER_GROUP * (i + 1)]
        assert group == sorted(group)
    # Same rows; within a practice, in the order they had.
    written = reader.read().to_pandas()
    expected = original.sort_values("practice_id", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(written, expected)
    assert json.loads(reader.schema_arrow.metadata[LAYOUT_KEY]) == {"by": "practice_id",
                                                                   "practices_per_row_group": PER_GROUP}


def test_events_row_groups_follow_the_patients(shuffled, by_practice):
    patients = pq.ParquetFile(by_practice / "patients.parquet")
    for area in AREAS:
        events = pq.ParquetFile(by_practice / f"events_{area}.parquet")
        assert events.metadata.num_row_groups == patients.metadata.num_row_groups
        for i in range(patients.metadata.num_row_groups):
            ids = set(patients.read_row_group(i, columns=["patient_id"])["patient_id"].to_pylist())
            assert set(events.read_row_group(i, columns=["patient_id"])["patient_id"].to_pylist()) <= ids
        before = pq.read_table(shuffled / f"events_{area}.parquet").to_pandas()
        after = events.read().to_pandas()
        key = list(before.columns)
        pd.testing.assert_frame_equal(after.sort_values(key, kind="stable").reset_index(drop=True),
                                      before.sort_values(key, kind="stable").reset_index(drop=True))
    for name in ("practices.parquet", *(f"programme_{a}.parquet" for a in AREAS)):
        assert _digest(by_practice / name) == _digest(shuffled / name)


def test_the_bytes_do_not_depend_on_the_bucket_size(shuffled, by_practice, tmp_path):
    """One temporary bucket of rows, or one per practice group: the same files."""
    for bucket_rows in (1, 10**9):
        out = tmp_path / str(bucket_rows)
        repartition(shuffled, out, PER_GROUP, progress=False, bucket_rows=bucket_rows)
        for path in sorted(by_practice.glob("*.parquet")):
            assert _digest(out / path.name) == _digest(path), (bucket_rows, path.name)


@pytest.mark.parametrize("ids", ["integer", "text"])
def test_rows_of_no_practice_or_no_patient_are_kept_and_the_check_finds_them(tmp_path, study, ids):
    frames = contract.base_frames()
    frames[contract.PATIENTS].loc[7, "practice_id"] = None          # patient 108: no practice
    frames[contract.EVENTS].loc[8, "patient_id"] = 999              # patient 107's event: now nobody's
    types = {}
    if ids == "text":
        for name in (contract.PATIENTS, contract.EVENTS):
            frames[name]["patient_id"] = "id-" + frames[name]["patient_id"].astype(str)
            types[name] = {"patient_id": pa.string()}
    original = contract.write_extract(tmp_path / "original", frames, types)
    written = repartition(original, tmp_path / "by_practice", 1, progress=False)
    # P1, P2 (patient 107's event is now 999's), then the row group of no practice: patient 108, events 999's and 108's.
    assert written == {contract.PATIENTS: [4, 3, 1], contract.EVENTS: [5, 3, 2]}
    before = check_extract(original, contract.AREA, study, lenient=True).to_dict()
    after = check_extract(tmp_path / "by_practice", contract.AREA, study, lenient=True).to_dict()
    assert after == before and before["files"][contract.PATIENTS]["dropped"] == 1


def test_bad_requests_are_one_line_errors(tmp_path):
    folder = contract.write_extract(tmp_path / "x", contract.base_frames())
    with pytest.raises(InputError, match="the output folder is the extract itself"):
        repartition(folder, folder, progress=False)
    frame = pd.read_parquet(folder / contract.PATIENTS).drop(columns="practice_id")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / contract.PATIENTS)
    assert cli.main(["repartition", "--extract", str(folder), "--out", str(tmp_path / "y"), "--quiet"]) == 2
    with pytest.raises(InputError, match=r"patients\.parquet: missing column\(s\) 'practice_id'"):
        repartition(folder, tmp_path / "y", progress=False)
