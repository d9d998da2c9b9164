"""The area-choice chapter's figure, table and sentences, drawn from a
:class:`beyond_averages.area_overview.AreaOverview`.

The sentences rank the areas by their baseline slope index of inequality and describe each pre-programme trend by
the one rule the evaluation chapters use for intervals: a direction is stated only when the 95% interval excludes
zero.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from beyond_averages.area_overview import SII_REPETITIONS, YEAR_END_MONTH
from beyond_averages.config import load_area
from beyond_averages.report.tables import (
    disclosure_clause,
    format_ci,
    format_count,
    format_estimate_ci,
    format_percent,
    format_pp,
    format_signed,
    html_table,
)
from beyond_averages.style import PAGE_WIDTH_IN, QUINTILE_COLOURS, TREATED_COLOUR, figure_style, finish, year_axis

_MEASURE_STYLE = {"gap": ("Gap, Q5 minus Q1", QUINTILE_COLOURS[5], "--"),
                  "sii": ("Slope index of inequality", QUINTILE_COLOURS[1], "-")}


def _month_name(month: int) -> str:
    return pd.Timestamp(2000, month, 1).strftime("%B")


def methods_text(overview) -> str:
    """How the overview was computed, with the settings read from the analysis."""
    areas = ", ".join(a.title.lower() for a in overview.areas.values())
    text = (
        f"Each clinical area defined in the compendium ({areas}) was counted from the same synthetic extract with "
        "the same rules as the evaluation chapters. Once a year, at the end of "
        f"{_month_name(YEAR_END_MONTH)} (the end of the NHS financial year, when the Quality and Outcomes Framework "
        "counts achievement), practices were pooled by IMD quintile and the released counts "
        f"({disclosure_clause(overview.rules)}) gave the gap between the least and most deprived quintiles "
        "(percentage points, Newcombe interval) and the slope index of inequality (Public Health England's method, "
        f"{SII_REPETITIONS:,} Monte Carlo draws). The baseline is the last {_month_name(YEAR_END_MONTH)} before an "
        "area's first adoption wave; the pre-programme trend is the inverse-variance weighted slope of the slope "
        "index over the yearly points up to the baseline. Yearly points share most of their patients, so the "
        "trend's interval is a description, not a test."
    )
    if overview.missing:
        titles = [load_area(name).title.lower() for name in overview.missing]
        text += (f" No measures table was found for {', '.join(titles)}, so "
                 f"{'it is' if len(titles) == 1 else 'they are'} not shown.")
    return text


def overview_figure(overview):
    """Small multiples: the gap and the SII at each year end, one panel per area, adoption start marked."""
    n = len(overview.areas)
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    with figure_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(PAGE_WIDTH_IN, 2.6 * nrows + 0.6), sharey=True,
                                 squeeze=False)
        for ax, (name, area) in zip(axes.ravel(), overview.areas.items()):
            eq = overview.equity[overview.equity["area"] == name]
            for measure, (label, colour, style) in _MEASURE_STYLE.items():
                d = eq[eq["measure"] == measure].sort_values("month")
                ax.plot(d["month"], d["estimate"], color=colour, ls=style, marker="o", ms=3, lw=1.4, label=label)
                ax.fill_between(d["month"], d["ci_lower"], d["ci_upper"], color=colour, alpha=0.15, lw=0)
            start = overview.summary.set_index("area").at[name, "first_wave"]
            ax.axvline(start, color=TREATED_COLOUR, lw=0.9, ls="-.", label="First adoption wave")
            ax.axhline(0, color="grey", lw=0.6)
            ax.set_title(area.title, fontsize=10)
            year_axis(ax, 2)
        for ax in axes[:, 0]:
            ax.set_ylabel("Percentage points")
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        handles, labels_ = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(handles, labels_, loc="lower center", ncol=3, frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return finish(fig), axes


def _area_label(row) -> str:
    """'Title (indicator)', or the indicator alone when it already starts with the title."""
    title, short = row["title"], row["short_label"]
    return short if short.lower().startswith(title.lower()) else f"{title} ({short})"


def overview_table(overview):
    """One row per area at its baseline: eligible patients, Q1 and Q5 rates, gap, SII and the SII's trend."""
    rows = []
    for _, r in overview.summary.sort_values("sii_estimate", ascending=False, key=abs).iterrows():
        rows.append({
            "Area (indicator)": _area_label(r),
            "Baseline": f"{r['baseline_month']:%b %Y}",
            "Eligible (released)": format_count(r["eligible"]),
            "Most deprived": format_percent(r["rate_most_deprived"]),
            "Least deprived": format_percent(r["rate_least_deprived"]),
            "Gap, pp (95% CI)": format_estimate_ci(r["gap_estimate"], r["gap_ci_lower"], r["gap_ci_upper"]),
            "SII, pp (95% CI)": format_estimate_ci(r["sii_estimate"], r["sii_ci_lower"], r["sii_ci_upper"]),
            "SII trend, pp a year (95% CI)": format_estimate_ci(r["sii_trend"], r["sii_trend_lower"],
                                                                r["sii_trend_upper"]),
        })
    return html_table(pd.DataFrame(rows))


