"""Figures, tables and computed sentences of the chapter "A continuous outcome by deprivation".

Every function takes a :class:`beyond_averages.did.continuous.ContinuousAnalysis`. For an area without a continuous
outcome the methods sentence says so, the figure and table are stand-ins naming the area, and the other sentences
are empty, so the chapter renders for every area with that one computed sentence.

Disclosure: a mean is shown only when more than the threshold's patients contribute to it
(:func:`release_means`: the count passes :func:`beyond_averages.disclosure.round_count`, and the mean of a redacted
count is suppressed). Direction words respect the outcome's ``lower_is_better``; which side of Q1 - Q5 and of the SII
narrows the inequality is read from the adopters' baseline means (as :mod:`beyond_averages.report.headline` does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages import labels
from beyond_averages.deprivation import QUINTILES
from beyond_averages.disclosure import DEFAULT_RULES, DisclosureRules, round_count
from beyond_averages.report.did import arm_panels
from beyond_averages.report.conclusions import INCREASED, DECREASED, conclusion_label
from beyond_averages.report.tables import (
    disclosure_clause, format_ci, format_count, format_estimate_ci, format_number, html_table,
)
from beyond_averages.style import PAGE_WIDTH_IN, figure_style, finish

EFFECT_DIGITS = 2


def release_means(frame: pd.DataFrame, n: str = "value_n", total: str = "value_sum",
                  rules: DisclosureRules = DEFAULT_RULES) -> pd.DataFrame:
    """A copy safe to publish: ``n`` redacted (<= threshold) or rounded by the disclosure rule, and ``mean`` =
    ``total / n`` from the raw counts where ``n`` is released, missing where it is redacted; ``total`` (and any
    ``value_sum_sq``) dropped, since a sum over few patients discloses them as a mean does."""
    out = frame.copy()
    raw = out[n].to_numpy(dtype=float)
    released = round_count(raw, rules)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean"] = np.where(np.isnan(released), np.nan, out[total].to_numpy(dtype=float) / raw)
    out[n] = released
    return out.drop(columns=[c for c in (total, "value_sum_sq") if c in out.columns])


def no_outcome_sentence(analysis) -> str:
    a = analysis.area
    return (f"The area {a.title} ({a.name}) defines no continuous outcome (no continuous_outcome block in its area "
            "file), so this chapter has no mean to estimate.")


def _stand_in_text(analysis) -> str:
    return f"No continuous outcome is defined for {analysis.area.title}."


def methods_sentence(analysis) -> str:
    """The outcome, its window and direction, the panel and the practice-quintiles that enter the estimates."""
    if analysis.outcome is None:
        return no_outcome_sentence(analysis)
    o, p = analysis.outcome, analysis.panel
    start = p.groupby("practice_id")["programme_start"].first()
    comp = "never adopted" if analysis.settings.comparison == "never_treated" else "had not yet adopted"
    units = p.groupby(["practice_id", "imd_quintile"]).ngroups
    kept = units - analysis.gta_quintile.n_units_dropped
    better = "lower" if o.lower_is_better else "higher"
    shown = ""
    if getattr(analysis, "book_area", None) is not None:
        shown = (f"The book's area ({analysis.book_area.title.lower()}) records no continuous outcome, so this "
                 f"chapter shows {analysis.area.title.lower()}'s, from the same extract. ")
    return (shown + f"The outcome is the {o.label[0].lower() + o.label[1:]}: each eligible patient's latest value in the "
            f"{o.lookback_months} months up to and including the month, in {o.unit}; {better} is better. The panel "
            f"holds {start.size} practices over {p['month'].nunique()} months ({p['month'].min():%B %Y} to "
            f"{p['month'].max():%B %Y}); {int(start.notna().sum())} adopted the programme in "
            f"{start.dropna().nunique()} waves and are compared with practices that {comp}. Effects are differences "
            f"in the mean, in {o.unit}, from group-time average treatment effects, each practice-quintile weighted "
            f"by its mean number of patients with a value; {kept:,} of {units:,} practice-quintiles have a value in "
            "every month and enter the estimates.")


def disclosure_sentence(analysis, rules: DisclosureRules = DEFAULT_RULES) -> str:
    """The disclosure rule of the means, and how many adopters' patients had a value before the first wave."""
    if analysis.outcome is None:
        return ""
    return (f"Means are shown only where the number of patients with a value passes disclosure control "
            f"({disclosure_clause(rules)}); a mean over a redacted number is suppressed. "
            f"{baseline_count_sentence(analysis, rules)}")


