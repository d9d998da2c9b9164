"""Figures, tables and computed sentences of the chapter "Difference-in-differences by deprivation".

Every function takes a fitted :class:`beyond_averages.did.analysis.DidAnalysis` (or, for the sentences of one
estimator, the fitted estimator) and returns a figure ``(fig, axes)`` drawn from the estimators' ``plot_data()``, a
tidy DataFrame (numbers stay numeric; ``*_display`` functions format for the page) or a sentence string. Counts from
patient records (numerators, denominators) pass ``disclosure.release_counts`` before any rate or count reaches a
page: the raw-trend rates are recomputed from released counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages import labels
from beyond_averages.deprivation import QUINTILES
from beyond_averages.disclosure import DEFAULT_RULES, release_counts
from beyond_averages.report.tables import (
    disclosure_clause,
    format_ci, format_count, format_estimate_ci, format_p, format_pp, html_table, p_text,
)
from beyond_averages.style import (
    COMPARISON_COLOUR, OVERALL_COLOUR, PAGE_WIDTH_IN, QUINTILE_COLOURS, TREATED_COLOUR, figure_style, finish,
    year_axis,
)

def unit_label(settings) -> str:
    """The unit the sentences give effects in (from ``settings.outcome_scale``)."""
    return labels.OUTCOME_UNITS[settings.outcome_scale]


def methods_sentence(analysis) -> str:
    """Numbers of the methods paragraph: practices, adopters, waves, months (counts of practices, not patients),
    and the effects' scale and weighting."""
    p = analysis.panel
    start = p.groupby("practice_id")["programme_start"].first()
    s = analysis.settings
    comp = "never adopted" if s.comparison == "never_treated" else "had not yet adopted"
    return (f"The panel holds {start.size} practices over {p['month'].nunique()} months "
            f"({p['month'].min():%B %Y} to {p['month'].max():%B %Y}); {int(start.notna().sum())} adopted the "
            f"programme in {start.dropna().nunique()} waves and are compared with practices that {comp}. Effects "
            f"are {labels.OUTCOME_SCALES[s.outcome_scale]}, weighted by "
            f"{'denominators (patients)' if s.weighting == 'denominator' else 'practice'}, and standard errors are "
            f"clustered by practice.")


def adoption_waves_table(analysis) -> pd.DataFrame:
    """Adoption waves: practices (exact: organisations in public registers, not patient records) and patients
    (denominator in the wave's start month, released by the disclosure rule)."""
    p = analysis.panel
    start = p.groupby("practice_id")["programme_start"].first()
    rows = []
    for wave in sorted(start.dropna().unique()):
        ids = start.index[start == wave]
        den = p[(p["practice_id"].isin(ids)) & (p["month"] == wave)]["denominator"].sum()
        rows.append({"wave": pd.Timestamp(wave), "practices": len(ids), "patients": den})
    never = start.index[start.isna()]
    den = p[p["practice_id"].isin(never) & (p["month"] == p["month"].min())]["denominator"].sum()
    rows.append({"wave": pd.NaT, "practices": len(never), "patients": den})
    out = pd.DataFrame(rows)
    return release_counts(out, pairs=(), counts=["patients"], rate_column=None)


def adoption_waves_table_display(analysis):
    t = adoption_waves_table(analysis)
    return html_table(pd.DataFrame({
        "Adoption wave": [w.strftime("%B %Y") if pd.notna(w) else "Never adopted" for w in t["wave"]],
        "Practices": [format_count(v) for v in t["practices"]],
        "Patients at start": [format_count(v) for v in t["patients"]],
    }))


def disclosure_sentence() -> str:
    """The disclosure rule applied to every count and raw rate of the chapter."""
    return (f"Counts passed disclosure control: {disclosure_clause(DEFAULT_RULES)}; the raw trends are computed "
            "from the rounded counts.")


