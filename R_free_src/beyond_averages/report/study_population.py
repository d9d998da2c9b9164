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


# -- inequality beyond deprivation (the indicator by ethnic group, and by IMD quintile x ethnic group) ----------
CELL_UNKNOWN_QUINTILE = "IMD unknown"


def _title(text: str) -> str:
    return text[:1].upper() + text[1:]


def beyond_methods_text(analysis) -> str:
    """How the indicator is compared across the groups of the second dimension, with its reference group."""
    beyond = analysis.beyond
    dim = beyond.dimension
    ref = dim.label(dim.reference)
    return (
        f"**Beyond deprivation.** The indicator is also split by {dim.title} in {beyond.month:%B %Y}, pooled over "
        f"practices, and by IMD quintile within each {dim.title}. "
        + ("The groups have no order, so there is no slope index: each group is compared with the "
           f"{ref} group (difference in percentage points, Newcombe 95% confidence interval), and the spread across "
           "the recorded groups is summarised by the between-group variance (the population-weighted mean squared "
           "deviation of the group rates from the rate of all their patients) and the index of disparity (the mean "
           "absolute deviation of the group rates from that rate, as a percentage of it). "
           if not dim.ordered else
           f"Each group is compared with the {ref} group (difference in percentage points, Newcombe 95% confidence "
           "interval). ")
        + "Patients whose group is not recorded are shown, so the counts add up, but left out of every comparison. "
        "Finer splits carry more small counts, so besides the rule above each split is protected from subtraction: "
        "where a row or column of counts that adds up to a total shown elsewhere held a single redacted cell, its "
        "next smallest cell was redacted too, and rates use the released counts only."
    )


def beyond_groups_table(analysis):
    """The indicator by group: released counts, rate (95% CI), difference from the reference group (95% CI); then
    all eligible patients and the summaries of the spread."""
    beyond = analysis.beyond
    dim = beyond.dimension
    ref = dim.label(dim.reference)
    rows = []
    for _, r in beyond.groups.iterrows():
        rows.append({
            _title(dim.title): r["label"] + (" (reference)" if r["group"] == dim.reference else ""),
            "Eligible (released)": format_count(r["denominator"]),
            "Met the indicator (released)": format_count(r["numerator"]),
            "Indicator, % (95% CI)": format_estimate_ci(r["rate"], r["ci_lower"], r["ci_upper"], 1),
            f"Difference from {ref}, pp (95% CI)": format_estimate_ci(r["difference"], r["difference_lower"],
                                                                       r["difference_upper"]),
        })
    total = beyond.total
    rows.append({_title(dim.title): "All eligible patients", "Eligible (released)": format_count(total["denominator"]),
                 "Met the indicator (released)": format_count(total["numerator"]),
                 "Indicator, % (95% CI)": format_percent(total["rate"], sign=False),
                 f"Difference from {ref}, pp (95% CI)": ""})
    shown = {"between_group_variance": ("Between-group variance (squared pp)", format_pp),
             "index_of_disparity": ("Index of disparity (%)", lambda v: format_percent(v, sign=False))}
    for _, r in beyond.summary.iterrows():
        label, fmt = shown[r["measure"]]
        rows.append({_title(dim.title): label, "Eligible (released)": "", "Met the indicator (released)": "",
                     "Indicator, % (95% CI)": fmt(r["estimate"]), f"Difference from {ref}, pp (95% CI)": ""})
    return html_table(pd.DataFrame(rows))


def _cell_text(numerator, denominator, rate) -> str:
    if pd.isna(denominator):
        return format_count(denominator)  # [REDACTED]
    return f"{format_count(denominator)} ({format_percent(rate) if not pd.isna(numerator) else '–'})"


def beyond_cells_table(analysis):
    """IMD quintile x group: one row per group, one column per quintile (and IMD unknown); each cell the released
    eligible patients and, in brackets, the indicator (%) from released counts."""
    beyond = analysis.beyond
    dim = beyond.dimension
    quintile_labels = {**{str(q): label for q, label in labels.QUINTILES.items()}, "0": CELL_UNKNOWN_QUINTILE}
    cells = beyond.cells.assign(text=[_cell_text(n, d, r) for n, d, r in
                                      beyond.cells[["numerator", "denominator", "rate"]].itertuples(index=False)])
    members = list(dict.fromkeys(cells["member"]))
    columns = [q for q in quintile_labels if q in set(cells["quintile"])]
    wide = {_title(dim.title): [dim.label(m) for m in members]}
    lookup = cells.set_index(["quintile", "member"])["text"]
    for q in columns:
        wide[quintile_labels[q]] = [lookup.loc[(q, m)] for m in members]
    return html_table(pd.DataFrame(wide))


def beyond_sentence(analysis) -> str:
    """The recorded group with the lowest indicator against the reference group, the spread across groups, and the
    range across the cross-table's released cells."""
    beyond = analysis.beyond
    dim = beyond.dimension
    g = beyond.groups
    known = g[g["group"].isin(dim.codes) & g["rate"].notna()]
    ref = known[known["group"] == dim.reference]
    others = known[known["group"] != dim.reference]
    if ref.empty or others.empty:
        return (f"Too few patients in {beyond.month:%B %Y} had a recorded {dim.title} for the groups to be compared "
                "after disclosure control.")
    ref, low = ref.iloc[0], others.loc[others["rate"].idxmin()]
    direction = "lower" if low["difference"] < 0 else "higher"
    summary = beyond.summary.set_index("measure")["estimate"]
    text = (
        f"In {beyond.month:%B %Y}, before the programme began, the indicator ({analysis.area.short_label}) was lowest "
        f"of the recorded {dim.title}s in the {low['label']} group, {format_percent(low['rate'])}, against "
        f"{format_percent(ref['rate'])} in the {ref['label']} group (the reference): "
        f"{format_pp(abs(low['difference']))} percentage points {direction} "
        f"(95% CI {format_ci(low['difference_lower'], low['difference_upper'])}). Across the "
        f"{len(known)} recorded groups the between-group variance was "
        f"{format_pp(summary['between_group_variance'])} squared percentage points and the index of disparity "
        f"{format_percent(summary['index_of_disparity'])}."
    )
    cells = beyond.cells[beyond.cells["rate"].notna() & beyond.cells["quintile"].ne("0")
                         & beyond.cells["member"].isin(dim.codes)]
    redacted = int(beyond.cells["numerator"].isna().sum())
    if len(cells) >= 2:
        lo, hi = cells.loc[cells["rate"].idxmin()], cells.loc[cells["rate"].idxmax()]
        def where(cell) -> str:
            return f"in the {dim.label(cell['member'])} group of {labels.QUINTILES[int(cell['quintile'])]}"

        text += (f" Within IMD quintiles the indicator ranged from {format_percent(lo['rate'])} {where(lo)} to "
                 f"{format_percent(hi['rate'])} {where(hi)};")
    else:
        text += " Within IMD quintiles too few cells were released to compare;"
    return text + (f" the number meeting the indicator was redacted in {redacted} of the {len(beyond.cells)} cells "
                   "of the cross-table.")


def beyond_note(analysis) -> str:
    """The note under the cross-table: the disclosure rule and what a dash and [REDACTED] mean."""
    return (f"{disclosure_sentence(analysis)}, with complementary suppression within each row and column; "
            "[REDACTED]: the cell's eligible patients were redacted; –: the number meeting the indicator was "
            "redacted, so no rate is shown.")
