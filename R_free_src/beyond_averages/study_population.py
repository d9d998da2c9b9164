"""Describe the study population and the indicator by deprivation: the analysis behind the data chapter.

Every count here comes from patient records, so every function returns counts that have passed
:mod:`beyond_averages.disclosure` (redacted and rounded) and percentages computed from those released counts.
:func:`run_population_analysis` reads the inputs and computes everything the chapter shows, once
(:class:`PopulationAnalysis`); :mod:`beyond_averages.report.study_population` turns it into tables, figures and
sentences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from beyond_averages import labels, paths
from beyond_averages.config import Area, Study, load_area, load_study
from beyond_averages.disclosure import DisclosureRules, release_counts, release_split_counts, round_count
from beyond_averages.equity import equity_by_group, wilson_interval
from beyond_averages.equity.dimensions import Dimension, beyond_deprivation, dimension_for
from beyond_averages.equity.unordered import compare_groups
from beyond_averages.extract_check import check_extract, checked_extract
from beyond_averages.files import read_parquet
from beyond_averages.measures import (
    Patients,
    area_intervals,
    eligibility_intervals,
    load_patients,
    read_measures,
    register_onset,
)
from beyond_averages.measures.by_dimension import measures_by_dimension, read_patient_attributes
from beyond_averages.months import month_index_of, month_start
from beyond_averages.standardise import directly_standardise

AGE_GROUPS = ((0, 15, "0-15"), (16, 44, "16-44"), (45, 64, "45-64"), (65, 79, "65-79"), (80, 200, "80+"))
# Repetitions of the Monte Carlo SII interval at baseline (PHE's minimum is 1,000).
BASELINE_REPETITIONS = 2000


def population_table(area: Area, study: Study, extract_dir: Path, month: pd.Timestamp,
                     rules: DisclosureRules, patients: Patients | None = None) -> pd.DataFrame:
    """'Table 1': patients registered at the end of ``month`` by IMD quintile, released counts and column %.

    Rows: registered patients, the indicator's eligible population, sex, age group and ethnicity. Columns: one per
    quintile, IMD unknown, all patients; each as ``n`` and ``percent`` (of the registered patients in that column).
    """
    patients = patients or load_patients(extract_dir)
    m = month_index_of(month)
    registered = (patients.reg_start <= m) & (patients.reg_end > m) & (patients.death > m)
    onset = register_onset(extract_dir, area, patients)
    lo, hi = eligibility_intervals(area, patients, m, m, onset)
    eligible = registered & (lo <= m) & (hi > m)
    age = (m - patients.birth) // 12
    table = read_parquet(Path(extract_dir) / "patients.parquet", columns=["ethnicity"])
    ethnicity = table["ethnicity"].fillna("Not recorded").astype(str).to_numpy()

    rows: list[tuple[str, str, np.ndarray]] = [
        ("Registered patients", "", registered),
        (f"Eligible: {area.indicator_label}", "", eligible),
        ("Sex", "Female", registered & patients.female),
        ("Sex", "Male", registered & ~patients.female),
    ]
    for lo_a, hi_a, label in AGE_GROUPS:
        rows.append(("Age (years)", label, registered & (age >= lo_a) & (age <= hi_a)))
    for group in sorted(set(ethnicity)):
        rows.append(("Ethnicity", group, registered & (ethnicity == group)))

    columns = {labels.QUINTILES[q]: patients.quintile == q for q in range(1, 6)}
    columns["IMD unknown"] = patients.quintile == 0
    columns["All patients"] = np.ones(len(patients.quintile), bool)
    records = []
    for characteristic, level, mask in rows:
        for col, in_col in columns.items():
            records.append({"characteristic": characteristic, "level": level, "column": col,
                            "count": int(np.count_nonzero(mask & in_col)),
                            "base": int(np.count_nonzero(registered & in_col))})
    long = pd.DataFrame(records)
    released = release_counts(long, pairs=[("count", "base")], rules=rules, rate_column="percent")
    # The first row is the base itself: released alone (its complement is zero by definition, not a small group).
    is_base = long["characteristic"] == "Registered patients"
    released.loc[is_base, "count"] = round_count(long.loc[is_base, "count"], rules)
    released.loc[is_base, "percent"] = np.nan
    return released


def indicator_by_quintile(measures: pd.DataFrame, rules: DisclosureRules,
                          practices: list[str] | None = None) -> pd.DataFrame:
    """Monthly numerator/denominator by IMD quintile and overall (quintile 0 = all), released, with rate (%)."""
    m = measures if practices is None else measures[measures["practice_id"].isin(practices)]
    by_q = m.groupby(["month", "imd_quintile"], as_index=False)[["numerator", "denominator"]].sum()
    overall = m.groupby("month", as_index=False)[["numerator", "denominator"]].sum().assign(imd_quintile=0)
    out = pd.concat([by_q, overall], ignore_index=True).sort_values(["imd_quintile", "month"], kind="stable")
    return release_counts(out.reset_index(drop=True), rules=rules, rate_column="rate")


@dataclass(frozen=True)
class BaselineInequality:
    """The indicator by quintile in the month before the programme, and its inequality."""

    month: pd.Timestamp
    rates: pd.DataFrame       # imd_quintile, numerator, denominator (released), rate, ci_lower, ci_upper
    equity: pd.DataFrame      # measure, estimate, ci_lower, ci_upper (gap, ratio in pp / ratio; SII, RII)
    repetitions: int          # Monte Carlo draws of the SII and RII intervals


def baseline_inequality(released: pd.DataFrame, month: pd.Timestamp, seed: int = 20170101) -> BaselineInequality:
    """Rates with Wilson CIs and the gap, ratio, SII and RII at ``month``, from released counts."""
    at = released[(released["month"] == pd.Timestamp(month)) & (released["imd_quintile"] > 0)].copy()
    lo, hi = wilson_interval(at["numerator"].to_numpy(float), at["denominator"].to_numpy(float))
    at["ci_lower"], at["ci_upper"] = 100 * lo, 100 * hi
    eq = equity_by_group(at, by=(), simulate=True, repetitions=BASELINE_REPETITIONS, seed=seed)
    return BaselineInequality(month=pd.Timestamp(month), rates=at[["imd_quintile", "numerator", "denominator",
                                                                   "rate", "ci_lower", "ci_upper"]], equity=eq,
                              repetitions=BASELINE_REPETITIONS)


@dataclass(frozen=True)
class BeyondDeprivation:
    """The indicator by a second equity dimension (ethnic group by default) and by its intersection with IMD
    quintile, in one month, pooled over practices; every count released with complementary suppression.

    ``groups``: one row per group (the not-recorded group included, so the groups add up to ``total``) with
    released ``numerator, denominator``, ``rate`` and Wilson limits, and the difference and ratio against the
    reference group (:func:`beyond_averages.equity.unordered.compare_groups`); ``total``: all eligible patients
    (released); ``summary``: between-group variance and index of disparity over the recorded groups; ``cells``: one
    row per IMD quintile x group cell (unknown quintile and not-recorded group included), ``quintile`` and ``member``
    codes, released counts and rate."""

    month: pd.Timestamp
    dimension: Dimension
    cells_dimension: Dimension
    groups: pd.DataFrame
    total: pd.Series
    summary: pd.DataFrame
    cells: pd.DataFrame


def inequality_beyond_deprivation(area: Area, study: Study, extract_dir: Path, month: pd.Timestamp,
                                  rules: DisclosureRules, patients: Patients | None = None,
                                  dimension: Dimension | None = None) -> BeyondDeprivation:
    """The indicator at the end of ``month`` by the second dimension of :func:`~beyond_averages.equity.dimensions.
    beyond_deprivation` (of ``dimension``, default the study's or the area's ``equity_dimension``) and by IMD quintile
    x that dimension. Each split (the groups of the dimension; each row and each column of the cross-table, which add
    up to the group and quintile totals shown elsewhere) is released with complementary suppression
    (:func:`beyond_averages.disclosure.release_split_counts`), and every rate and comparison uses released counts."""
    second, cells_dimension = beyond_deprivation(dimension or dimension_for(study, area))
    patients = patients or load_patients(extract_dir)
    day = pd.Timestamp(month).date()
    one_month = study.model_copy(update={"study_start": day, "study_end": day})
    intervals = area_intervals(area, one_month, extract_dir, patients)
    text = read_patient_attributes(extract_dir, patients)

    def pooled(dim: Dimension) -> pd.DataFrame:
        frame = measures_by_dimension(area, dim, extract_dir, one_month, patients, intervals, include_unknown=True,
                                      attributes=text)
        out = frame.groupby("group", observed=False)[["numerator", "denominator"]].sum().reset_index()
        out["group"] = out["group"].astype(str)
        return out

    raw_groups = pooled(second)
    groups = release_split_counts(raw_groups, splits=[()], rules=rules)
    groups.insert(1, "label", [second.label(c) for c in groups["group"]])
    groups, summary = compare_groups(groups.drop(columns="rate"), second)
    total = release_counts(raw_groups[["numerator", "denominator"]].sum().to_frame().T, rules=rules).iloc[0]
    raw_cells = pooled(cells_dimension)
    parts = [cells_dimension.split_code(c) for c in raw_cells["group"]]
    raw_cells.insert(1, "quintile", [p[0] for p in parts])
    raw_cells.insert(2, "member", [p[1] for p in parts])
    cells = release_split_counts(raw_cells, splits=[("quintile",), ("member",)], rules=rules)
    return BeyondDeprivation(month=pd.Timestamp(month), dimension=second, cells_dimension=cells_dimension,
                             groups=groups, total=total, summary=summary, cells=cells)


def standardised_by_quintile(by_age: pd.DataFrame, rules: DisclosureRules) -> pd.DataFrame:
    """Crude and ESP2013 directly age-standardised rate (%) by quintile and month.

    Rates are computed from the unrounded band counts (rounding each small age band would distort them), then
    released only where the group's total numerator and denominator pass disclosure control; the totals shown are
    the released ones.
    """
    std = directly_standardise(by_age, by=["month", "imd_quintile"])
    released = release_counts(std, rules=rules, rate_column=None)
    hidden = released["numerator"].isna() | released["denominator"].isna()
    released.loc[hidden, ["crude_rate", "std_rate", "ci_lower", "ci_upper"]] = np.nan
    return released


def programme_months(programme: pd.DataFrame) -> list[pd.Timestamp]:
    """The adoption waves: the distinct programme start months, in order."""
    return sorted(pd.to_datetime(programme["programme_start"]).unique())


def baseline_month(programme: pd.DataFrame) -> pd.Timestamp:
    """The last month before the first adoption wave."""
    first = min(programme_months(programme))
    return month_start([month_index_of(first) - 1])[0]


@dataclass(frozen=True)
class PopulationInputs:
    """What the data chapter reads: configuration, the extract's programme table and the area's measures."""

    area: Area
    study: Study
    extract_dir: Path
    measures: pd.DataFrame
    by_age: pd.DataFrame
    programme: pd.DataFrame
    extract_check: dict | None = None  # what `measures` found checking the extract (None: no report beside them)

    @property
    def rules(self) -> DisclosureRules:
        return self.study.disclosure_rules


def read_extract_check(measures_file: Path) -> dict | None:
    """The data-contract report `measures` writes beside the measures (``<area>_extract_check.json``: rows read,
    kept and dropped per file and rule; see :mod:`beyond_averages.extract_check`), or None if there is none."""
    path = measures_file.with_name(f"{measures_file.stem}_extract_check.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def load_population_inputs(area: str, measures_path: str | None = None, programme_path: str | None = None,
                           extract_dir: str | None = None, study_config: str | None = None) -> PopulationInputs:
    """Load everything the chapter on ``area`` needs.

    ``None`` falls back to the defaults: ``outputs/measures/<area>.parquet`` (its age-band table sits beside it as
    ``<area>_by_age.parquet``), ``programme_<area>.parquet`` and the patients in the extract of ``study.yaml``.
    Relative paths are taken from the repository root.
    """
    study = load_study(study_config)
    area_cfg = load_area(area)
    extract = paths.resolve(extract_dir) if extract_dir else study.resolved_extract_dir()
    measures_file = (paths.resolve(measures_path) if measures_path
                     else paths.MEASURES_DIR / f"{area_cfg.name}.parquet")
    programme_file = paths.resolve(programme_path) if programme_path else extract / f"programme_{area_cfg.name}.parquet"
    return PopulationInputs(
        area=area_cfg, study=study, extract_dir=extract,
        measures=read_measures(measures_file),
        by_age=read_parquet(measures_file.with_name(f"{measures_file.stem}_by_age.parquet")),
        programme=read_parquet(programme_file),
        extract_check=read_extract_check(measures_file),
    )


@dataclass(frozen=True)
class PopulationAnalysis:
    """Everything the study-population chapter shows, computed once from released counts.

    ``released``: the indicator by quintile and overall per month (:func:`indicator_by_quintile`); ``baseline``:
    rates and inequality in the month before the first wave (:func:`baseline_inequality`); ``standardised``: crude
    and age-standardised rates (:func:`standardised_by_quintile`); ``population``: 'Table 1' in the baseline month
    (:func:`population_table`); ``waves``: the programme's start months.
    """

    inputs: PopulationInputs
    released: pd.DataFrame
    baseline: BaselineInequality
    standardised: pd.DataFrame
    population: pd.DataFrame
    waves: list[pd.Timestamp]
    beyond: BeyondDeprivation | None = None  # the indicator by ethnic group (or the study's second dimension)

    @property
    def area(self) -> Area:
        return self.inputs.area

    @property
    def study(self) -> Study:
        return self.inputs.study

    @property
    def rules(self) -> DisclosureRules:
        return self.inputs.rules


def _from_checked_rows(inputs: PopulationInputs, month: pd.Timestamp) -> tuple[pd.DataFrame, BeyondDeprivation]:
    """Table 1 and the indicator beyond deprivation from the rows the measures used: when the measures step dropped
    rows that broke the extract's contract (``--lenient``), the same rules drop them here, so the tables and the
    indicator describe one population."""

    def tables(folder: Path):
        patients = load_patients(folder)
        return (population_table(inputs.area, inputs.study, folder, month, inputs.rules, patients),
                inequality_beyond_deprivation(inputs.area, inputs.study, folder, month, inputs.rules, patients))

    dropped = inputs.extract_check and any(f["dropped"] for f in inputs.extract_check["files"].values())
    if not dropped:
        return tables(inputs.extract_dir)
    report = check_extract(inputs.extract_dir, inputs.area.name, inputs.study, lenient=True)
    with checked_extract(report) as folder:
        return tables(folder)


def run_population_analysis(area: str, measures_path: str | None = None, programme_path: str | None = None,
                            extract_dir: str | None = None, study_config: str | None = None) -> PopulationAnalysis:
    """Read the inputs of ``area`` (:func:`load_population_inputs`, same arguments and defaults) and compute every
    table of the chapter, each from counts released under the disclosure rules of ``study.yaml``."""
    inputs = load_population_inputs(area, measures_path, programme_path, extract_dir, study_config)
    released = indicator_by_quintile(inputs.measures, inputs.rules)
    baseline = baseline_inequality(released, baseline_month(inputs.programme))
    standardised = standardised_by_quintile(inputs.by_age, inputs.rules)
    population, beyond = _from_checked_rows(inputs, baseline.month)
    return PopulationAnalysis(inputs=inputs, released=released, baseline=baseline, standardised=standardised,
                              population=population, waves=programme_months(inputs.programme), beyond=beyond)
