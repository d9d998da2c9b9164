"""Practice partitions of an extract: planning them from the Parquet metadata, counting one, combining the counts.

Counts are sums over patients, so any split of the patients gives the same totals: a partition is a set of row
groups of ``patients.parquet`` and the row groups of ``events_<area>.parquet`` that may hold their patients' events
(events of other patients are ignored when read). Partitions are packed from consecutive row groups up to
:data:`PARTITION_ROWS` patients, so peak memory follows the largest partition, not the extract. The events row groups
of a partition are found in one of two ways:

- by **layout**: an extract written by ``python -m beyond_averages repartition`` records in each events file that
  its row group ``i`` holds the events of the patients in row group ``i`` of this very patients file
  (:func:`beyond_averages.repartition.aligned_event_row_groups`), so a partition reads its own events row groups and
  no other, whatever the patient ids (pseudonymised ids are in no order);
- otherwise by **statistics**: the events row groups whose patient-id range meets the partition's. An extract written
  one row group per practice with ids ordered by practice (the synthetic one) then gives the same pairing; any other
  layout still gives the right counts, only more slowly (a partition may read every events row group).

Combining adds each partition's per-practice counts into the practices' sorted order and sums the age-band counts,
so the frames equal, byte for byte, those of :func:`~beyond_averages.measures.compute_measures` on the whole extract.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Area, Study
from ..repartition import aligned_event_row_groups
from .compute import N_BANDS, Counts, partition_counts
from .intervals import area_intervals
from .reading import load_patients, parquet_metadata

PARTITION_ROWS = 250_000  # patients per partition: about 60 MB of arrays, whatever the extract's size


@dataclass(frozen=True)
class Partition:
    """Row groups of ``patients.parquet`` and of the area's events file read together (``paired_by``: "layout"
    or "statistics", how the events row groups were found)."""

    patient_row_groups: tuple[int, ...]
    event_row_groups: tuple[int, ...]
    patients: int
    paired_by: str = "statistics"


def _ranges(path: Path, column: str) -> list[tuple[object, object] | None]:
    """Per row group, the (min, max) statistics of ``column`` (None where the file has none)."""
    meta = parquet_metadata(path)
    j = meta.schema.to_arrow_schema().get_field_index(column)
    out = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(j).statistics if j >= 0 else None
        out.append((stats.min, stats.max) if stats is not None and stats.has_min_max else None)
    return out


def plan_partitions(extract_dir: Path, area: Area, partition_rows: int = PARTITION_ROWS) -> list[Partition]:
    """Consecutive row groups of ``patients.parquet`` packed up to ``partition_rows`` patients, each with the event
    row groups that may hold its patients' events: its own, by position, in a repartitioned extract; otherwise those
    whose patient-id statistics meet its own (all of them where statistics are missing)."""
    extract_dir = Path(extract_dir)
    p_path, e_path = extract_dir / "patients.parquet", extract_dir / f"events_{area.name}.parquet"
    p_meta = parquet_metadata(p_path)
    groups: list[list[int]] = [[]]
    rows = [0]
    for i in range(p_meta.num_row_groups):
        n = p_meta.row_group(i).num_rows
        if groups[-1] and rows[-1] + n > partition_rows:
            groups.append([])
            rows.append(0)
        groups[-1].append(i)
        rows[-1] += n
    paired = aligned_event_row_groups(p_path, e_path) if e_path.exists() else None
    p_ranges = _ranges(p_path, "patient_id") if paired is None else []
    e_ranges = _ranges(e_path, "patient_id") if paired is None and e_path.exists() else []
    plan = []
    for group, n in zip(groups, rows):
        if paired is not None:
            plan.append(Partition(tuple(group), tuple(k for i in group for k in paired[i]), n, "layout"))
            continue
        plan.append(Partition(tuple(group), _meeting(e_ranges, [p_ranges[i] for i in group]), n))
    return plan


def _meeting(e_ranges: list, spans: list) -> tuple[int, ...]:
    """The events row groups whose patient-id range meets one of ``spans`` (every one with no statistics, and all of
    them when a span has none)."""
    def numeric(ranges):
        return all(r is not None and all(isinstance(v, int) for v in r) for r in ranges)

    if e_ranges and numeric(e_ranges) and numeric(spans):  # hundreds of row groups: compare them all at once
        e_lo, e_hi = np.array(e_ranges).T
        s_lo, s_hi = np.array(spans).reshape(-1, 2).T
        meets = ((e_lo[None, :] <= s_hi[:, None]) & (s_lo[:, None] <= e_hi[None, :])).any(axis=0)
        return tuple(np.flatnonzero(meets).tolist())
    return tuple(k for k, e in enumerate(e_ranges)
                 if e is None or any(s is None or (e[0] <= s[1] and s[0] <= e[1]) for s in spans))


def count_partition(extract_dir: Path, area: Area, study: Study, partition: Partition) -> Counts:
    """Count one partition: the per-practice and age-band denominators and numerators of its patients."""
    patients = load_patients(extract_dir, row_groups=partition.patient_row_groups)
    iv = area_intervals(area, study, extract_dir, patients, event_row_groups=partition.event_row_groups)
    den, num, age_den, age_num = partition_counts(patients, iv)
    return Counts(iv.first, patients.practice_ids, den, num, age_den, age_num)


def combine(counts: list[Counts], n_months: int, first: int) -> Counts:
    """Add the partitions' counts: per practice (a practice split between partitions is summed) and per age band."""
    ids = np.unique(np.concatenate([c.practice_ids.astype(str) for c in counts])) if counts else np.array([], str)
    den = np.zeros((len(ids), 5, n_months), dtype=np.int64)
    num = np.zeros_like(den)
    age_den = np.zeros((5, N_BANDS, n_months), dtype=np.int64)
    age_num = np.zeros_like(age_den)
    for c in counts:
        at = np.searchsorted(ids, c.practice_ids.astype(str))
        den[at] += c.den  # a partition's practices are distinct: no index repeats, so no need for np.add.at
        num[at] += c.num
        age_den += c.age_den
        age_num += c.age_num
    return Counts(first, ids, den, num, age_den, age_num)
