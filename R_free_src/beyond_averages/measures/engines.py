"""Running the per-partition count on an engine: this machine's cores (``local``), Dask or Spark.

Every engine runs the same kernel (:func:`~beyond_averages.measures.partitions.count_partition`) on the same
partitions and the counts are combined the same way, so every engine gives the same frames, byte for byte. The
workers read the extract themselves: on a cluster it must sit where every worker can read it (a shared or object
file system), which is how a trusted research environment's engine sees its data anyway.

- ``local``: a process pool of ``jobs`` workers (``jobs=1``: this process).
- ``dask``: a Dask bag of the partitions, ``map_partitions`` of the kernel. With ``DASK_SCHEDULER_ADDRESS`` set it
  runs on that cluster (``dask.distributed``), otherwise on ``jobs`` local processes.
- ``spark``: Spark reads the extract, groups the patients by practice with their events and runs the kernel on
  each practice in ``applyInPandas`` (:mod:`beyond_averages.measures.spark_engine`), on the active Spark session (a
  cluster's, e.g. Databricks') or a ``local[jobs]`` one. It plans no row-group partitions: Spark partitions the data.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ..config import Area, Study, load_study
from ..files import InputError
from ..months import month_index_of
from ..parallel import default_jobs, ordered_map
from .compute import Counts, by_age_frame, measures_frame
from .partitions import (
    PARTITION_ROWS,
    Partition,
    combine,
    count_partition,
    plan_partitions,
)

ENGINES = ("local", "dask", "spark")


def _count_all(kernel, partitions: list[Partition]) -> list[Counts]:
    return [kernel(p) for p in partitions]


def _local(kernel, plan: list[Partition], jobs: int, progress: bool) -> list[Counts]:
    results = ordered_map(kernel, plan, jobs)
    return list(tqdm(results, total=len(plan), desc="measures", unit="partition", disable=not progress))


def _dask(kernel, plan: list[Partition], jobs: int, progress: bool) -> list[Counts]:
    try:
        import dask.bag as db
    except ImportError:
        raise InputError("--engine dask: the dask package is not installed (pip install dask)") from None
    bag = db.from_sequence(plan, npartitions=len(plan)).map_partitions(partial(_count_all, kernel))
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        from distributed import (
            Client,  # a cluster: `pip install distributed` on the client and the workers
        )

        with Client(address):
            return list(bag.compute())
    import dask

    # Forked workers, as the local engine's: spawned ones would re-run a caller's script that has no main guard.
    with dask.config.set({"multiprocessing.context": "fork"}):
        return list(bag.compute(scheduler="sync" if jobs <= 1 else "processes", num_workers=max(jobs, 1)))


RUNNERS = {"local": _local, "dask": _dask}


def compute_partitioned(area: Area, extract_dir: Path | None = None, study: Study | None = None, *,
                        jobs: int | None = None, engine: str = "local", partition_rows: int = PARTITION_ROWS,
                        progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The measures table and the age-band table, counted practice partition by partition on ``engine``.

    Equal, byte for byte, to :func:`~beyond_averages.measures.compute_measures` and
    :func:`~beyond_averages.measures.compute_measures_by_age` on the same extract, whatever ``jobs``, ``engine`` and
    ``partition_rows``. The extract's data contract is not checked here (``extract_check.check_extract`` does it).
    """
    if engine not in ENGINES:
        raise InputError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    study = study or load_study()
    extract_dir = Path(extract_dir) if extract_dir else study.resolved_extract_dir()
    if not (extract_dir / "patients.parquet").exists():
        raise InputError(f"{extract_dir / 'patients.parquet'}: file not found (run `make data`, or set extract_dir "
                         "in study.yaml to a real extract)")
    jobs = default_jobs() if jobs is None else jobs
    first = month_index_of(study.study_start)
    n_months = month_index_of(study.study_end) - first + 1
    if engine == "spark":  # Spark partitions the data itself: by practice, ``partition_rows`` does not apply
        from .spark_engine import spark_counts

        counts = [spark_counts(extract_dir, area, study, jobs, n_months, first)]
    else:
        plan = plan_partitions(extract_dir, area, partition_rows)
        counts = RUNNERS[engine](partial(count_partition, extract_dir, area, study), plan, jobs, progress)
    total = combine(counts, n_months, first)
    return (measures_frame(area.name, total.practice_ids, total.den, total.num, first),
            by_age_frame(area.name, total.age_den, total.age_num, first))