def trends(analysis, rules: DisclosureRules = DEFAULT_RULES) -> pd.DataFrame:
    """Monthly mean by quintile of adopting and never-adopting practices (sums pooled), released."""
    p = analysis.panel.assign(adopter=analysis.panel["programme_start"].notna())
    agg = p.groupby(["imd_quintile", "adopter", "month"], as_index=False)[["value_n", "value_sum"]].sum()
    return release_means(agg, rules=rules)


def _stand_in_figure(analysis):
    import matplotlib.pyplot as plt

    with figure_style():
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, _stand_in_text(analysis), ha="center", va="center", fontsize=10)
    return finish(fig), np.array([ax])


def trends_figure(analysis, rules: DisclosureRules = DEFAULT_RULES):
    """Mean by month for adopting vs never-adopting practices, one panel per IMD quintile (released means)."""
    if analysis.outcome is None:
        return _stand_in_figure(analysis)
    data = trends(analysis, rules)
    waves = sorted(analysis.panel["programme_start"].dropna().unique())
    return arm_panels(data, "mean", waves, f"Mean ({analysis.outcome.unit})")


def adopters_baseline(analysis, rules: DisclosureRules = DEFAULT_RULES) -> pd.DataFrame:
    """Adopting practices' released mean by quintile in the month before the first wave (``imd_quintile``,
    ``value_n``, ``mean``)."""
    p = analysis.panel
    first = p["programme_start"].min()
    month = p.loc[p["month"] < first, "month"].max()
    cells = p[(p["month"] == month) & p["programme_start"].notna()]
    agg = cells.groupby("imd_quintile", as_index=False)[["value_n", "value_sum"]].sum()
    return release_means(agg, rules=rules).assign(month=month)


def narrowing_sides(analysis) -> tuple[int, int]:
    """(+1 / -1 / 0) the sign of a Q_a - Q_b effect, and of an SII change, that narrows the inequality: read from
    the adopters' baseline means (when the least deprived start higher, a larger rise among the most deprived
    narrows; the SII, least minus most deprived, then narrows by falling). 0 when the baseline is missing or equal."""
    a, b = analysis.settings.contrast
    base = adopters_baseline(analysis).set_index("imd_quintile")["mean"]
    gap = float(base.get(b, np.nan) - base.get(a, np.nan))  # least minus most deprived when (a, b) = (1, 5)
    side = 0 if not np.isfinite(gap) or gap == 0 else int(np.sign(gap))
    return side, -side


def _direction(label: str, lower_is_better: bool) -> str:
    if label == DECREASED:
        return f"{label} ({'an improvement' if lower_is_better else 'a deterioration'})"
    if label == INCREASED:
        return f"{label} ({'a deterioration' if lower_is_better else 'an improvement'})"
    return label


def effects(analysis) -> pd.DataFrame:
    """The chapter's estimates: ``row`` (a quintile 1..5, ``contrast``, ``overall`` or ``sii``), ``label``,
    ``baseline`` (adopters' released mean before the first wave; quintile rows only), ``estimate, ci_lower,
    ci_upper``, ``narrowing`` (+1 / -1 / 0) and ``conclusion`` (by :func:`conclusion_label`, with the direction
    in words for the rows without a narrowing side)."""
    a, b = analysis.settings.contrast
    contrast_side, sii_side = narrowing_sides(analysis)
    base = adopters_baseline(analysis).set_index("imd_quintile")["mean"]
    gq = analysis.gta_quintile.tidy().assign(row=lambda d: d["level"].astype(int))
    rows = [{"row": int(r.row), "label": labels.QUINTILES[int(r.row)], "baseline": base.get(int(r.row), np.nan),
             "estimate": r.estimate, "ci_lower": r.ci_lower, "ci_upper": r.ci_upper, "narrowing": 0}
            for r in gq.itertuples()]
    c = analysis.gta_quintile.contrast(a, b).iloc[0]
    rows.append({"row": "contrast", "label": f"Difference: {labels.QUINTILES[a]} minus {labels.QUINTILES[b]}",
                 "baseline": np.nan, "estimate": c["estimate"], "ci_lower": c["ci_lower"], "ci_upper": c["ci_upper"],
                 "narrowing": contrast_side})
    o = analysis.gta_overall.tidy().iloc[0]
    rows.append({"row": "overall", "label": "All patients", "baseline": np.nan, "estimate": o["estimate"],
                 "ci_lower": o["ci_lower"], "ci_upper": o["ci_upper"], "narrowing": 0})
    s = analysis.gta_sii.tidy().iloc[0]
    rows.append({"row": "sii", "label": "Within-practice slope index of inequality", "baseline": np.nan,
                 "estimate": s["estimate"], "ci_lower": s["ci_lower"], "ci_upper": s["ci_upper"],
                 "narrowing": sii_side})
    out = pd.DataFrame(rows)
    lower = analysis.outcome.lower_is_better
    out["conclusion"] = [_direction(conclusion_label(r.estimate, r.ci_lower, r.ci_upper, r.narrowing), lower)
                         for r in out.itertuples()]
    return out


