"""Describe the cohort and the indicator by deprivation: the tables behind the data chapter.

Every count here comes from patient records, so every function returns counts that have passed
:mod:`beyond_averages.disclosure` (redacted and rounded) and percentages computed from those released counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import equity
from .config import Area, Study
from .deprivation import QUINTILE_LABELS
from .disclosure import DisclosureRules, release_counts, round_count
from .files import read_parquet
from .measures import Patients, eligibility_intervals, load_patients, register_onset
from .months import month_index_of, month_start
from .standardise import directly_standardise

AGE_GROUPS = ((0, 15, "0-15"), (16, 44, "16-44"), (45, 64, "45-64"), (65, 79, "65-79"), (80, 200, "80+"))


def _quintile_columns() -> list[str]:
    return [QUINTILE_LABELS[q] for q in range(1, 6)] + ["IMD unknown", "All patients"]


def cohort_table(area: Area, study: Study, extract_dir: Path, month: pd.Timestamp,
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

    columns = {QUINTILE_LABELS[q]: patients.quintile == q for q in range(1, 6)}
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
    month: pd.Timestamp
    rates: pd.DataFrame       # imd_quintile, numerator, denominator (released), rate, ci_lower, ci_upper
    equity: pd.DataFrame      # measure, estimate, ci_lower, ci_upper (gap, ratio in pp / ratio; SII, RII)

    def sentence(self, area: Area) -> str:
        r = self.rates.set_index("imd_quintile")
        e = self.equity.set_index("measure")
        gap, sii = e.loc["gap"], e.loc["sii"]
        direction = "lower" if gap["estimate"] > 0 else "higher"
        return (
            f"In {self.month:%B %Y}, before the programme began, {r.loc[1, 'rate']:.1f}% of eligible patients in "
            f"the most deprived quintile ({area.short_label}) against {r.loc[5, 'rate']:.1f}% in the least deprived: "
            f"coverage was {abs(gap['estimate']):.1f} percentage points {direction} among the most deprived "
            f"(95% CI {gap['ci_lower']:.1f} to {gap['ci_upper']:.1f}), a ratio of {e.loc['ratio', 'estimate']:.3f}. "
            f"Across the whole deprivation gradient the slope index of inequality was {sii['estimate']:.1f} "
            f"percentage points (95% CI {sii['ci_lower']:.1f} to {sii['ci_upper']:.1f}); a positive value means "
            "coverage rises from the most to the least deprived."
        )


def baseline_inequality(released: pd.DataFrame, month: pd.Timestamp, seed: int = 20170101) -> BaselineInequality:
    """Rates with Wilson CIs and the gap, ratio, SII and RII at ``month``, from released counts."""
    at = released[(released["month"] == pd.Timestamp(month)) & (released["imd_quintile"] > 0)].copy()
    lo, hi = equity.wilson_interval(at["numerator"].to_numpy(float), at["denominator"].to_numpy(float))
    at["ci_lower"], at["ci_upper"] = 100 * lo, 100 * hi
    eq = equity.equity_by_group(at, by=(), simulate=True, repetitions=2000, seed=seed)
    return BaselineInequality(month=pd.Timestamp(month), rates=at[["imd_quintile", "numerator", "denominator",
                                                                   "rate", "ci_lower", "ci_upper"]], equity=eq)


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
    return sorted(pd.to_datetime(programme["programme_start"]).unique())


def baseline_month(programme: pd.DataFrame) -> pd.Timestamp:
    """The last month before the first adoption wave."""
    first = min(programme_months(programme))
    return month_start([month_index_of(first) - 1])[0]


@dataclass(frozen=True)
class ChapterInputs:
    """What the data chapter reads: configuration, the extract's programme table and the area's measures."""

    area: Area
    study: Study
    extract_dir: Path
    measures: pd.DataFrame
    by_age: pd.DataFrame
    programme: pd.DataFrame

    @property
    def rules(self) -> DisclosureRules:
        return self.study.disclosure_rules


def load_chapter_inputs(area: str, measures_path: str | None = None, programme_path: str | None = None,
                        extract_dir: str | None = None, study_config: str | None = None) -> ChapterInputs:
    """Load everything a chapter on ``area`` needs.

    ``None`` falls back to the defaults: ``outputs/measures/<area>.parquet`` (its age-band table sits beside it as
    ``<area>_by_age.parquet``), ``programme_<area>.parquet`` and the patients in the extract of ``study.yaml``.
    Relative paths are taken from the repository root.
    """
    from . import paths
    from .config import load_area, load_study

    def rooted(p):
        return Path(p) if Path(p).is_absolute() else paths.ROOT / p

    study = load_study(study_config)
    area_cfg = load_area(area)
    extract = rooted(extract_dir) if extract_dir else study.resolved_extract_dir()
    measures_file = rooted(measures_path) if measures_path else paths.MEASURES_DIR / f"{area_cfg.name}.parquet"
    programme_file = rooted(programme_path) if programme_path else extract / f"programme_{area_cfg.name}.parquet"
    return ChapterInputs(
        area=area_cfg, study=study, extract_dir=extract,
        measures=read_parquet(measures_file),
        by_age=read_parquet(measures_file.with_name(f"{measures_file.stem}_by_age.parquet")),
        programme=read_parquet(programme_file),
    )


def methods_text(inputs: ChapterInputs) -> str:
    """The chapter's methods paragraph, with the study's own numbers."""
    a, s = inputs.area, inputs.study
    n_practices = inputs.measures["practice_id"].nunique()
    lookback = (f"in the {a.indicator.lookback_months} months up to and including the month"
                if a.indicator.lookback_months else "at any time before the month's end")
    rules = inputs.rules
    waves = programme_months(inputs.programme)
    return (
        f"**Indicator.** {a.indicator_label}: for each month from {pd.Timestamp(s.study_start):%B %Y} to "
        f"{pd.Timestamp(s.study_end):%B %Y}, the denominator is every patient registered at one of the "
        f"{n_practices} practices, alive and eligible on the month's last day; the numerator those with a code from "
        f"the codelist *{a.codelists[a.indicator.codelist].description.lower()}* recorded {lookback}. "
        "Deprivation is the national quintile of the Index of Multiple Deprivation 2019 of the patient's small area "
        "of residence (quintile 1 most deprived), so each practice's list is split by its own patients' deprivation. "
        f"**Programme.** {len(inputs.programme)} practices adopted the quality-improvement programme in "
        f"{len(waves)} waves ({', '.join(f'{w:%B %Y}' for w in waves)}); the others form the comparison group. "
        "**Inequality.** The absolute gap (least minus most deprived quintile, Newcombe 95% confidence interval), "
        "the ratio, and the slope and relative indices of inequality (SII, RII) computed as Public Health "
        "England's Fingertips tools do, with Monte Carlo confidence intervals. Age-standardised rates use the 2013 "
        "European Standard Population. **Disclosure control.** Every count shown was redacted at or below "
        f"{rules.redact_at_or_below} and rounded to the nearest {rules.round_to}; percentages are computed from the "
        "rounded counts."
    )
