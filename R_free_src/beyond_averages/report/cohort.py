"""Tables and figures of the data chapter (cohort and indicator by deprivation)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..deprivation import QUINTILE_LABELS
from ..style import OVERALL_COLOUR, QUINTILE_COLOURS, figure_style, finish
from .tables import format_count, format_estimate_ci, html_table


def cohort_table_display(released: pd.DataFrame):
    """Wide 'Table 1': one column per quintile, cells 'n (%)'."""
    df = released.copy()

    def cell(row):
        n = format_count(row["count"])
        if pd.isna(row["percent"]) or pd.isna(row["count"]):
            return n
        return f"{n} ({row['percent']:.1f}%)"

    df["cell"] = df.apply(cell, axis=1)
    order = list(dict.fromkeys(df["column"]))
    wide = df.pivot_table(index=["characteristic", "level"], columns="column", values="cell", aggfunc="first",
                          sort=False)[order].reset_index()
    wide = wide.rename(columns={"characteristic": "Characteristic", "level": ""})
    wide.loc[wide["Characteristic"].duplicated(), "Characteristic"] = ""
    return html_table(wide)


def indicator_trend_figure(released: pd.DataFrame, *, indicator_label: str, covid_start=None,
                           programme_starts=(), title: str | None = None):
    """Monthly indicator (%) by IMD quintile and overall, with the COVID-19 start and programme waves marked."""
    with figure_style():
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        for q in range(1, 6):
            d = released[released["imd_quintile"] == q]
            ax.plot(d["month"], d["rate"], color=QUINTILE_COLOURS[q], lw=1.6, label=QUINTILE_LABELS[q])
        d = released[released["imd_quintile"] == 0]
        ax.plot(d["month"], d["rate"], color=OVERALL_COLOUR, lw=1.2, ls="--", label="All patients")
        if covid_start is not None:
            ax.axvline(pd.Timestamp(covid_start), color="grey", lw=0.8, ls=":", label="COVID-19 disruption")
        for i, start in enumerate(programme_starts):
            ax.axvline(pd.Timestamp(start), color="#b2182b", lw=0.8, ls="-.", alpha=0.7,
                       label="Programme waves start" if i == 0 else None)
        ax.set_ylabel(f"{indicator_label} (%)")
        if title:
            ax.set_title(title)
        # The legend sits below the axes so it never hides a series.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), fontsize=8, ncol=4, frameon=False)
    return finish(fig), ax


def baseline_table(baseline) -> object:
    """Rates by quintile, then the gap, ratio, SII and RII, as 'estimate (95% CI)'."""
    rows = []
    for _, r in baseline.rates.iterrows():
        rows.append({"Group or measure": QUINTILE_LABELS[int(r["imd_quintile"])],
                     "Eligible (released)": format_count(r["denominator"]),
                     "Estimate (95% CI)": format_estimate_ci(r["rate"], r["ci_lower"], r["ci_upper"], 1) + " %"})
    names = {"gap": ("Absolute gap, Q5 − Q1", " pp", 1), "ratio": ("Relative gap, Q5 / Q1", "", 3),
             "sii": ("Slope index of inequality", " pp", 1), "rii": ("Relative index of inequality", "", 3)}
    for _, r in baseline.equity.iterrows():
        label, unit, digits = names[r["measure"]]
        rows.append({"Group or measure": label, "Eligible (released)": "",
                     "Estimate (95% CI)": format_estimate_ci(r["estimate"], r["ci_lower"], r["ci_upper"], digits)
                     + unit})
    return html_table(pd.DataFrame(rows))


def standardised_figure(std: pd.DataFrame, *, indicator_label: str):
    """Crude (thin) and age-standardised (thick) indicator by quintile over time."""
    with figure_style():
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        for q in range(1, 6):
            d = std[std["imd_quintile"] == q]
            ax.plot(d["month"], d["std_rate"], color=QUINTILE_COLOURS[q], lw=1.8, label=f"{QUINTILE_LABELS[q]}")
            ax.plot(d["month"], d["crude_rate"], color=QUINTILE_COLOURS[q], lw=0.8, ls=":")
        ax.set_ylabel(f"{indicator_label} (%)")
        ax.plot([], [], color="grey", lw=1.8, label="Age-standardised (ESP2013)")
        ax.plot([], [], color="grey", lw=0.8, ls=":", label="Crude")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), fontsize=8, ncol=4, frameon=False)
    return finish(fig), ax


def standardised_sentence(std: pd.DataFrame, month) -> str:
    at = std[std["month"] == pd.Timestamp(month)].set_index("imd_quintile")
    crude_gap = at.loc[5, "crude_rate"] - at.loc[1, "crude_rate"]
    std_gap = at.loc[5, "std_rate"] - at.loc[1, "std_rate"]
    change = "widens" if abs(std_gap) > abs(crude_gap) else "narrows"
    return (f"Standardising for age (2013 European Standard Population) {change} the gap between the least and "
            f"most deprived quintiles in {pd.Timestamp(month):%B %Y} from {crude_gap:.1f} to {std_gap:.1f} "
            "percentage points: " + ("the most deprived areas' younger age structure hides part of the gap."
                                     if change == "widens" else "part of the crude gap reflects age structure."))


def covid_sentence(released: pd.DataFrame, covid_start) -> str:
    """How far the overall indicator fell after the COVID-19 disruption began, and the trough month."""
    overall = released[released["imd_quintile"] == 0].set_index("month")["rate"]
    before = overall[overall.index < pd.Timestamp(covid_start)].iloc[-1]
    after = overall[overall.index >= pd.Timestamp(covid_start)]
    trough_month = after.idxmin()
    q1 = released[released["imd_quintile"] == 1].set_index("month")["rate"]
    q5 = released[released["imd_quintile"] == 5].set_index("month")["rate"]
    drop1 = q1[q1.index < pd.Timestamp(covid_start)].iloc[-1] - q1.loc[trough_month]
    drop5 = q5[q5.index < pd.Timestamp(covid_start)].iloc[-1] - q5.loc[trough_month]
    return (f"After the COVID-19 disruption began, the indicator fell from {before:.1f}% to a low of "
            f"{after.min():.1f}% in {trough_month:%B %Y} ({drop1:.1f} percentage points in the most deprived "
            f"quintile, {drop5:.1f} in the least deprived).")
