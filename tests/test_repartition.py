"""Repartitioning an extract by practice (beyond_averages.repartition, `python -m beyond_averages repartition`): a
shuffled copy of the small extract, as a real extract may arrive, rewritten by practice gives the same measures,
byte for byte, and the layout the practice partitions read cheaply (issue 16): the partition planner pairs the
patients' and the events' row groups by position from the layout metadata, so a partition reads its own events row
groups only, even when the patient ids are pseudonymised (in no order, so their statistics pair nothing)."""

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
from beyond_averages import cli, config
from beyond_averages.extract_check import check_extract
from beyond_averages.files import InputError, write_parquet
from beyond_averages.measures import (
    compute_measures,
    compute_measures_by_age,
    compute_partitioned,
    plan_partitions,
)
from beyond_averages.repartition import (
    LAYOUT_KEY,
    aligned_event_row_groups,
    patients_signature,
    repartition,
)

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
    for area in AREAS:  # each events file names the patients file it is aligned with, by its row groups' digest
        events = pq.ParquetFile(by_practice / f"events_{area}.parquet").schema_arrow.metadata[LAYOUT_KEY]
        assert json.loads(events) == {"by": "practice_id", "practices_per_row_group": PER_GROUP, "aligned_with": {
            "file": "patients.parquet", "signature": patients_signature(reader.metadata)}}


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


