"""Patient-level extract -> monthly numerator and denominator per practice x IMD quintile.

Interval arithmetic, never patient-month expansion: each patient contributes one eligibility interval of months
``[lo, hi)`` (registered, alive, in the age band, on the register if the area needs one) and a few coverage
intervals (each coded event covers its own month and the ``lookback - 1`` months after it; overlapping ones are
merged). Denominators count eligibility intervals, numerators their intersection with coverage, both accumulated
into per-group difference arrays and summed cumulatively over months.

Semantics (tested on hand-built patients in ``tests/test_measures.py``): status is taken at the end of each month.
A patient counts in month m if ``registration_start <= end of m < registration_end`` (an end date in month m means
not registered at its end), is alive at the end of m, has completed age (counted from the month of birth) within
the band, and, for register areas, has a diagnosis code dated in or before m. The numerator needs an indicator code
dated in one of the ``lookback`` months up to and including m (any time, for an "ever" indicator). Records dated
before registration count, as transferred records do. Patients with no IMD (no usable address) are left out of the
quintile rows and counted in the study population's table (:mod:`beyond_averages.study_population`).

Practices are independent for every measure, so the extract is counted in practice partitions
(:func:`compute_partitioned`, on this machine's cores, Dask or Spark), which bounds memory by the largest partition
and gives the same tables, byte for byte, as the whole-extract :func:`compute_measures`.

Modules: ``reading`` (patients and events into month arrays), ``intervals`` (eligibility and coverage intervals),
``compute`` (counts and frames), ``partitions`` (plan, count, combine), ``engines`` (local, Dask, Spark), ``table``
(the measures table's schema and checks).
"""

from .compute import compute_measures, compute_measures_by_age
from .engines import ENGINES, compute_partitioned
from .intervals import area_intervals, eligibility_intervals, register_onset
from .partitions import plan_partitions
from .reading import Patients, load_patients
from .table import (
           MEASURE_COLUMNS,
           MEASURE_KEYS,
           attach_programme,
           check_measures,
           read_measures,
)

__all__ = ["ENGINES", "MEASURE_COLUMNS", "MEASURE_KEYS", "Patients", "area_intervals", "attach_programme",
           "check_measures", "compute_measures", "compute_measures_by_age", "compute_partitioned",
           "eligibility_intervals", "load_patients", "plan_partitions", "read_measures", "register_onset"]
