"""The chapter "Effects beyond deprivation": the programme's effect in each group of the analysed equity dimension
(ethnic group when the study's dimension is IMD quintile) by every estimator of the evaluation chapters, and each
group's difference from the reference group.

Tables, one figure and computed sentences from :class:`beyond_averages.did.dimension_evaluation.DimensionEvaluation`.
Every difference is worded by the conclusions rule of :mod:`beyond_averages.report.conclusions`: "larger in X than
in the reference" only when the difference's CI lies wholly above 0, "smaller" wholly below, otherwise "no evidence
of a difference". Numbers use the formats of :mod:`beyond_averages.report.tables`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages import labels
from beyond_averages.report.conclusions import DECREASED, INCREASED, NO_CHANGE, NOT_ESTIMABLE, conclusion_label
from beyond_averages.report.tables import (
    disclosure_clause, format_ci, format_count, format_estimate_ci, format_percent, format_signed,
    html_table,
)
from beyond_averages.style import PAGE_WIDTH_IN, figure_style, finish

ESTIMATOR_LABELS = {
    "group_time_att": labels.ESTIMATORS["group_time_att"],
    "twfe": labels.ESTIMATORS["twfe"],
    "group_gap": "Within-practice difference (group-time ATT)",
    "stacked_its": "Stacked controlled ITS",
}
HEADLINE = "group_time_att"
MARKERS = {"group_time_att": ("o", "#1b4f72"), "twfe": ("s", "#b06a00"), "group_gap": ("D", "#52892a"),
           "stacked_its": ("^", "#6c3483")}
WORDS = {INCREASED: "larger", DECREASED: "smaller"}


def _estimator_name(row) -> str:
    name = ESTIMATOR_LABELS[row["estimator"]]
    return f"{name}, {int(row['horizon'])} months" if pd.notna(row["horizon"]) else name


def figure_horizon(analysis) -> int | None:
    """The ITS horizon the figure and the agreement sentence use: the longest one estimated."""
    h = analysis.rows("stacked_its")["horizon"].dropna()
    return int(h.max()) if len(h) else None


def results(analysis) -> pd.DataFrame:
    """One row per estimator (and ITS horizon) x group: ``estimator, horizon, group, label, effect_*`` and
    ``difference_*`` (estimate, ci_lower, ci_upper), ``conclusion`` of the difference by rule ("" for the
    reference)."""
    e = analysis.effects
    key = ["estimator", "horizon", "group", "label"]
    eff = e[e["term"] == "effect"].set_index(key)[["estimate", "ci_lower", "ci_upper"]].add_prefix("effect_")
    dif = e[e["term"] == "difference"].set_index(key)[["estimate", "ci_lower", "ci_upper"]].add_prefix("difference_")
    out = eff.join(dif, how="outer").reset_index()
    order = {g: i for i, g in enumerate(analysis.dimension.codes)}
    est = {k: i for i, k in enumerate(ESTIMATOR_LABELS)}
    out = out.assign(_e=out["estimator"].map(est), _g=out["group"].map(order)).sort_values(
        ["_e", "horizon", "_g"], na_position="first").drop(columns=["_e", "_g"]).reset_index(drop=True)
    out["conclusion"] = [
        "" if r.group == analysis.reference else
        conclusion_label(r.difference_estimate, r.difference_ci_lower, r.difference_ci_upper, 0)
        for r in out.itertuples()]
    return out


def _conclusion_words(label: str) -> str:
    return {"": "reference group", INCREASED: "larger than in the reference group",
            DECREASED: "smaller than in the reference group", NOT_ESTIMABLE: NOT_ESTIMABLE}.get(
                label, "no evidence of a difference")


def results_table(analysis):
    """Every estimator x group: the effect in the group and its difference from the reference (95% CI, pp)."""
    r = results(analysis)
    ref = analysis.dimension.label(analysis.reference)
    return html_table(pd.DataFrame({
        "Estimator": [_estimator_name(row) for _, row in r.iterrows()],
        analysis.dimension.title.capitalize(): r["label"],
        "Effect (pp, 95% CI)": [format_estimate_ci(a, b, c) for a, b, c in
                                 r[["effect_estimate", "effect_ci_lower", "effect_ci_upper"]].itertuples(index=False)],
        f"Difference from {ref} (pp, 95% CI)": [
            "reference" if g == analysis.reference else format_estimate_ci(a, b, c)
            for g, a, b, c in r[["group", "difference_estimate", "difference_ci_lower",
                                 "difference_ci_upper"]].itertuples(index=False)],
        "Conclusion by rule": [_conclusion_words(c) for c in r["conclusion"]],
    }))


def counts_table(analysis):
    """Eligible patients and those meeting the indicator per group, adopting and never-adopting practices, in the
    month before the first wave: released counts, rates from them."""
    c = analysis.counts
    wide = c.pivot(index="group", columns="arm", values=["denominator", "rate"]).reindex(
        list(analysis.dimension.codes))
    return html_table(pd.DataFrame({
        analysis.dimension.title.capitalize(): [analysis.dimension.label(g) for g in wide.index],
        "Adopters: eligible (released)": [format_count(v) for v in wide[("denominator", "adopters")]],
        "Adopters: met the indicator": [format_percent(v) for v in wide[("rate", "adopters")]],
        "Never adopters: eligible (released)": [format_count(v) for v in wide[("denominator", "never adopters")]],
        "Never adopters: met the indicator": [format_percent(v) for v in wide[("rate", "never adopters")]],
    }))


def effects_figure(analysis):
    """Two panels, groups down the side: the effect in each group and each group's difference from the reference,
    one marker per estimator (the ITS at :func:`figure_horizon`), with 95% CIs."""
    import matplotlib.pyplot as plt

    h = figure_horizon(analysis)
    r = results(analysis)
    r = r[(r["estimator"] != "stacked_its") | (r["horizon"] == h)]
    codes = list(analysis.dimension.codes)
    estimators = [k for k in ESTIMATOR_LABELS if k in set(r["estimator"])]
    offsets = dict(zip(estimators, np.linspace(-0.27, 0.27, len(estimators)))) if len(estimators) > 1 else {
        k: 0.0 for k in estimators}
    with figure_style():
        fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 1.6 + 0.55 * len(codes)), sharey=True)
        for ax, part, title in ((axes[0], "effect", "Effect in the group"),
                                (axes[1], "difference",
                                 f"Difference from {analysis.dimension.label(analysis.reference)}")):
            for k in estimators:
                rows = r[(r["estimator"] == k) & r[f"{part}_estimate"].notna()]
                y = np.array([codes.index(g) for g in rows["group"]]) + offsets[k]
                est = rows[f"{part}_estimate"].to_numpy(float)
                err = np.vstack([est - rows[f"{part}_ci_lower"].to_numpy(float),
                                 rows[f"{part}_ci_upper"].to_numpy(float) - est])
                marker, colour = MARKERS[k]
                label = f"{ESTIMATOR_LABELS[k]} ({h} months)" if k == "stacked_its" else ESTIMATOR_LABELS[k]
                ax.errorbar(est, y, xerr=err, fmt=marker, color=colour, ms=5, capsize=2, lw=1.2, label=label)
            ax.axvline(0, color="#333333", lw=0.8)
            ax.set_title(title)
            ax.set_xlabel("Percentage points")
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(range(len(codes)), [analysis.dimension.label(g) for g in codes])
        axes[0].invert_yaxis()
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=2, bbox_to_anchor=(0.5, 0.0))
        fig.tight_layout(rect=(0, 0.5 / fig.get_figheight(), 1, 1))  # room for the two-row legend
    return finish(fig)


# -- sentences -----------------------------------------------------------------------------------------------------
def dimension_sentence(analysis) -> str:
    """Which dimension the chapter splits by, why, and its reference group."""
    d = analysis.dimension
    if analysis.beyond_imd:
        why = (f"The previous chapters evaluate the programme by IMD quintile; this chapter evaluates it by {d.title}, "
               "because CORE20PLUS5 asks systems to look beyond the most deprived areas to its PLUS groups, ethnic "
               "minority groups among them.")
    elif analysis.requested:
        why = (f"This chapter evaluates the programme by {d.title}, as its parameters ask (the equity dimension "
               f"configured for this area is {analysis.configured.title}).")
    else:
        why = f"The equity dimension configured for this area is {d.title}, so the programme is evaluated by {d.title}."
    ref = d.label(analysis.reference)
    if analysis.reference_replaced:
        return (f"{why} The dimension's reference group, {d.label(d.reference)}, has too few eligible patients here "
                f"to be estimated, so each group is compared with the {ref} group, the largest.")
    return f"{why} Each group is compared with the {ref} group, the reference."


def methods_paragraph(analysis) -> str:
    """The settings every estimator used, read from the analysis."""
    s = analysis.settings
    comparison = (f"the {analysis.n_never:,} practices that never adopted" if s.comparison == "never_treated" else
                  f"practices that had not yet adopted (and the {analysis.n_never:,} that never did)")
    weighting = ("effects weighted by eligible patients" if s.weighting == "denominator"
                 else "each practice counted equally")
    horizons = _listed([str(h) for h in analysis.horizons])
    waves = f"{len(analysis.waves)} {_plural(len(analysis.waves), 'wave')}"
    assumption = ("conditional on each practice's group's baseline level and size and on the practice's recovery "
                  "from COVID-19" if s.parallel_trends == "conditional"
                  else "without baseline covariates, as in the difference-in-differences chapter")
    return (f"The {analysis.n_adopters:,} adopting practices ({waves}) are compared with "
            f"{comparison}, {weighting}. The group-time ATT (multiplier bootstrap, {s.n_boot:,} draws; parallel "
            f"trends {assumption}) is the headline estimator and two-way fixed effects (cluster-robust standard errors) the secondary one; the "
            f"within-practice difference between each group and the reference group is analysed by the group-time "
            f"ATT; and the stacked controlled interrupted time series, the ITS chapter's headline, gives the effect "
            f"{horizons} months after each wave's start.")


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _numbers(r) -> str:
    return f"{format_signed(r.estimate)} percentage points, 95% CI {format_ci(r.ci_lower, r.ci_upper, signed=True)}"


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def difference_sentence(analysis, estimator: str = HEADLINE, horizon: int | None = None) -> str:
    """The groups' differences from the reference by one estimator, worded by rule: "larger in X than in the
    reference" (CI above 0), "smaller" (below 0), otherwise "no evidence of a difference"."""
    rows = analysis.rows(estimator, "difference", horizon)
    where = ESTIMATOR_LABELS[estimator] + (f" at {horizon} months" if horizon is not None else "")
    if rows.empty:
        return f"{where}: no group could be compared with the reference group."
    ref = analysis.dimension.label(analysis.reference)
    by_label: dict[str, list[str]] = {}
    for r in rows.itertuples():
        label = conclusion_label(r.estimate, r.ci_lower, r.ci_upper, 0)
        shown = r.label if label == NOT_ESTIMABLE else f"{r.label} ({_numbers(r)})"
        by_label.setdefault(label, []).append(shown)
    clauses = []
    for label in (INCREASED, DECREASED):
        if label in by_label:
            groups = by_label[label]
            clauses.append(f"the effect was {WORDS[label]} in the {_listed(groups)} {_plural(len(groups), 'group')} "
                           f"than in the {ref} group")
    if NO_CHANGE in by_label:
        groups = by_label[NO_CHANGE]
        clauses.append(f"there was no evidence of a difference from the {ref} group for the {_listed(groups)} "
                       f"{_plural(len(groups), 'group')}")
    if NOT_ESTIMABLE in by_label:
        groups = by_label[NOT_ESTIMABLE]
        clauses.append(f"the difference was not estimable for the {_listed(groups)} {_plural(len(groups), 'group')}")
    return f"{where}: " + "; ".join(clauses) + "."