def _released_trends(analysis) -> pd.DataFrame:
    p = analysis.panel.assign(adopter=analysis.panel["programme_start"].notna())
    agg = p.groupby(["imd_quintile", "adopter", "month"], as_index=False)[["numerator", "denominator"]].sum()
    scale = 100.0 if analysis.settings.outcome_scale == "percentage_points" else 1.0
    return release_counts(agg, rate_column="rate", per=scale)


def raw_trends_figure(analysis):
    """Indicator by month for adopting vs comparison practices, one panel per IMD quintile (released counts)."""
    data = _released_trends(analysis)
    waves = sorted(analysis.panel["programme_start"].dropna().unique())
    return arm_panels(data, "rate", waves, labels.INDICATOR_AXIS[analysis.settings.outcome_scale])


def arm_panels(data: pd.DataFrame, value: str, waves, ylabel: str):
    """One panel per IMD quintile (two rows of three, the sixth holding the legend, readable at the page's width):
    the monthly ``value`` of adopting and never-adopting practices (``adopter`` True/False), adoption waves
    marked. Shared by the DiD chapter's trends and the continuous outcome's means."""
    import matplotlib.pyplot as plt

    with figure_style():
        fig, grid = plt.subplots(2, 3, figsize=(PAGE_WIDTH_IN, 5.2), sharey=True, sharex=True)
        axes = grid.ravel()
        for ax, q in zip(axes, QUINTILES):
            for adopter, colour, label in ((True, TREATED_COLOUR, "Adopting practices"),
                                           (False, COMPARISON_COLOUR, "Never adopted")):
                d = data[(data["imd_quintile"] == q) & (data["adopter"] == adopter)]
                ax.plot(d["month"], d[value], color=colour, lw=1.2, label=label)
            for i, wv in enumerate(waves):
                ax.axvline(wv, color="grey", lw=0.6, ls=":", label="Adoption waves" if i == 0 else None)
            ax.set_title(labels.QUINTILES[q], fontsize=10)
            year_axis(ax, step=2)
        for ax in grid[:, 0]:
            ax.set_ylabel(ylabel)
        handles, names = axes[0].get_legend_handles_labels()
        axes[5].axis("off")
        axes[5].legend(handles, names, loc="center")
        axes[5].tick_params(labelleft=False)
        fig.tight_layout()
    return finish(fig), axes


def _event_study_points(ax, fit, *, label: str, color: str, offset: float, ylabel: str) -> None:
    """One TWFE event study's estimates and 95% intervals, the zero line and the reference-period divide."""
    data = fit.plot_data()
    ax.errorbar(data["event_time"] + offset, data["estimate"],
                yerr=[data["estimate"] - data["ci_lower"], data["ci_upper"] - data["estimate"]],
                fmt="o", ms=3, lw=0.8, capsize=0, color=color or OVERALL_COLOUR, label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(fit.reference + 0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("Months since adoption")
    ax.set_ylabel(ylabel)


def event_study_figure(analysis):
    """Left: overall event study (TWFE leads/lags and group-time ATT by event time). Right: Q_a vs Q_b."""
    import matplotlib.pyplot as plt

    a, b = analysis.settings.contrast
    lo, hi = analysis.settings.window
    ylabel = labels.EFFECT_AXIS[analysis.settings.outcome_scale]
    with figure_style():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.6), sharey=True, layout="constrained")
        _event_study_points(ax1, analysis.event_overall, label="TWFE event study", color="#333333", offset=-0.15,
                            ylabel=ylabel)
        gd = analysis.gta_overall.plot_data()
        gd = gd[(gd["event_time"] >= lo) & (gd["event_time"] <= hi)]
        ax1.errorbar(gd["event_time"] + 0.15, gd["estimate"], yerr=[gd["estimate"] - gd["ci_lower"],
                     gd["ci_upper"] - gd["estimate"]], fmt="s", ms=3, lw=0.8, color="#b2182b", label="Group-time ATT")
        ax1.set_title("All patients")
        ax1.legend()
        for q, off in ((a, -0.15), (b, 0.15)):
            _event_study_points(ax2, analysis.event_quintile[q], label=labels.QUINTILES[q],
                                color=QUINTILE_COLOURS[q], offset=off, ylabel=ylabel)
        ax2.set_title(f"Q{a} vs Q{b} (TWFE event study)")
        ax2.legend()
        ax2.set_xlabel("Months since adoption")
    return fig, (ax1, ax2)