def trend_words(row) -> str:
    """'widening' / 'narrowing' only when the trend's interval excludes zero (for a positive SII: the most
    deprived behind), else 'no clear trend'."""
    lo, hi, sii = row["sii_trend_lower"], row["sii_trend_upper"], row["sii_estimate"]
    if any(pd.isna(v) for v in (lo, hi, sii)) or lo <= 0 <= hi:
        return "no clear trend"
    growing = lo > 0 if sii >= 0 else hi < 0   # |SII| growing means widening, whichever group is behind
    return "widening" if growing else "narrowing"


def overview_sentence(overview) -> str:
    """Which area has the largest and smallest baseline inequality, and the direction of each trend."""
    s = overview.summary.assign(abs_sii=overview.summary["sii_estimate"].abs()).sort_values("abs_sii",
                                                                                            ascending=False)
    top = s.iloc[0]
    behind = "the most deprived behind" if top["sii_estimate"] > 0 else "the least deprived behind"
    text = (f"At baseline, inequality by deprivation was largest in {top['title'].lower()} ({top['short_label']}): "
            f"a slope index of {format_pp(top['sii_estimate'])} percentage points "
            f"(95% CI {format_ci(top['sii_ci_lower'], top['sii_ci_upper'])}), with {behind}")
    if len(s) > 1:
        low = s.iloc[-1]
        text += (f"; it was smallest in {low['title'].lower()} ({format_pp(low['sii_estimate'])} points, "
                 f"95% CI {format_ci(low['sii_ci_lower'], low['sii_ci_upper'])})")
    text += ". Before the programme, "
    parts = []
    for _, r in s.iterrows():
        parts.append(f"{r['title'].lower()} showed {trend_words(r)} "
                     f"({format_signed(r['sii_trend'])} points a year, 95% CI "
                     f"{format_ci(r['sii_trend_lower'], r['sii_trend_upper'])}, over {r['trend_points']} year ends "
                     f"from {r['trend_from']:%Y})")
    text += "; ".join(parts) + "."
    return text


def choice_sentence(overview) -> str:
    """What the overview means for the choice of area: where an equity-focused programme has most room."""
    s = overview.summary
    larger = s[s["sii_ci_lower"] > 0].sort_values("sii_estimate", ascending=False)
    if larger.empty:
        return ("No area showed a slope index of inequality whose interval excludes zero at baseline, so the "
                "overview does not single out an area on inequality alone.")
    names = [r["title"].lower() for _, r in larger.iterrows()]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return (f"Inequality disadvantaging the most deprived was clear at baseline in {listed} (largest first): "
            "these are where an equity-focused programme has most room to narrow the gap. The choice also weighs "
            "how many eligible patients each indicator has, which bounds the precision of any estimated change.")
