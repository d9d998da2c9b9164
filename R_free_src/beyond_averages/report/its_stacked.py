"""The ITS chapter's headline section: the stacked controlled ITS of every adoption wave
(:class:`~beyond_averages.its.stacked.StackedControlledITS`), its error model chosen by rule, and the in-time placebo
that flags, by rule, intervals that may be too narrow. Sentences, tables and the event-time figure; numbers come
from the fitted analysis, settings from its settings objects.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from beyond_averages import labels
from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED
from beyond_averages.its.error_models import LJUNG_BOX_ALPHA, LJUNG_BOX_LAG, LOGLIK_TIE
from beyond_averages.report.conclusions import conclusion_label
from beyond_averages.report.its import CONTRAST, _season_text, _wide_by_horizon, q1_q5_sentence, signed
from beyond_averages.report.tables import (
    format_count, format_estimate_ci, format_number, format_p, format_ratio, html_table, join_words,
)
from beyond_averages.style import OVERALL_COLOUR, PAGE_WIDTH_IN, QUINTILE_COLOURS, figure_style, finish

# The Q1 - Q5 row says what it is: the difference of two rows of the same table, not another model.
CONTRAST_ROW = f"{labels.CONTRAST}: the Q{MOST_DEPRIVED} row minus the Q{LEAST_DEPRIVED} row"
ERROR_MODELS = {"ar1_noise": "AR(1) plus white noise", "random_walk": "Random walk plus white noise",
                "independent": "Independent errors"}
ERROR_COLUMNS = {"group": labels.ITS_COLUMNS["group"], "ljung_box_p": f"Ljung–Box p (lag ≤ {LJUNG_BOX_LAG})",
                 "loglik_ar": "REML log-likelihood, AR(1) plus noise",
                 "loglik_rw": "REML log-likelihood, random walk plus noise", "model": "Error model chosen",
                 "wave_correlation": "Correlation between waves"}


def _group_label(g: str) -> str:
    return CONTRAST_ROW if g == CONTRAST else labels.QUINTILES[int(g)]


def _wave_list(st) -> str:
    parts = [f"wave {w}, {format_count(st.n_practices_.get(w, 0))} practices from {st.starts_[w]:%B %Y}"
             for w in st.waves_]
    return "; ".join(parts)


def stacked_methods_sentence(analysis) -> str:
    """The headline design in words: waves (practices, start), comparison practices, model terms, weights, rule."""
    st = analysis.stacked
    s = st.settings
    return (f"Stacked controlled analysis (headline): {len(st.waves_)} adoption waves ({_wave_list(st)}), each "
            f"against the {format_count(analysis.n_comparison)} practices that never adopted the programme; every "
            f"month was used, with a trend for each wave before its own start, {_season_text(s)} shared by the "
            "waves, and one term for each month from a wave's start on. The effect at a horizon is the mean of the "
            "waves' effects that many months after their own start, over the waves followed that long, each wave "
            f"weighted by its eligible patients in the month before its start. {_inference_text(st)} For the "
            "sensitivity analysis's model-based intervals the error model was chosen by rule: "
            f"a Ljung–Box test at lag {LJUNG_BOX_LAG} on each wave's residuals before its start; when no p-value was "
            f"below {LJUNG_BOX_ALPHA} the errors were taken as independent, otherwise two autocorrelated models were "
            "fitted by REML, an AR(1) process plus white noise and a random walk plus white noise (the wander of an "
            "indicator that counts a reading over several years), and the one with the higher restricted "
            f"log-likelihood was used, a difference under {format_number(LOGLIK_TIE, 0)} going to the random walk, "
            "whose intervals are the wider; waves' errors in the same month were allowed to be correlated (they "
            "share the never-adopting practices).")


def _inference_text(st) -> str:
    """How the headline's intervals were computed, with the practices and strata they rest on."""
    jk = st.jackknife_
    if jk is None:
        return "Confidence intervals come from the error model below."
    return (f"Confidence intervals come from a delete-one-practice jackknife over the {format_count(jk.n_clusters)} "
            f"practices in {jk.n_strata} strata (each wave's adopting practices, and the never-adopting practices), "
            "with a t distribution on Satterthwaite degrees of freedom.")


def stacked_effects_table(analysis):
    """Headline table: stacked controlled effect per quintile and Q1 - Q5 (the difference of those two rows) at
    each horizon, 'estimate (95% CI)'."""
    wide = _wide_by_horizon(analysis.stacked_effects())
    wide["group"] = [CONTRAST_ROW if g == labels.CONTRAST else g for g in wide["group"]]
    return html_table(wide, {"group": labels.ITS_COLUMNS["group"]})


def horizon_note(analysis) -> str:
    """Which waves each horizon averages (a wave counts only when it is followed that long)."""
    eff = analysis.stacked_effects().drop_duplicates("horizon")
    parts = [f"{int(r.horizon)} months: wave{'s' if r.n_waves > 1 else ''} {r.waves}" for r in eff.itertuples()]
    return "Waves averaged at each horizon: " + "; ".join(parts) + "."


def stacked_sentence(analysis) -> str:
    """The headline numbers at the longest horizon, with the verdict on Q1 - Q5 by its CI."""
    h = max(analysis.horizons)
    eff = analysis.stacked_effects()
    return q1_q5_sentence(eff[eff["horizon"] == h].set_index("group"),
                          f"Across the adoption waves, {h} months after each wave's start and against never-adopting "
                          "practices of the same quintile")


def _model_based(analysis) -> pd.DataFrame:
    """The headline's effects at the longest horizon with the rule's error-model intervals (the sensitivity
    analysis), indexed by group; the same estimates as the headline's."""
    h = max(analysis.horizons)
    return analysis.stacked.effect_summary((h,), inference="error_model").set_index("group")