def effects_table(analysis):
    """Effects by quintile, Q_a - Q_b, all patients and the within-practice SII change (display table)."""
    if analysis.outcome is None:
        return html_table(pd.DataFrame({"Continuous outcome": [_stand_in_text(analysis)]}))
    e = effects(analysis)
    digits = analysis.outcome.decimals
    unit = analysis.outcome.unit
    return html_table(pd.DataFrame({
        "Patients": e["label"],
        f"Adopters' baseline mean ({unit})": [format_number(v, digits) for v in e["baseline"]],
        f"Effect of the programme ({unit}, 95% CI)": [
            format_estimate_ci(r.estimate, r.ci_lower, r.ci_upper, EFFECT_DIGITS) for r in e.itertuples()],
        "Conclusion by rule": e["conclusion"],
    }))


def _change(value: float, unit: str, digits: int = EFFECT_DIGITS) -> str:
    if not np.isfinite(value):
        return "could not be estimated"
    size = format_number(abs(value), digits)
    if size == format_number(0, digits):
        return f"changed by {size} {unit}"
    return f"{'fell' if value < 0 else 'rose'} by {size} {unit}"


def effects_sentence(analysis) -> str:
    """The effect in the two contrasted quintiles, their difference and the conclusion by the chapter's rule."""
    if analysis.outcome is None:
        return ""
    a, b = analysis.settings.contrast
    e = effects(analysis).set_index("row")
    unit = analysis.outcome.unit

    def ci(r):
        return f"95% CI {format_ci(r['ci_lower'], r['ci_upper'], EFFECT_DIGITS)}"

    ra, rb, rc = e.loc[a], e.loc[b], e.loc["contrast"]
    contrast = rc["conclusion"]
    side = ("a larger fall among the most deprived narrows it" if rc["narrowing"] < 0
            else "a larger rise among the most deprived narrows it" if rc["narrowing"] > 0
            else "the baseline gives no side that narrows it")
    return (f"Compared with the comparison practices, the mean in {labels.QUINTILES[a]} {_change(ra['estimate'], unit)}"
            f" ({ci(ra)}) and in {labels.QUINTILES[b]} {_change(rb['estimate'], unit)} ({ci(rb)}); the difference, "
            f"{format_number(rc['estimate'], EFFECT_DIGITS)} {unit} ({ci(rc)}), means by the chapter's rule that the "
            f"inequality {contrast if contrast != 'no evidence of change' else 'showed no evidence of change'} "
            f"(at baseline the adopters' mean was {format_number(ra['baseline'], analysis.outcome.decimals)} {unit} "
            f"in {labels.QUINTILES[a]} and {format_number(rb['baseline'], analysis.outcome.decimals)} in "
            f"{labels.QUINTILES[b]}, so {side}).")


def sii_sentence(analysis) -> str:
    """The SII of the means of adopting and never-adopting practices pooled, before the first wave and in the last
    month (PHE's limits), and the programme's effect on the within-practice SII."""
    if analysis.outcome is None:
        return ""
    unit = analysis.outcome.unit
    t = analysis.pooled_sii.set_index(["arm", "period"])
    e = effects(analysis).set_index("row").loc["sii"]

    def one(arm):
        if (arm, "baseline") not in t.index or (arm, "last") not in t.index:
            return "not estimable (a quintile had fewer than two patients with a value)"
        b, last = t.loc[(arm, "baseline")], t.loc[(arm, "last")]
        return (f"{format_number(b['estimate'], EFFECT_DIGITS)} {unit} (95% CI "
                f"{format_ci(b['ci_lower'], b['ci_upper'], EFFECT_DIGITS)}) in {pd.Timestamp(b['month']):%B %Y} and "
                f"{format_number(last['estimate'], EFFECT_DIGITS)} {unit} "
                f"({format_ci(last['ci_lower'], last['ci_upper'], EFFECT_DIGITS)}) in "
                f"{pd.Timestamp(last['month']):%B %Y}")

    return (f"The slope index of inequality of the mean (least minus most deprived; PHE's method on the mean scale, "
            f"standard errors from each quintile's standard deviation) was, among adopting practices, {one('adopters')}"
            f"; among practices that never adopted, {one('never adopted')}. Within practices, the programme changed "
            f"the SII by {format_number(e['estimate'], EFFECT_DIGITS)} {unit} (95% CI "
            f"{format_ci(e['ci_lower'], e['ci_upper'], EFFECT_DIGITS)}): by the chapter's rule the inequality "
            f"{e['conclusion'] if e['conclusion'] != 'no evidence of change' else 'showed no evidence of change'}.")


