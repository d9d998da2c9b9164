"""Rewrite an extract by practice, once: the layout in which the measures and the data contract read it cheaply.

A real extract rarely comes ordered by practice, and a practice partition of the measures
(:mod:`beyond_averages.measures.partitions`) may then read every events row group. :func:`repartition` writes a copy
of the extract in which ``patients.parquet`` is sorted by ``practice_id`` with one row group per ``N`` practices,
and each ``events_<area>.parquet`` follows it: its row group ``i`` holds the events of the patients in the patients'
row group ``i`` (written even when empty, so the two files stay aligned). Within a practice, rows keep the order they
had. Patients without a practice, and events of no patient in the file, go in one last row group of each file, so no
row is lost and the data contract (:mod:`beyond_averages.extract_check`) finds what it would have found before.
Every other file of the folder is copied as it is. Each file is written atomically; the same input gives the same
bytes. Every file rewritten carries the key-value metadata :data:`LAYOUT_KEY` (practices per row group); each
events file also records the :func:`patients_signature` of the patients file it was aligned with, so that the
measures' partition planner (:func:`aligned_event_row_groups`) pairs row groups by position only with that very file.

Memory is bounded: the rows are first scattered, batch by batch, into temporary Arrow files of consecutive practice
groups (about :data:`BUCKET_ROWS` patients each), then each is sorted by practice and written out. The whole-file
state is each patient's id and practice rank (16 bytes a patient with integer ids).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .files import InputError, atomic_path

LAYOUT_KEY = b"beyond_averages.layout"
BUCKET_ROWS = 1_000_000  # patients per temporary bucket (about 100 MB of patient rows held at once)
BATCH_ROWS = 1 << 18
RANK = "__practice_rank"


def _require(path: Path, columns: tuple[str, ...]) -> pq.ParquetFile:
    if not path.exists():
        raise InputError(f"{path}: file not found (rule: an extract folder holds patients.parquet)")
    reader = pq.ParquetFile(path, pre_buffer=False)
    missing = [c for c in columns if c not in reader.schema_arrow.names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))} (rule: required columns); "
                         f"found {', '.join(reader.schema_arrow.names)}")
    return reader


class _Layout:
    """Practices (sorted) -> groups of ``per_group``; groups -> buckets of about ``bucket_rows`` patients."""

    def __init__(self, reader: pq.ParquetFile, per_group: int, bucket_rows: int):
        counts: dict[str, int] = {}
        missing = 0
        for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=["practice_id"]):
            column = pc.cast(batch.column(0), pa.string())
            missing += column.null_count
            for item in pc.value_counts(column.drop_null()).to_pylist():
                counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
        self.practices = pa.array(sorted(counts), pa.string())
        self.per_group = per_group
        self.last = -(-len(counts) // per_group)  # the group of rows without a practice (or of no patient)
        sizes = np.zeros(self.last + 1, np.int64)
        np.add.at(sizes, np.arange(len(counts)) // per_group, [counts[p] for p in self.practices.to_pylist()])
        sizes[self.last] = missing
        self.bucket_of = np.zeros(self.last + 1, np.int64)
        filled = 0
        for g in range(self.last + 1):
            if filled and filled + sizes[g] > bucket_rows:
                self.bucket_of[g:] += 1
                filled = 0
            filled += sizes[g]
        self.n_buckets = int(self.bucket_of[-1]) + 1

    @property
    def no_practice(self) -> int:
        """The rank of rows without a practice (or of no patient): after every practice, in the last group."""
        return self.last * self.per_group

    def ranks(self, practice_id) -> np.ndarray:
        """Each row's practice as its rank in the sorted practices."""
        rank = pc.index_in(pc.cast(practice_id, pa.string()), value_set=self.practices)
        return np.where(rank.is_null().to_numpy(zero_copy_only=False), self.no_practice, rank.fill_null(0).to_numpy())


def _decoded(column) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


