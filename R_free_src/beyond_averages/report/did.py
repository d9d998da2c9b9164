"""Figures, tables and computed sentences of the chapter "Difference-in-differences by deprivation".

Every function takes a fitted :class:`beyond_averages.did_analysis.DidAnalysis` and returns a figure ``(fig, ax)``,
a tidy DataFrame (numbers stay numeric; ``*_display`` functions format for the page) or a sentence string.
Counts from patient records (numerators, denominators) pass ``disclosure.release_counts`` before any rate or count
reaches a page: the raw-trend rates are recomputed from released counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages.deprivation import QUINTILE_LABELS, QUINTILES
from beyond_averages.disclosure import release_counts
from beyond_averages.report.tables import format_estimate_ci, format_p, html_table
from beyond_averages.style import COMPARISON_COLOUR, QUINTILE_COLOURS, TREATED_COLOUR, figure_style, finish

ESTIMATOR_LABELS = {"twfe": "Two-way fixed effects", "group_time_att": "Group-time ATT (Callaway-Sant'Anna)"}


def _released_trends(analysis) -> pd.DataFrame:
    p = analysis.panel.assign(adopter=analysis.panel["programme_start"].notna())
    agg = p.groupby(["imd_quintile", "adopter", "month"], as_index=False)[["numerator", "denominator"]].sum()
    scale = 100.0 if analysis.settings.outcome_scale == "percentage_points" else 1.0
    out = release_counts(agg, rate_column="rate", per=scale)
    return out


def raw_trends_figure(analysis):
    """Indicator by month for adopting vs comparison practices, one panel per IMD quintile (released counts)."""
    import matplotlib.pyplot as plt

    data = _released_trends(analysis)
    waves = sorted(analysis.panel["programme_start"].dropna().unique())
    with figure_style():
        # Two rows of three, the sixth panel holding the legend: readable at the page's width.
        fig, grid = plt.subplots(2, 3, figsize=(9, 5.6), sharey=True, sharex=True)
        axes = grid.ravel()
        for ax, q in zip(axes, QUINTILES):
            for adopter, colour, label in ((True, TREATED_COLOUR, "Adopting practices"),
                                           (False, COMPARISON_COLOUR, "Never adopted")):
                d = data[(data["imd_quintile"] == q) & (data["adopter"] == adopter)]
                ax.plot(d["month"], d["rate"], color=colour, lw=1.2, label=label)
            for i, wv in enumerate(waves):
                ax.axvline(wv, color="grey", lw=0.6, ls=":", label="Adoption waves" if i == 0 else None)
            ax.set_title(QUINTILE_LABELS[q], fontsize=10)
            ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ylabel = "Indicator (%)" if analysis.settings.outcome_scale == "percentage_points" else "Indicator"
        for ax in grid[:, 0]:
            ax.set_ylabel(ylabel)
        handles, labels = axes[0].get_legend_handles_labels()
        axes[5].axis("off")
        axes[5].legend(handles, labels, loc="center", fontsize=10)
        axes[5].tick_params(labelleft=False)
        fig.tight_layout()
    return finish(fig), axes


def event_study_figure(analysis):
    """Left: overall event study (TWFE leads/lags and group-time ATT by event time). Right: Q_a vs Q_b."""
    import matplotlib.pyplot as plt

    a, b = analysis.settings.contrast
    lo, hi = analysis.settings.window
    with figure_style():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        analysis.event_overall.plot(ax=ax1, label="TWFE event study", color="#333333", offset=-0.15)
        gd = analysis.gta_overall.plot_data()
        gd = gd[(gd["event_time"] >= lo) & (gd["event_time"] <= hi)]
        ax1.errorbar(gd["event_time"] + 0.15, gd["estimate"], yerr=[gd["estimate"] - gd["ci_lower"],
                     gd["ci_upper"] - gd["estimate"]], fmt="s", ms=3, lw=0.8, color="#b2182b", label="Group-time ATT")
        ax1.set_title("All patients")
        ax1.legend(fontsize=8)
        for q, off in ((a, -0.15), (b, 0.15)):
            analysis.event_quintile[q].plot(ax=ax2, label=QUINTILE_LABELS[q], color=QUINTILE_COLOURS[q], offset=off)
        ax2.set_title(f"Q{a} vs Q{b} (TWFE event study)")
        ax2.legend(fontsize=8)
        ax2.set_xlabel("Months since adoption")
    return fig, (ax1, ax2)


def cohort_table(analysis) -> pd.DataFrame:
    """Adoption waves: practices and patients (denominator in the wave's start month), released counts."""
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
    return release_counts(out, pairs=(), counts=["practices", "patients"], rate_column=None)


def cohort_table_display(analysis):
    t = cohort_table(analysis)
    return html_table(pd.DataFrame({
        "Adoption wave": [w.strftime("%B %Y") if pd.notna(w) else "Never adopted" for w in t["wave"]],
        "Practices": [f"{v:,.0f}" if pd.notna(v) else "[REDACTED]" for v in t["practices"]],
        "Patients at start": [f"{v:,.0f}" if pd.notna(v) else "[REDACTED]" for v in t["patients"]],
    }))


def effects_by_quintile(analysis) -> pd.DataFrame:
    """Tidy effects per quintile and the Q_a - Q_b contrast (triple difference), both estimators."""
    a, b = analysis.settings.contrast
    tw = analysis.twfe_quintile.summary()
    tw["estimator"] = "twfe"
    gt = analysis.gta_quintile.summary(contrast=(a, b))
    gt["estimator"] = "group_time_att"
    keep = ["estimator", "term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    out = pd.concat([tw[keep + ["wild_p_value"]], gt[keep]], ignore_index=True)
    out["imd_quintile"] = [int(t.split("=")[1]) if " - " not in t else np.nan for t in out["term"]]
    out["is_contrast"] = out["term"].str.contains(" - ")
    return out


def effects_by_quintile_display(analysis):
    e = effects_by_quintile(analysis)
    a, b = analysis.settings.contrast
    rows = []
    for key in list(QUINTILES) + ["contrast"]:
        sel = e["is_contrast"] if key == "contrast" else e["imd_quintile"] == key
        label = f"Difference {QUINTILE_LABELS[a]} minus {QUINTILE_LABELS[b]}" if key == "contrast" else \
            QUINTILE_LABELS[key]
        row = {"IMD quintile": label}
        for est in ("twfe", "group_time_att"):
            r = e[sel & (e["estimator"] == est)].iloc[0]
            row[ESTIMATOR_LABELS[est]] = format_estimate_ci(r["estimate"], r["ci_lower"], r["ci_upper"])
        rows.append(row)
    return html_table(pd.DataFrame(rows))


def triple_difference(analysis) -> pd.DataFrame:
    e = effects_by_quintile(analysis)
    return e[e["is_contrast"]].drop(columns=["imd_quintile", "is_contrast"]).reset_index(drop=True)


def triple_difference_display(analysis):
    t = triple_difference(analysis)
    return html_table(pd.DataFrame({
        "Estimator": [ESTIMATOR_LABELS[x] for x in t["estimator"]],
        "Difference in effect (95% CI)": [format_estimate_ci(r.estimate, r.ci_lower, r.ci_upper)
                                          for r in t.itertuples()],
        "p (cluster-robust)": [format_p(p) for p in t["p_value"]],
        "p (wild cluster bootstrap)": [format_p(p) for p in t["wild_p_value"]],
    }))


def _baseline(analysis, measure: str) -> float:
    """Denominator-weighted pre-adoption mean of a within-practice measure among adopting practices."""
    d = analysis.inequality_panel
    d = d[d["programme_start"].notna() & (d["month"] < d["programme_start"])].dropna(subset=[measure])
    return float(np.average(d[measure], weights=d["denominator"])) if len(d) else np.nan


def inequality_effects(analysis) -> pd.DataFrame:
    """DiD on each practice-month's gap (Q5 - Q1) and SII, by estimator, with the adopters' baseline value."""
    rows = []
    for (measure, est), fit in analysis.inequality.items():
        r = fit.summary().iloc[0] if est == "twfe" else fit.aggregate("simple").iloc[0]
        rows.append({"measure": measure, "estimator": est, "baseline": _baseline(analysis, measure),
                     **{k: float(r[k]) for k in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")}})
    return pd.DataFrame(rows)


def inequality_effects_display(analysis):
    t = inequality_effects(analysis)
    names = {"gap": "Gap, Q5 minus Q1", "sii": "Slope index of inequality"}
    return html_table(pd.DataFrame({
        "Within-practice measure": [names[m] for m in t["measure"]],
        "Estimator": [ESTIMATOR_LABELS[x] for x in t["estimator"]],
        "Adopters' baseline": [f"{v:.2f}" for v in t["baseline"]],
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
    tests = {"twfe_leads": "TWFE event study: all leads = 0 (F)",
             "group_time_pre": "Group-time ATT: event-time effects before adoption = 0 (Wald)"}
    pops = {"all": "All patients", **{f"Q{q}": QUINTILE_LABELS[q] for q in QUINTILES}}
    return html_table(pd.DataFrame({"Population": [pops[p] for p in t["population"]],
                                    "Test": [tests[x] for x in t["test"]],
                                    "Restrictions": t["df"].astype(int), "p": [format_p(p) for p in t["p_value"]]}))


def gap_sentence(analysis) -> str:
    """Did the within-practice gap narrow? Judged on the headline estimator's 95% CI against the baseline sign."""
    s = analysis.settings
    t = inequality_effects(analysis)
    r = t[(t["measure"] == "gap") & (t["estimator"] == s.estimator)].iloc[0]
    base, unit = r["baseline"], s.unit_label
    if r["ci_lower"] <= 0 <= r["ci_upper"] or not np.isfinite(base) or base == 0:
        verdict = "there is no clear evidence that the within-practice gap changed"
    elif np.sign(r["estimate"]) != np.sign(base):
        verdict = "the within-practice gap narrowed"
    else:
        verdict = "the within-practice gap widened"
    return (f"Before adoption, the indicator among adopting practices' patients in the least deprived quintile was "
            f"{abs(base):.1f} {unit} {'higher' if base > 0 else 'lower'} than in the most deprived quintile. "
            f"The programme changed this gap by {r['estimate']:.2f} {unit} "
            f"(95% CI {r['ci_lower']:.2f} to {r['ci_upper']:.2f}; {ESTIMATOR_LABELS[s.estimator]}): "
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
    tail = (f"the programme raised the indicator {more} in {QUINTILE_LABELS[a]} than in {QUINTILE_LABELS[b]}"
            if clear else f"the effects in {QUINTILE_LABELS[a]} and {QUINTILE_LABELS[b]} cannot be told apart")
    text = (f"Compared with practices that had not adopted, the programme changed the indicator by "
            f"{ra['estimate']:.2f} {s.unit_label} in {QUINTILE_LABELS[a]} and {rb['estimate']:.2f} in "
            f"{QUINTILE_LABELS[b]}; the difference is {rc['estimate']:.2f} (95% CI {rc['ci_lower']:.2f} to "
            f"{rc['ci_upper']:.2f}), so {tail}.")
    msg = analysis.twfe_quintile.few_clusters_message
    if msg:
        text += f" Caution: {msg}."
    return text


def parallel_trends_sentence(analysis) -> str:
    t = parallel_trends(analysis)
    low = t[t["p_value"] < 0.05]
    if low.empty:
        return (f"None of the {len(t)} pre-trend tests rejects parallel pre-adoption trends at the 5% level "
                f"(smallest p = {t['p_value'].min():.3f}); this is consistent with, not proof of, parallel trends.")
    return (f"{len(low)} of {len(t)} pre-trend tests reject parallel pre-adoption trends at the 5% level "
            f"(smallest p = {t['p_value'].min():.3f}): read the effects with caution.")
