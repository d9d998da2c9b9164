"""An independent patient-month implementation of the measures in DuckDB SQL, the way a SQL measures engine works.

Written from the rules in the docstring of :mod:`beyond_averages.measures` only (not from its code), as a user of a
SQL engine would write them: every patient is expanded to one row per study month in which they count in the
denominator, and the look-back is an as-of join to their latest indicator code on or before that month. Status is
at the end of month m: ``registration_start <= end of m < registration_end``, alive at the end of m (``death_date``
after it), completed age in months (from the month of birth) within the area's band, for register areas a diagnosis
code dated in or before m; numerator: an indicator code (with ``value <= value_max`` where set) dated in one of the
``lookback`` months up to and including m, or ever. Patients with no IMD decile are left out; quintile =
ceil(decile / 2). For a sex-specific area "male" means every patient not recorded female (as the measures count).

Used by ``bench/run_bench.py`` (timing and a cell-by-cell cross-check) and ``tests/test_peer_duckdb.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from beyond_averages.config import Area, Study
from beyond_averages.months import month_index_of

NEVER = 10**9


def _month(column: str) -> str:
    return f"(year({column}) * 12 + month({column}) - 1)"


def _codes(area: Area, codelist: str) -> str:
    return ", ".join("'" + c.replace("'", "''") + "'" for c in area.codes(codelist))


def measures_sql(area: Area, study: Study, extract_dir: Path) -> str:
    """The SQL query giving practice_id, imd_quintile, month index, numerator and denominator, every cell."""
    first, last = month_index_of(study.study_start), month_index_of(study.study_end)
    patients = str(Path(extract_dir) / "patients.parquet").replace("'", "''")
    events = str(Path(extract_dir) / f"events_{area.name}.parquet").replace("'", "''")
    elig, ind = area.eligibility, area.indicator
    conditions = ["p.rs <= m.m", "m.m < p.re", "m.m < p.d", f"m.m - p.b >= {elig.min_age_months}"]
    if elig.max_age_months is not None:
        conditions.append(f"m.m - p.b <= {elig.max_age_months}")
    if elig.sex == "female":
        conditions.append("p.sex = 'female'")
    elif elig.sex == "male":
        conditions.append("p.sex <> 'female'")
    onset_cte, onset_join = "", ""
    if elig.on_register:
        onset_cte = (f", onset AS (SELECT patient_id, min({_month('event_date')}) AS o FROM read_parquet('{events}') "
                     f"WHERE code IN ({_codes(area, elig.on_register)}) GROUP BY patient_id)")
        onset_join = "JOIN onset o ON o.patient_id = p.patient_id AND o.o <= m.m"
    value = f" AND value <= {ind.value_max}" if ind.value_max is not None else ""
    covered = "e.em IS NOT NULL" if ind.lookback_months is None else \
        f"e.em IS NOT NULL AND e.em >= pm.m - {ind.lookback_months - 1}"
    return f"""
WITH months AS (SELECT range AS m FROM range({first}, {last + 1})),
p AS (
  SELECT patient_id, practice_id, sex, CAST(ceil(imd_decile / 2.0) AS INTEGER) AS q,
         {_month('birth_date')} AS b, {_month('registration_start')} AS rs,
         coalesce({_month('registration_end')}, {NEVER}) AS re, coalesce({_month('death_date')}, {NEVER}) AS d
  FROM read_parquet('{patients}') WHERE imd_decile IS NOT NULL
){onset_cte},
pm AS (
  SELECT p.patient_id, p.practice_id, p.q, m.m FROM p JOIN months m ON {' AND '.join(conditions)} {onset_join}
),
ev AS (
  SELECT patient_id, {_month('event_date')} AS em FROM read_parquet('{events}')
  WHERE code IN ({_codes(area, ind.codelist)}){value}
),
counted AS (
  SELECT pm.practice_id, pm.q, pm.m, count(*) AS denominator, count(*) FILTER (WHERE {covered}) AS numerator
  FROM pm ASOF LEFT JOIN ev e ON pm.patient_id = e.patient_id AND e.em <= pm.m
  GROUP BY ALL
),
grid AS (
  SELECT pr.practice_id, q.q, months.m FROM (SELECT DISTINCT practice_id FROM read_parquet('{patients}')) pr
  CROSS JOIN range(1, 6) q(q) CROSS JOIN months
)
SELECT g.practice_id, g.q AS imd_quintile, g.m AS month_index,
       coalesce(c.numerator, 0) AS numerator, coalesce(c.denominator, 0) AS denominator
FROM grid g LEFT JOIN counted c ON c.practice_id = g.practice_id AND c.q = g.q AND c.m = g.m
ORDER BY g.practice_id, g.q, g.m
"""


def duckdb_measures(area: Area, study: Study, extract_dir: Path, threads: int = 2,
                    memory_limit: str | None = None) -> pd.DataFrame:
    """Run :func:`measures_sql` in an in-memory DuckDB with ``threads`` threads (and ``memory_limit``, e.g. "8GB",
    past which DuckDB spills to its temporary directory; default: DuckDB's, 80% of RAM)."""
    import duckdb

    con = duckdb.connect(config={"threads": threads, **({"memory_limit": memory_limit} if memory_limit else {})})
    try:
        return con.execute(measures_sql(area, study, extract_dir)).df()
    finally:
        con.close()


def compare(project: pd.DataFrame, peer: pd.DataFrame) -> dict:
    """Cell-by-cell agreement of the project's measures table and the peer's: counts of cells and of mismatches."""
    p = project.assign(month_index=project["month"].dt.year * 12 + project["month"].dt.month - 1)
    joined = p.merge(peer, on=["practice_id", "imd_quintile", "month_index"], how="outer", suffixes=("", "_peer"),
                     indicator=True)
    both = joined["_merge"] == "both"
    return {"cells": int(len(joined)), "only_one_side": int((~both).sum()),
            "numerator_mismatches": int((joined.loc[both, "numerator"] != joined.loc[both, "numerator_peer"]).sum()),
            "denominator_mismatches": int((joined.loc[both, "denominator"]
                                           != joined.loc[both, "denominator_peer"]).sum())}