class _PatientRanks:
    """Each patient id's practice rank, to place its events: binary search for integer ids (16 bytes a patient,
    12 when the ids come sorted), a hash lookup for text."""

    def __init__(self, n_rows: int, id_type: pa.DataType, no_practice: int):
        self.no_practice = no_practice
        value_type = id_type.value_type if pa.types.is_dictionary(id_type) else id_type
        self.integer = pa.types.is_integer(value_type)
        self.ids = np.empty(n_rows if self.integer else 0, np.int64)
        self.ranks = np.empty(n_rows, np.int32)
        self.text: list[pa.Array] = []
        self.missing: list[np.ndarray] = []
        self.n = 0

    def add(self, column, ranks: np.ndarray) -> None:
        column = _decoded(column)
        at = slice(self.n, self.n + len(column))
        self.ranks[at] = ranks
        if self.integer:
            column = pc.cast(column, pa.int64())
            self.ids[at] = column.fill_null(0).to_numpy()
            if column.null_count:
                self.missing.append(self.n + np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False)))
        else:
            self.text.append(pc.cast(column, pa.string()))
        self.n += len(column)

    def finish(self) -> _PatientRanks:
        if not self.integer:
            self.ids = pa.chunked_array(self.text, pa.string()).combine_chunks()
            self.text = []
            return self
        if self.missing:  # a missing id matches no event
            keep = np.ones(self.n, bool)
            keep[np.concatenate(self.missing)] = False
            self.ids, self.ranks = self.ids[keep], self.ranks[keep]
        if not np.all(self.ids[1:] >= self.ids[:-1]):
            order = np.argsort(self.ids, kind="stable")
            self.ids = self.ids[order]
            self.ranks = self.ranks[order]
        return self

    def of(self, column) -> np.ndarray:
        column = _decoded(column)
        out = np.full(len(column), self.no_practice, np.int64)
        if self.integer and len(self.ids):
            wanted = pc.cast(column, pa.int64())
            valid = wanted.is_valid().to_numpy(zero_copy_only=False)
            values = wanted.fill_null(0).to_numpy()
            pos = np.minimum(np.searchsorted(self.ids, values), len(self.ids) - 1)
            hit = valid & (self.ids[pos] == values)
            out[hit] = self.ranks[pos[hit]]
        elif not self.integer and len(self.ids):
            at = pc.index_in(pc.cast(column, self.ids.type), value_set=self.ids)
            hit = at.is_valid().to_numpy(zero_copy_only=False)
            out[hit] = self.ranks[at.fill_null(0).to_numpy()[hit]]
        return out


def patients_signature(metadata: pq.FileMetaData) -> str:
    """A digest of a patients file's row groups (rows, and the min and max of ``patient_id`` and ``practice_id`` in
    each), read from its footer alone. An events file aligned with it records it; a patients file rewritten since
    (rows dropped, row groups changed) no longer matches, and its row groups are not paired by position."""
    schema = metadata.schema.to_arrow_schema()
    columns = [schema.get_field_index(c) for c in ("patient_id", "practice_id")]
    groups = []
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        stats = [group.column(j).statistics if j >= 0 else None for j in columns]
        groups.append([group.num_rows, *((s.min, s.max) if s is not None and s.has_min_max else None for s in stats)])
    return hashlib.sha256(json.dumps(groups, default=str).encode()).hexdigest()


def layout_of(metadata: pq.FileMetaData) -> dict | None:
    """The layout a file was written with by :func:`repartition` (None: not written by it)."""
    raw = (metadata.metadata or {}).get(LAYOUT_KEY)
    try:
        layout = json.loads(raw) if raw else None
    except ValueError:
        return None
    return layout if isinstance(layout, dict) else None


def aligned_event_row_groups(patients_path: Path, events_path: Path) -> list[tuple[int, ...]] | None:
    """For each row group of ``patients_path``, the row groups of ``events_path`` that may hold its patients' events,
    when the events file was written by :func:`repartition` aligned with this very patients file (its recorded
    :func:`patients_signature` matches): row group ``i`` of each, by position; a trailing events row group past the
    patients' holds events of no patient and pairs with none. None otherwise: the caller must then pair row groups
    some other way (the planner uses the patient-id statistics)."""
    p_meta = pq.ParquetFile(patients_path).metadata
    e_meta = pq.ParquetFile(events_path).metadata
    layout = layout_of(e_meta) or {}
    aligned = layout.get("aligned_with")
    n_patients, n_events = p_meta.num_row_groups, e_meta.num_row_groups
    if (not isinstance(aligned, dict) or aligned.get("file") != Path(patients_path).name
            or aligned.get("signature") != patients_signature(p_meta) or not n_patients - 1 <= n_events <= n_patients + 1):
        return None
    return [(i,) if i < n_events else () for i in range(n_patients)]