def agreement_sentence(analysis) -> str:
    """Whether the other estimators' conclusions on each group's difference agree with the headline's (the ITS at
    :func:`figure_horizon`)."""
    r = results(analysis)
    h = figure_horizon(analysis)
    r = r[(r["group"] != analysis.reference) & ((r["estimator"] != "stacked_its") | (r["horizon"] == h))]
    same, differ = [], []
    for _, part in r.groupby("group", sort=False):
        head = part.loc[part["estimator"] == HEADLINE, "conclusion"]
        if head.empty:
            continue
        odd = [f"{_lower(_estimator_name(o))} ({_conclusion_words(o['conclusion'])})"
               for _, o in part[part["estimator"] != HEADLINE].iterrows() if o["conclusion"] != head.iloc[0]]
        (differ if odd else same).append((part["label"].iloc[0], odd))
    if not same and not differ:
        return ""
    if not differ:
        each = "the one group" if len(same) == 1 else f"each of the {len(same)} groups"
        return f"Every estimator reaches the headline's conclusion for {each} compared with the reference group."
    told = "; ".join(f"for the {g} group, {_listed(o)}" for g, o in differ)
    return (f"The estimators reach the headline's conclusion for {len(same)} of {len(same) + len(differ)} groups; "
            f"they differ {told}, so there the conclusion rests on the estimator.")


def skipped_note(analysis) -> str:
    """The groups left out of an estimator and why, or that none was."""
    notes = []
    for where, groups in (("every estimator", analysis.did.skipped),
                          ("the within-practice difference", analysis.did.gap_skipped),
                          ("the interrupted time series", analysis.its.skipped)):
        for g, why in groups.items():
            notes.append(f"the {analysis.dimension.label(g)} group from {where} ({why})")
    if not notes:
        return "No group was left out of any estimator."
    return "Left out: " + "; ".join(notes) + "."


def disclosure_sentence(analysis) -> str:
    """The disclosure rule behind the counts and the ITS series."""
    rule = disclosure_clause(analysis.rules)
    return (f"Counts by {analysis.dimension.title} pass statistical disclosure control ({rule}, with complementary "
            "suppression across the groups), and the interrupted time series are fitted to the released monthly "
            "counts only.")