# -- the partition planner reads the layout --------------------------------------------------------------------
def _measure_digests(frames, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        write_parquet(frame, folder / f"{i}.parquet")
    return [_digest(folder / f"{i}.parquet") for i in range(len(frames))]


@pytest.fixture(scope="module")
def pseudonymised(shuffled, tmp_path_factory) -> Path:
    """The shuffled extract with pseudonymised patient ids (a random one-to-one map, in patients and events alike):
    after repartitioning, every row group's id range spans nearly all ids, so statistics pair nothing."""
    out = tmp_path_factory.mktemp("pseudonymised")
    shutil.copytree(shuffled, out, dirs_exist_ok=True)
    patients = pq.read_table(out / "patients.parquet")
    old = np.sort(patients["patient_id"].to_numpy())
    new = 10**9 + 7 * np.random.default_rng(61).permutation(len(old))
    for path in [out / "patients.parquet", *out.glob("events_*.parquet")]:
        table = pq.read_table(path)
        ids = table["patient_id"].to_numpy()
        at = np.searchsorted(old, ids)
        assert (old[at] == ids).all()  # every event's patient is in the patients file
        table = table.set_column(table.schema.get_field_index("patient_id"), "patient_id", pa.array(new[at]))
        pq.write_table(table, path, row_group_size=table.num_rows)
    return out


@pytest.fixture(scope="module")
def pseudonymised_by_practice(pseudonymised, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pseudonymised_by_practice")
    repartition(pseudonymised, out, PER_GROUP, progress=False)
    return out


def _without_layout(source: Path, target: Path) -> Path:
    """A copy whose events files lose the layout metadata (same rows, same row groups): as an extract aligned by
    some other tool would be."""
    shutil.copytree(source, target)
    for path in target.glob("events_*.parquet"):
        reader = pq.ParquetFile(source / path.name)
        schema = reader.schema_arrow
        schema = schema.with_metadata({k: v for k, v in schema.metadata.items() if k != LAYOUT_KEY})
        with pq.ParquetWriter(path, schema) as writer:
            for i in range(reader.num_row_groups):
                writer.write_table(reader.read_row_group(i).replace_schema_metadata(schema.metadata))
        assert pq.ParquetFile(path).num_row_groups == reader.num_row_groups
    return target


class _ReadSpy:
    """Records every row-group read of a Parquet file in this process: (file name, row groups)."""

    def __init__(self, monkeypatch):
        self.reads: list[tuple[str, tuple[int, ...]]] = []
        init, read_row_groups = pq.ParquetFile.__init__, pq.ParquetFile.read_row_groups
        spy = self

        def spied_init(self, source, *args, **kwargs):
            self._spied_name = Path(str(source)).name
            init(self, source, *args, **kwargs)

        def spied_read_row_groups(self, row_groups, *args, **kwargs):
            spy.reads.append((self._spied_name, tuple(row_groups)))
            return read_row_groups(self, row_groups, *args, **kwargs)

        monkeypatch.setattr(pq.ParquetFile, "__init__", spied_init)
        monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spied_read_row_groups)

    def events_read_per_partition(self, events: str) -> list[set[int]]:
        """The events row groups read after each read of patients row groups (one partition's reads)."""
        out: list[set[int]] = []
        for name, groups in self.reads:
            if name == "patients.parquet":
                if not out or out[-1]:
                    out.append(set())
            elif name == events:
                out[-1].update(groups)
        return out


def test_the_planner_pairs_row_groups_by_the_layout_not_by_the_ids(pseudonymised_by_practice, tmp_path):
    area = config.load_area("diabetes_care")
    events = pseudonymised_by_practice / f"events_{area.name}.parquet"
    assert aligned_event_row_groups(pseudonymised_by_practice / "patients.parquet", events) == [(i,) for i in range(8)]
    plan = plan_partitions(pseudonymised_by_practice, area, partition_rows=1)  # one partition per row group
    assert [(p.patient_row_groups, p.event_row_groups, p.paired_by) for p in plan] == [
        ((i,), (i,), "layout") for i in range(8)]
    packed = plan_partitions(pseudonymised_by_practice, area, partition_rows=10**9)
    assert [(p.patient_row_groups, p.event_row_groups) for p in packed] == [(tuple(range(8)), tuple(range(8)))]
    # Without the metadata the planner falls back on the patient-id statistics: pseudonymised ids pair everything.
    bare = _without_layout(pseudonymised_by_practice, tmp_path / "bare")
    assert [(p.event_row_groups, p.paired_by) for p in plan_partitions(bare, area, partition_rows=1)] == [
        (tuple(range(8)), "statistics")] * 8
    # A patients file rewritten since the repartition (here: one row group) is not the one the events were aligned
    # with: its signature differs and the row groups are not paired by position.
    moved = tmp_path / "moved"
    shutil.copytree(pseudonymised_by_practice, moved)
    table = pq.read_table(moved / "patients.parquet")
    pq.write_table(table, moved / "patients.parquet", row_group_size=table.num_rows)
    assert aligned_event_row_groups(moved / "patients.parquet", moved / events.name) is None
    assert [p.paired_by for p in plan_partitions(moved, area)] == ["statistics"]


def test_a_partition_reads_only_its_own_events_row_groups(pseudonymised_by_practice, tmp_path, study, monkeypatch):
    area = config.load_area("diabetes_care")  # a register area: its events are read twice per partition
    bare = _without_layout(pseudonymised_by_practice, tmp_path / "bare")
    spy = _ReadSpy(monkeypatch)
    laid_out = compute_partitioned(area, pseudonymised_by_practice, study, jobs=1, partition_rows=1)
    by_layout = spy.events_read_per_partition(f"events_{area.name}.parquet")
    spy.reads.clear()
    by_statistics = compute_partitioned(area, bare, study, jobs=1, partition_rows=1)
    by_ids = spy.events_read_per_partition(f"events_{area.name}.parquet")
    assert by_layout == [{i} for i in range(8)]        # 1 events row group of 8 per partition
    assert by_ids == [set(range(8))] * 8               # every one of them, for every partition
    assert _measure_digests(laid_out, tmp_path / "l") == _measure_digests(by_statistics, tmp_path / "s")


@pytest.mark.parametrize("name", AREAS)
def test_measures_of_a_pseudonymised_repartitioned_extract_equal_the_unpartitioned_bytes(
        pseudonymised, pseudonymised_by_practice, study, tmp_path, name):
    area = config.load_area(name)
    whole = _measure_digests((compute_measures(area, pseudonymised, study),
                              compute_measures_by_age(area, pseudonymised, study)), tmp_path / "whole")
    assert {p.paired_by for p in plan_partitions(pseudonymised_by_practice, area, partition_rows=1)} == {"layout"}
    parted = compute_partitioned(area, pseudonymised_by_practice, study, jobs=2, partition_rows=1)
    assert _measure_digests(parted, tmp_path / "parted") == whole
    assert parted[0]["numerator"].sum() > 0 and parted[0]["practice_id"].nunique() == 24