def _rewrite(source: Path, target: Path, layout: _Layout, rank_of, work: Path, bar: tqdm,
             patients: _PatientRanks | None = None, aligned_with: str | None = None) -> list[int]:
    """Scatter ``source`` into bucket files by practice group, then write each bucket sorted, one row group per
    group (``patients``, if given, collects each patient's id and rank; ``aligned_with``, for an events file, is the
    signature of the patients file written, recorded in its layout). Returns the rows per row group written."""
    reader = pq.ParquetFile(source, pre_buffer=False)  # see extract_rows.batches: memory follows the batch
    schema = reader.schema_arrow
    work_schema = schema.append(pa.field(RANK, pa.int64()))
    paths = [work / f"{source.stem}.{b}.arrow" for b in range(layout.n_buckets)]
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    try:
        for batch in reader.iter_batches(batch_size=BATCH_ROWS):
            ranks = rank_of(batch)
            if patients is not None:
                patients.add(batch.column(batch.schema.get_field_index("patient_id")), ranks)
            buckets = layout.bucket_of[ranks // layout.per_group]
            table = pa.Table.from_batches([batch]).append_column(RANK, pa.array(ranks, pa.int64()))
            for b in np.unique(buckets):
                if b not in writers:
                    writers[b] = pa.ipc.new_file(paths[b], work_schema)
                writers[b].write_table(table.take(pa.array(np.flatnonzero(buckets == b))))
            bar.update(batch.num_rows)
    finally:
        for w in writers.values():
            w.close()
    written_layout = {"by": "practice_id", "practices_per_row_group": layout.per_group}
    if aligned_with is not None:
        written_layout["aligned_with"] = {"file": "patients.parquet", "signature": aligned_with}
    metadata = {**(schema.metadata or {}), LAYOUT_KEY: json.dumps(written_layout).encode()}
    sizes = []
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema.with_metadata(metadata), compression="zstd",
                                                      write_statistics=True) as writer:
        for b in range(layout.n_buckets):
            table, ranks = schema.empty_table(), np.zeros(0, np.int64)
            if paths[b].exists():
                with pa.memory_map(str(paths[b])) as f:
                    bucket = pa.ipc.open_file(f).read_all()
                bucket = bucket.take(pa.array(np.argsort(bucket[RANK].to_numpy(), kind="stable")))
                table, ranks = bucket.drop_columns([RANK]), bucket[RANK].to_numpy()
            for g in np.flatnonzero(layout.bucket_of == b):
                lo, hi = np.searchsorted(ranks, [g * layout.per_group, (g + 1) * layout.per_group])
                if g == layout.last and lo == hi:
                    continue  # the trailing group of rows without a practice exists only when there are some
                writer.write_table(table.slice(lo, hi - lo), row_group_size=max(int(hi - lo), 1))
                sizes.append(int(hi - lo))
            bar.update(table.num_rows)
            paths[b].unlink(missing_ok=True)
    return sizes


def repartition(extract_dir: str | Path, out_dir: str | Path, practices_per_row_group: int = 1, *,
                progress: bool = True, bucket_rows: int = BUCKET_ROWS) -> dict[str, list[int]]:
    """Write ``extract_dir`` into ``out_dir`` by practice (module docstring). Returns, per rewritten file, the rows
    of each row group."""
    extract_dir, out_dir = Path(extract_dir), Path(out_dir)
    if practices_per_row_group < 1:
        raise InputError(f"--practices-per-row-group: {practices_per_row_group}; rule: at least 1")
    if out_dir.resolve() == extract_dir.resolve():
        raise InputError(f"{out_dir}: the output folder is the extract itself; rule: write the copy elsewhere")
    p_path = extract_dir / "patients.parquet"
    reader = _require(p_path, ("patient_id", "practice_id"))
    events = sorted(extract_dir.glob("events_*.parquet"))
    for path in events:
        _require(path, ("patient_id",))
    layout = _Layout(reader, practices_per_row_group, bucket_rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".repartition_", dir=out_dir))
    written: dict[str, list[int]] = {}
    try:
        patients = _PatientRanks(reader.metadata.num_rows, reader.schema_arrow.field("patient_id").type,
                                 layout.no_practice)
        with tqdm(total=2 * reader.metadata.num_rows, desc="patients", unit="row", unit_scale=True,
                  disable=not progress) as bar:
            written[p_path.name] = _rewrite(p_path, out_dir / p_path.name, layout,
                                            lambda batch: layout.ranks(batch.column("practice_id")),
                                            work, bar, patients)
        patients.finish()
        signature = patients_signature(pq.ParquetFile(out_dir / p_path.name).metadata)
        for path in events:
            with tqdm(total=2 * pq.ParquetFile(path).metadata.num_rows, desc=path.stem, unit="row",
                      unit_scale=True, disable=not progress) as bar:
                written[path.name] = _rewrite(path, out_dir / path.name, layout,
                                              lambda batch: patients.of(batch.column("patient_id")), work, bar,
                                              aligned_with=signature)
        for path in sorted(extract_dir.iterdir()):
            if path.is_file() and path.name not in written:
                with atomic_path(out_dir / path.name) as tmp:
                    shutil.copyfile(path, tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return written