def effects_by_quintile(analysis) -> pd.DataFrame:
    """Tidy effects per quintile and the Q_a - Q_b contrast (triple difference), both estimators."""
    a, b = analysis.settings.contrast
    tw = analysis.twfe_quintile.tidy().assign(estimator="twfe")
    gt = pd.concat([analysis.gta_quintile.tidy(), analysis.gta_quintile.contrast(a, b)], ignore_index=True)
    gt = gt.assign(estimator="group_time_att", wild_p_value=np.nan)
    keep = ["estimator", "term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "wild_p_value"]
    out = pd.concat([tw, gt], ignore_index=True)
    out["imd_quintile"] = pd.to_numeric(out["level"], errors="coerce")
    out["is_contrast"] = out["level"].isna()
    return out[keep + ["imd_quintile", "is_contrast"]]


def effects_by_quintile_display(analysis):
    e = effects_by_quintile(analysis)
    a, b = analysis.settings.contrast
    rows = []
    for key in list(QUINTILES) + ["contrast"]:
        sel = e["is_contrast"] if key == "contrast" else e["imd_quintile"] == key
        label = f"Difference {labels.QUINTILES[a]} minus {labels.QUINTILES[b]}" if key == "contrast" else \
            labels.QUINTILES[key]
        row = {"IMD quintile": label}
        for est in ("twfe", "group_time_att"):
            r = e[sel & (e["estimator"] == est)].iloc[0]
            row[labels.ESTIMATORS[est]] = format_estimate_ci(r["estimate"], r["ci_lower"], r["ci_upper"])
        rows.append(row)
    return html_table(pd.DataFrame(rows))


def triple_difference(analysis) -> pd.DataFrame:
    e = effects_by_quintile(analysis)
    return e[e["is_contrast"]].drop(columns=["imd_quintile", "is_contrast"]).reset_index(drop=True)


def triple_difference_display(analysis):
    t = triple_difference(analysis)
    return html_table(pd.DataFrame({
        "Estimator": [labels.ESTIMATORS[x] for x in t["estimator"]],
        "Difference in effect (95% CI)": [format_estimate_ci(r.estimate, r.ci_lower, r.ci_upper)
                                          for r in t.itertuples()],
        "p (cluster-robust)": [format_p(p) for p in t["p_value"]],
        "p (wild cluster bootstrap)": [format_p(p) for p in t["wild_p_value"]],
    }))


def triple_difference_sentence(analysis) -> str:
    """Which quintiles the triple difference contrasts, and how its wild cluster bootstrap p-value was drawn (both
    from the settings)."""
    s = analysis.settings
    a, b = s.contrast
    what = f"The difference is the effect in {labels.QUINTILES[a]} minus the effect in {labels.QUINTILES[b]}"
    if not s.wild_bootstrap:
        return f"{what}; no wild cluster bootstrap was run, so only cluster-robust p-values are given."
    return (f"{what}. Its wild cluster bootstrap p-value (two-way fixed effects only) comes from the restricted "
            f"bootstrap with {labels.BOOT_WEIGHTS[s.boot_weights]} weights and {format_count(s.wild_bootstrap)} draws, clustered by "
            f"practice (seed {s.seed}).")


def adopters_baseline(analysis, measure: str) -> float:
    """Denominator-weighted pre-adoption mean of a within-practice measure among adopting practices."""
    d = analysis.inequality_panel
    d = d[d["programme_start"].notna() & (d["month"] < d["programme_start"])].dropna(subset=[measure])
    return float(np.average(d[measure], weights=d["denominator"])) if len(d) else np.nan


def inequality_effects(analysis) -> pd.DataFrame:
    """DiD on each practice-month's gap (Q4-Q5 minus Q1-Q2) and SII, by estimator, with the adopters' baseline value."""
    rows = []
    for (measure, est), fit in analysis.inequality.items():
        r = fit.tidy().iloc[0]
        rows.append({"measure": measure, "estimator": est, "baseline": adopters_baseline(analysis, measure),
                     **{k: float(r[k]) for k in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")}})
    return pd.DataFrame(rows)


def inequality_effects_display(analysis):
    t = inequality_effects(analysis)
    return html_table(pd.DataFrame({
        "Within-practice measure": [labels.WITHIN_PRACTICE_MEASURES[m] for m in t["measure"]],
        "Estimator": [labels.ESTIMATORS[x] for x in t["estimator"]],
        "Adopters' baseline": [format_pp(v) for v in t["baseline"]],
        "Change due to programme (95% CI)": [format_estimate_ci(r.estimate, r.ci_lower, r.ci_upper)
                                             for r in t.itertuples()],
    }))


def parallel_trends(analysis) -> pd.DataFrame:
    """Pre-trend tests: TWFE event-study leads (F test) and the group-time pre-period ATTs (Wald test)."""
    a, b = analysis.settings.contrast
    rows = []
    pt = analysis.event_overall.pretrend_test()
    rows.append({"population": "all", "test": "twfe_leads", "df": pt["df"], "p_value": pt["p_value_f"]})
    for q in (a, b):
        pt = analysis.event_quintile[q].pretrend_test()
        rows.append({"population": f"Q{q}", "test": "twfe_leads", "df": pt["df"], "p_value": pt["p_value_f"]})
    lo = analysis.settings.window[0]
    pt = analysis.gta_overall.pretrend_test(min_event_time=lo)
    rows.append({"population": "all", "test": "group_time_pre", "df": pt["df"], "p_value": pt["p_value"]})
    for q in (a, b):
        pt = analysis.gta_quintile.pretrend_test(q, min_event_time=lo)
        rows.append({"population": f"Q{q}", "test": "group_time_pre", "df": pt["df"], "p_value": pt["p_value"]})
    return pd.DataFrame(rows)


def parallel_trends_display(analysis):
    t = parallel_trends(analysis)
    pops = {"all": "All patients", **{f"Q{q}": labels.QUINTILES[q] for q in QUINTILES}}
    return html_table(pd.DataFrame({"Population": [pops[p] for p in t["population"]],
                                    "Test": [labels.PRETREND_TESTS[x] for x in t["test"]],
                                    "Restrictions": t["df"].astype(int), "p": [format_p(p) for p in t["p_value"]]}))


def gap_sentence(analysis) -> str:
    """Did the within-practice gap narrow? Judged on the headline estimator's 95% CI against the baseline sign."""
    s = analysis.settings
    t = inequality_effects(analysis)
    r = t[(t["measure"] == "gap") & (t["estimator"] == s.estimator)].iloc[0]
    base, unit = r["baseline"], unit_label(s)
    if r["ci_lower"] <= 0 <= r["ci_upper"] or not np.isfinite(base) or base == 0:
        verdict = "there is no clear evidence that the within-practice gap changed"
    elif np.sign(r["estimate"]) != np.sign(base):
        verdict = "the within-practice gap narrowed"
    else:
        verdict = "the within-practice gap widened"
    return (f"Before adoption, the indicator among adopting practices' patients in the least deprived quintile was "
            f"{format_pp(abs(base))} {unit} {'higher' if base > 0 else 'lower'} than in the most deprived quintile. "
            f"The programme changed this gap by {format_pp(r['estimate'])} {unit} "
            f"(95% CI {format_ci(r['ci_lower'], r['ci_upper'])}; {labels.ESTIMATORS[s.estimator]}): "
            f"{verdict}.")


def contrast_sentence(analysis) -> str:
    s = analysis.settings
    a, b = s.contrast
    e = effects_by_quintile(analysis)
    e = e[e["estimator"] == s.estimator]
    ra = e[e["imd_quintile"] == a].iloc[0]
    rb = e[e["imd_quintile"] == b].iloc[0]
    rc = e[e["is_contrast"]].iloc[0]
    clear = not (rc["ci_lower"] <= 0 <= rc["ci_upper"])
    more = "more" if rc["estimate"] > 0 else "less"
    tail = (f"the programme raised the indicator {more} in {labels.QUINTILES[a]} than in {labels.QUINTILES[b]}"
            if clear else f"the effects in {labels.QUINTILES[a]} and {labels.QUINTILES[b]} cannot be told apart")
    text = (f"Compared with practices that had not adopted, the programme changed the indicator by "
            f"{format_pp(ra['estimate'])} {unit_label(s)} in {labels.QUINTILES[a]} and {format_pp(rb['estimate'])} in "
            f"{labels.QUINTILES[b]}; the difference is {format_pp(rc['estimate'])} "
            f"(95% CI {format_ci(rc['ci_lower'], rc['ci_upper'])}), so {tail}.")
    return text + _caution(analysis.twfe_quintile)


def parallel_trends_sentence(analysis) -> str:
    t = parallel_trends(analysis)
    low = t[t["p_value"] < 0.05]
    if low.empty:
        return (f"None of the {len(t)} pre-trend tests rejects parallel pre-adoption trends at the 5% level "
                f"(smallest {p_text(t['p_value'].min())}); this is consistent with, not proof of, parallel trends.")
    return (f"{len(low)} of {len(t)} pre-trend tests reject parallel pre-adoption trends at the 5% level "
            f"(smallest {p_text(t['p_value'].min())}): read the effects with caution.")


# ------------------------------------------------------------------------------ sentences of one fitted estimator
def _caution(fit) -> str:
    msg = fit.few_clusters_message
    return f" Caution: {msg}." if msg else ""


def twfe_sentence(fit, unit: str = labels.OUTCOME_UNITS["percentage_points"]) -> str:
    """A :class:`~beyond_averages.did.twfe.TwoWayFixedEffects` headline: the contrast if it was fitted with one,
    else its first effect."""
    r = fit.effect_summary().iloc[0]
    what = (f"the difference in effect between {fit.by} {fit.contrast_levels[0]} and {fit.contrast_levels[1]}"
            if fit.contrast_levels is not None else "the programme's effect")
    return (f"Two-way fixed effects estimate {what} at {format_pp(r['estimate'])} {unit} "
            f"(95% CI {format_ci(r['ci_lower'], r['ci_upper'])}; {fit.n_clusters} clusters, "
            f"{fit.n_treated_clusters} treated).") + _caution(fit)


def event_study_sentence(fit, unit: str = labels.OUTCOME_UNITS["percentage_points"]) -> str:
    """An :class:`~beyond_averages.did.event_study.EventStudy` headline: range of post-adoption effects and the
    joint pre-trend test."""
    post = fit.effect_summary()
    pt = fit.pretrend_test()
    return (f"Across event times 0 to {int(post['event_time'].max())}, estimates range from "
            f"{format_ci(post['estimate'].min(), post['estimate'].max())} {unit}; the joint test that the "
            f"{pt['df']} pre-adoption coefficients are all zero gives {p_text(pt['p_value_f'])}.")


def group_time_sentence(fit, contrast: tuple | None = None, unit: str = labels.OUTCOME_UNITS["percentage_points"]) -> str:
    """A :class:`~beyond_averages.did.staggered.GroupTimeATT` headline: the simple aggregation (its last level
    with ``by``) or, with ``contrast=(a, b)``, the difference between two levels."""
    r = fit.effect_summary(contrast).iloc[-1]
    what = f"the difference in effect, {r['term']}," if contrast else "the average effect on adopters"
    return (f"Comparing each adoption wave with {fit.comparison.replace('_', '-')} units, {what} is "
            f"{format_pp(r['estimate'])} {unit} (95% CI {format_ci(r['ci_lower'], r['ci_upper'])}).") + _caution(fit)
