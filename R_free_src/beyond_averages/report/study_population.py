"""Tables, figures and sentences of the data chapter (the study population and the indicator by deprivation),
each drawn from a :class:`beyond_averages.study_population.PopulationAnalysis`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from beyond_averages import labels
from beyond_averages.disclosure import round_count
from beyond_averages.report.tables import (
    disclosure_clause,
    format_ci,
    format_count,
    format_estimate_ci,
    format_percent,
    format_pp,
    format_ratio,
    html_table,
)

# The baseline table's inequality measures: percentage-point measures at 2 decimals, ratios and indices at 2.
_PP_MEASURES = frozenset({"gap", "sii"})
from beyond_averages.style import (
    OVERALL_COLOUR,
    PAGE_WIDTH_IN,
    QUINTILE_COLOURS,
    figure_style,
    finish,
)


def methods_text(analysis) -> str:
    """The chapter's methods paragraph, with the study's own numbers."""
    inputs = analysis.inputs
    a, s = inputs.area, inputs.study
    n_practices = inputs.measures["practice_id"].nunique()
    lookback = (f"in the {a.indicator.lookback_months} months up to and including the month"
                if a.indicator.lookback_months else "at any time before the month's end")
    waves = analysis.waves
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
        "European Standard Population. **Disclosure control.** " + disclosure_sentence(analysis)
        + "; percentages are computed from the rounded counts." + extract_check_sentence(analysis)
    )


def extract_check_sentence(analysis) -> str:
    """' **Data checks.** ...': what the extract check before the measures found ('' without its report); the
    counts of dropped records are released like every count from records."""
    check = analysis.inputs.extract_check
    if check is None:
        return ""
    dropped = {name: f["dropped"] for name, f in check["files"].items()}
    if not any(dropped.values()):
        return (" **Data checks.** The extract passed every check of its data contract (column types, unique "
                "keys, and dates at day level) before the measures were computed.")
    patients = dropped.get("patients.parquet", 0)
    events = sum(n for name, n in dropped.items() if name.startswith("events_"))
    released = round_count([patients, events], analysis.rules)
    return (f" **Data checks.** {format_count(released[0])} patient records and {format_count(released[1])} "
            "event records that broke the extract's data contract (column types, unique keys, and dates at day "
            "level) were left out before the measures were computed; a patient left out takes their events along.")


def disclosure_sentence(analysis) -> str:
    """The disclosure rule of ``study.yaml`` as a clause (no full stop)."""
    rules = analysis.rules
    return f"Every count shown passed disclosure control: {disclosure_clause(rules)}"


def population_note(analysis) -> str:
    """The note under the population table: the disclosure rule of ``study.yaml``."""
    return f"{disclosure_sentence(analysis)}; percentages are computed from the rounded counts."


def population_table_display(analysis):
    """Wide 'Table 1': one column per quintile, cells 'n (%)'."""
    df = analysis.population.copy()

    def cell(row):
        n = format_count(row["count"])
        if pd.isna(row["percent"]) or pd.isna(row["count"]):
            return n
        return f"{n} ({format_percent(row['percent'])})"

    df["cell"] = df.apply(cell, axis=1)
    order = list(dict.fromkeys(df["column"]))
    wide = df.pivot_table(index=["characteristic", "level"], columns="column", values="cell", aggfunc="first",
                          sort=False)[order].reset_index()
    wide = wide.rename(columns={"characteristic": "Characteristic", "level": ""})
    wide.loc[wide["Characteristic"].duplicated(), "Characteristic"] = ""
    return html_table(wide)


def indicator_trend_figure(analysis, *, title: str | None = None):
    """Monthly indicator (%) by IMD quintile and overall, with the COVID-19 start and programme waves marked."""
    released, covid_start = analysis.released, analysis.study.covid_start
    with figure_style():
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.2))
        for q in range(1, 6):
            d = released[released["imd_quintile"] == q]
            ax.plot(d["month"], d["rate"], color=QUINTILE_COLOURS[q], lw=1.6, label=labels.QUINTILES[q])
        d = released[released["imd_quintile"] == 0]
        ax.plot(d["month"], d["rate"], color=OVERALL_COLOUR, lw=1.2, ls="--", label="All patients")
        if covid_start is not None:
            ax.axvline(pd.Timestamp(covid_start), color="grey", lw=0.8, ls=":", label="COVID-19 disruption")
        for i, start in enumerate(analysis.waves):
            ax.axvline(pd.Timestamp(start), color="#b2182b", lw=0.8, ls="-.", alpha=0.7,
                       label="Programme waves start" if i == 0 else None)
        ax.set_ylabel(f"{analysis.area.short_label} (%)")
        if title:
            ax.set_title(title)
        # The legend sits below the axes so it never hides a series.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=4, frameon=False)
    return finish(fig), ax


def baseline_table(analysis):
    """Rates by quintile, then the gap, ratio, SII and RII, as 'estimate (95% CI)'."""
    baseline = analysis.baseline
    rows = []
    for _, r in baseline.rates.iterrows():
        rows.append({"Group or measure": labels.QUINTILES[int(r["imd_quintile"])],
                     "Eligible (released)": format_count(r["denominator"]),
                     "Estimate (95% CI)": format_estimate_ci(r["rate"], r["ci_lower"], r["ci_upper"], 1) + " %"})
    for _, r in baseline.equity.iterrows():
        label, unit = labels.EQUITY_MEASURES[r["measure"]]
        # Policy of beyond_averages.report.tables: percentage points and ratios both to 2 decimals.
        rows.append({"Group or measure": label, "Eligible (released)": "",
                     "Estimate (95% CI)": format_estimate_ci(r["estimate"], r["ci_lower"], r["ci_upper"])
                     + unit})
    return html_table(pd.DataFrame(rows))


def baseline_sentence(analysis) -> str:
    """The baseline rates of the most and least deprived quintiles, their gap and ratio, and the SII."""
    baseline, area = analysis.baseline, analysis.area
    r = baseline.rates.set_index("imd_quintile")
    e = baseline.equity.set_index("measure")
    gap, sii = e.loc["gap"], e.loc["sii"]
    direction = "lower" if gap["estimate"] > 0 else "higher"
    return (
        f"In {baseline.month:%B %Y}, before the programme began, the indicator ({area.short_label}) was met by "
        f"{format_percent(r.loc[1, 'rate'])} of eligible patients in the most deprived quintile and by "
        f"{format_percent(r.loc[5, 'rate'])} in the least deprived: coverage was "
        f"{format_pp(abs(gap['estimate']))} percentage points {direction} among the most deprived "
        f"(95% CI {format_ci(gap['ci_lower'], gap['ci_upper'])}), a ratio of {format_ratio(e.loc['ratio', 'estimate'])}. "
        f"Across the whole deprivation gradient the slope index of inequality was {format_pp(sii['estimate'])} "
        f"percentage points (95% CI {format_ci(sii['ci_lower'], sii['ci_upper'])}); a positive value means "
        "coverage rises from the most to the least deprived."
    )


def standardised_figure(analysis):
    """Crude (thin) and age-standardised (thick) indicator by quintile over time."""
    std = analysis.standardised
    with figure_style():
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.2))
        for q in range(1, 6):
            d = std[std["imd_quintile"] == q]
            ax.plot(d["month"], d["std_rate"], color=QUINTILE_COLOURS[q], lw=1.8, label=f"{labels.QUINTILES[q]}")
            ax.plot(d["month"], d["crude_rate"], color=QUINTILE_COLOURS[q], lw=0.8, ls=":")
        ax.set_ylabel(f"{analysis.area.short_label} (%)")
        ax.plot([], [], color="grey", lw=1.8, label="Age-standardised (ESP2013)")
        ax.plot([], [], color="grey", lw=0.8, ls=":", label="Crude")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=4, frameon=False)
    return finish(fig), ax


def standardised_sentence(analysis) -> str:
    """How age standardisation changes the Q5 - Q1 gap in the baseline month."""
    month = analysis.baseline.month
    std = analysis.standardised
    at = std[std["month"] == pd.Timestamp(month)].set_index("imd_quintile")
    crude_gap = at.loc[5, "crude_rate"] - at.loc[1, "crude_rate"]
    std_gap = at.loc[5, "std_rate"] - at.loc[1, "std_rate"]
    change = "widens" if abs(std_gap) > abs(crude_gap) else "narrows"
    return (f"Standardising for age (2013 European Standard Population) {change} the gap between the least and "
            f"most deprived quintiles in {pd.Timestamp(month):%B %Y} from {format_pp(crude_gap)} to {format_pp(std_gap)} "
            "percentage points: " + ("the most deprived areas' younger age structure hides part of the gap."
                                     if change == "widens" else "part of the crude gap reflects age structure."))


def covid_sentence(analysis) -> str:
    """How far the overall indicator fell after the COVID-19 disruption began, and the trough month."""
    released, covid_start = analysis.released, analysis.study.covid_start
    overall = released[released["imd_quintile"] == 0].set_index("month")["rate"]
    before = overall[overall.index < pd.Timestamp(covid_start)].iloc[-1]
    after = overall[overall.index >= pd.Timestamp(covid_start)]
    trough_month = after.idxmin()
    q1 = released[released["imd_quintile"] == 1].set_index("month")["rate"]
    q5 = released[released["imd_quintile"] == 5].set_index("month")["rate"]
    drop1 = q1[q1.index < pd.Timestamp(covid_start)].iloc[-1] - q1.loc[trough_month]
    drop5 = q5[q5.index < pd.Timestamp(covid_start)].iloc[-1] - q5.loc[trough_month]
    return (f"After the COVID-19 disruption began, the indicator fell from {format_percent(before)} to a low of "
            f"{format_percent(after.min())} in {trough_month:%B %Y} ({format_pp(drop1)} percentage points in the "
            f"most deprived quintile, {format_pp(drop5)} in the least deprived).")