def baseline_count_sentence(analysis, rules: DisclosureRules = DEFAULT_RULES) -> str:
    """How many adopters' patients had a value in the baseline month (released count)."""
    base = adopters_baseline(analysis, rules)
    total = round_count([analysis.panel.loc[(analysis.panel["month"] == base["month"].iloc[0])
                                            & analysis.panel["programme_start"].notna(), "value_n"].sum()], rules)[0]
    return (f"In {pd.Timestamp(base['month'].iloc[0]):%B %Y}, the month before the first wave, "
            f"{format_count(total)} patients of the adopting practices had a value.")


def its_effects(analysis) -> pd.DataFrame:
    """The controlled ITS effects per quintile and Q_a - Q_b at the settings' horizons: ``group`` (1..5 or
    ``contrast``), ``horizon``, ``month``, ``estimate, ci_lower, ci_upper``, ``narrowing`` and ``conclusion``."""
    e = analysis.its.effect_summary(analysis.settings.its_horizons)
    contrast_side, _ = narrowing_sides(analysis)
    out = e[["group", "horizon", "month", "estimate", "ci_lower", "ci_upper"]].copy()
    is_contrast = ~out["group"].astype(str).str.isdigit()
    out["group"] = np.where(is_contrast, "contrast", out["group"].astype(str))
    out["narrowing"] = np.where(is_contrast, contrast_side, 0)
    lower = analysis.outcome.lower_is_better
    out["conclusion"] = [_direction(conclusion_label(r.estimate, r.ci_lower, r.ci_upper, r.narrowing), lower)
                         for r in out.itertuples()]
    return out.reset_index(drop=True)


def its_table(analysis):
    """Controlled ITS effects on the mean, per quintile and Q_a - Q_b (rows) at each horizon (columns)."""
    if analysis.outcome is None:
        return html_table(pd.DataFrame({"Continuous outcome": [_stand_in_text(analysis)]}))
    a, b = analysis.settings.contrast
    e = its_effects(analysis)
    names = {str(q): labels.QUINTILES[q] for q in QUINTILES}
    names["contrast"] = f"Difference: {labels.QUINTILES[a]} minus {labels.QUINTILES[b]}"
    table = {"Patients": [names[g] for g in dict.fromkeys(e["group"])]}
    for h, part in e.groupby("horizon", sort=True):
        part = part.set_index("group")
        table[f"{h} months ({analysis.outcome.unit}, 95% CI)"] = [
            format_estimate_ci(part.loc[g, "estimate"], part.loc[g, "ci_lower"], part.loc[g, "ci_upper"],
                               EFFECT_DIGITS) for g in dict.fromkeys(e["group"])]
    return html_table(pd.DataFrame(table))


def its_sentence(analysis) -> str:
    """The ITS's design (from the data) and its Q_a - Q_b effect at the last horizon, concluded by rule."""
    if analysis.outcome is None:
        return ""
    a, b = analysis.settings.contrast
    p = analysis.panel
    start = p["programme_start"].dropna().min()
    n_wave = p.loc[p["programme_start"] == start, "practice_id"].nunique()
    n_never = p.loc[p["programme_start"].isna(), "practice_id"].nunique()
    e = its_effects(analysis)
    last = e[(e["group"] == "contrast") & (e["horizon"] == max(analysis.settings.its_horizons))].iloc[0]
    label = last["conclusion"]
    return (f"The interrupted time series compares the monthly mean of the {n_wave} practices of the first wave "
            f"({pd.Timestamp(start):%B %Y}) with the {n_never} that never adopted, quintile by quintile (Gaussian "
            f"family, the controlled difference's pre-adoption level and trend projected forward). "
            f"At {int(last['horizon'])} months after adoption the difference in effect between {labels.QUINTILES[a]} "
            f"and {labels.QUINTILES[b]} was {format_number(last['estimate'], EFFECT_DIGITS)} "
            f"{analysis.outcome.unit} (95% CI {format_ci(last['ci_lower'], last['ci_upper'], EFFECT_DIGITS)}): by "
            f"the chapter's rule the inequality "
            f"{label if label != 'no evidence of change' else 'showed no evidence of change'}.")