def _interval(row) -> str:
    return format_estimate_ci(row["estimate"], row["ci_lower"], row["ci_upper"], 2)


def error_model_table(analysis):
    """Per series: the smallest Ljung-Box p across waves, the REML log-likelihoods of the two autocorrelated error
    models (when the test called for one), the model the rule chose, and the effect at the longest horizon with the
    headline's interval and with that error model's (when the headline's intervals are the practice jackknife's)."""
    d = analysis.stacked.diagnostics()
    h = max(analysis.horizons)
    columns = dict(ERROR_COLUMNS)
    extra = {}
    if analysis.stacked.jackknife_ is not None:
        head = analysis.stacked_effects()
        head = head[head["horizon"] == h].set_index("group")
        model = _model_based(analysis)
        extra = {"headline": [_interval(head.loc[g]) for g in d["group"]],
                 "model_based": [_interval(model.loc[g]) for g in d["group"]]}
        columns |= {"headline": f"Effect at {h} months (95% CI, practice jackknife)",
                    "model_based": "95% CI with the error model chosen"}
    out = pd.DataFrame({
        "group": [_group_label(g) for g in d["group"]],
        "ljung_box_p": d["ljung_box_p"].map(format_p),
        "loglik_ar": d["loglik_ar1_noise"].map(lambda v: format_number(v, 1)),
        "loglik_rw": d["loglik_random_walk"].map(lambda v: format_number(v, 1)),
        "model": d["autocorrelation"].map(ERROR_MODELS),
        "wave_correlation": d["wave_correlation"].map(format_ratio),
        **extra,
    })
    return html_table(out, columns)


def error_model_sentence(analysis) -> str:
    """What the rule chose, counted over the series."""
    d = analysis.stacked.diagnostics()
    counts = d["autocorrelation"].value_counts()
    parts = [f"{_lower(ERROR_MODELS[m])} for {counts[m]}" for m in ERROR_MODELS if m in counts]
    text = f"Of the {len(d)} series, the rule chose {join_words(parts)}."
    if analysis.stacked.jackknife_ is None:
        return text
    h = max(analysis.horizons)
    head = analysis.stacked_effects()
    head = head[head["horizon"] == h].set_index("group").loc[CONTRAST]
    model = _model_based(analysis).loc[CONTRAST]
    verdicts = [conclusion_label(r["estimate"], r["ci_lower"], r["ci_upper"], narrowing=1) for r in (head, model)]
    same = ("so the conclusion on inequality is the same" if verdicts[0] == verdicts[1] else
            f"so the conclusion on inequality would change from '{verdicts[0]}' to '{verdicts[1]}'")
    width = (model["ci_upper"] - model["ci_lower"]) / (head["ci_upper"] - head["ci_lower"])
    return (f"{text} With those error models instead of the practice jackknife, the {labels.CONTRAST} effect at {h} "
            f"months has the interval {format_number(model['ci_lower'], 2)} to {format_number(model['ci_upper'], 2)} "
            f"percentage points ({format_ratio(width)} times the headline's width), {same}.")


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def placebo_sentence(analysis) -> str:
    """The in-time placebo by rule: every start moved back, where the true effect is zero; any interval excluding
    zero is named, and the headline intervals are then said to be possibly too narrow."""
    if analysis.placebo is None:
        return ("The in-time placebo could not be fitted (too few months before the moved starts), so nothing checks "
                "whether the intervals of the stacked analysis are wide enough.")
    p = analysis.placebo_effects()
    shift = analysis.placebo_shift
    head = (f"In-time placebo: with every wave's start moved {shift} months earlier, so that every horizon falls "
            f"before the programme began and the true effect is zero, the same model gave {len(p)} intervals")
    bad = p[p["excludes_zero"]]
    if bad.empty:
        return f"{head}, none of which excluded zero: no sign that the headline intervals are too narrow."
    named = ", ".join(f"{_group_label(r.group).split(':')[0]} at {int(r.horizon)} months ({signed(r.estimate)})"
                      for r in bad.itertuples())
    return (f"{head}, of which {len(bad)} excluded zero: {named}. The model's counterfactual can therefore stray "
            "from the truth by more than its interval allows, and every interval of the stacked analysis should be "
            "read as possibly too narrow, those of the series named most of all.")


def event_time_figure(analysis):
    """Effect by months since each wave's start, per quintile and Q1 - Q5, with the 95% band."""
    tab = analysis.stacked.plot_data()
    groups = [str(q) for q in range(1, 6)] + [CONTRAST]
    with figure_style():
        fig, grid = plt.subplots(2, 3, figsize=(PAGE_WIDTH_IN, 5.2), sharex=True)
        for ax, g in zip(grid.ravel(), groups):
            d = tab[tab["group"] == g]
            colour = QUINTILE_COLOURS[int(g)] if g != CONTRAST else OVERALL_COLOUR
            ax.fill_between(d["horizon"], d["ci_lower"], d["ci_upper"], color=colour, alpha=0.2, lw=0)
            ax.plot(d["horizon"], d["estimate"], color=colour, lw=1.4)
            ax.axhline(0, color="grey", lw=0.6)
            for h in analysis.horizons:
                ax.axvline(h, color="grey", lw=0.5, ls=":")
            ax.set_title(labels.CONTRAST if g == CONTRAST else labels.QUINTILES[int(g)], fontsize=10)
        for ax in grid[1, :]:
            ax.set_xlabel("Months since the wave's start")
        for ax in grid[:, 0]:
            ax.set_ylabel("Effect (pp)")
        fig.tight_layout()
    return finish(fig)
