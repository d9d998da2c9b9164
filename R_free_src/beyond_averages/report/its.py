"""Figures, tables and sentences of the interrupted-time-series chapter, built from a fitted
:class:`~beyond_averages.its.ITSAnalysis` (all formatting lives here; the models hold tidy numbers and draw nothing:
figures come from their ``plot_data()``).

The headline, the stacked controlled ITS of every wave, is drawn by :mod:`beyond_averages.report.its_stacked`.
Here, secondary: the controlled ITS of one wave by quintile (wave practices minus never-adopting practices), the
uncontrolled per-quintile fits, the Q1-vs-Q5 interaction model of those series and the gap / SII series.
Figures with several panels use two rows of three with the legend in the sixth panel, readable at page width;
every figure function returns a figure closed with :func:`beyond_averages.style.finish` (end the notebook cell
with it, so it shows once).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from beyond_averages import labels
from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED
from beyond_averages.its.comparative import ComparativeSegmentedRegression, ControlledQuintileITS
from beyond_averages.report.counterfactual_plot import plot_counterfactual, quintile_panels
from beyond_averages.report.tables import (
    format_ci, format_estimate_ci, format_level, format_number, format_p, format_pp, format_ratio, format_signed,
    html_table, p_text,
)
from beyond_averages.style import (
    COMPARISON_COLOUR, OVERALL_COLOUR, PAGE_WIDTH_IN, QUINTILE_COLOURS, TREATED_COLOUR, figure_style, finish,
    year_axis,
)

CONTRAST = labels.CONTRAST_KEY
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
GROUP_LABELS = {**{str(q): v for q, v in labels.QUINTILES.items()}, CONTRAST: labels.CONTRAST}
# Column headers of this chapter's tables (candidates for beyond_averages.labels.COLUMNS).


# ---------------------------------------------------------------------------------------------------------------
# Display labels
# ---------------------------------------------------------------------------------------------------------------
def signed(x, digits: int = 2) -> str:
    """'+1.23' / '-0.45', never '-0.00' (:func:`beyond_averages.report.tables.format_signed`)."""
    return format_signed(x, digits)


def correction_label(model) -> str:
    """Display label of the autocorrelation handling a fitted model used (never the option's code value)."""
    used = model.autocorrelation_used_
    if used == "gls":
        s = model.settings
        return ("GLS, AR(1) + noise (REML)" if s.gls_correlation == "ar1_noise"
                else f"GLS, ARMA({s.ar_order}, {s.ma_order}) (REML)")
    return {"newey_west": "Newey–West", "none": "None (model-based)",
            "ar": f"AR({model.settings.ar_order}) errors (ML)"}.get(used, used)


def _season_text(s) -> str:
    if s.seasonality == "fourier":
        n = int(s.harmonics)
        return f"{NUMBER_WORDS[n]} pair{'s' if n > 1 else ''} of Fourier terms for seasonality"
    return {"month": "calendar-month terms for seasonality", "none": "no seasonal terms"}[s.seasonality]


def _covid_span(s) -> str:
    return f"{pd.Timestamp(s.covid_start):%B %Y} to {pd.Timestamp(s.covid_end):%B %Y}"


def _covid_text(s) -> str:
    span = _covid_span(s)
    return {"exclude": f"the months {span} (the COVID-19 disruption up to the programme's start) left out of the fit",
            "indicator": f"an indicator for the months {span} (COVID-19 disruption)",
            "none": "no COVID-19 adjustment"}[s.covid]


def _autocorrelation_text(s) -> str:
    gls = (f"ARMA({s.ar_order}, {s.ma_order}) errors" if s.gls_correlation == "arma"
           else "errors an AR(1) process plus white noise")
    return {"auto": "Newey–West standard errors where a Ljung–Box test found residual autocorrelation (p < 0.05)",
            "newey_west": "Newey–West standard errors", "none": "model-based standard errors",
            "ar": f"AR({s.ar_order}) errors fitted by maximum likelihood",
            "gls": f"generalised least squares ({gls}, estimated by REML)"}[s.autocorrelation]


# ---------------------------------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------------------------------
def _indicator_text(area: str) -> str:
    """'Indicator: <label> (look-back 60 months). ' for a configured clinical area, else ''."""
    from beyond_averages import config

    if area not in config.list_areas():
        return ""
    a = config.load_area(area)
    back = a.indicator.lookback_months
    return f"Indicator: {a.indicator_label}" + (f" (look-back {back} months). " if back else ". ")


def methods_sentence(analysis) -> str:
    """The numbers of the methods section: indicator, practices, interruption and every model option, in words."""
    s, c = analysis.settings, analysis.controlled_settings
    controlled_covid = ("all months used (the COVID-19 disruption hit both groups of practices and cancels in "
                        "their difference)" if c.covid == "none" else _covid_text(c))
    wave = (f"Adoption wave {analysis.wave}: {analysis.n_practices} practices started the programme in "
            f"{analysis.interruption:%B %Y} (the interruption, counted as the first post month) and "
            f"{analysis.n_comparison} practices never adopted it.")
    controlled = (f"Controlled analysis: {controlled_covid}; each difference series was fitted with "
                  f"{_autocorrelation_text(c)}.")
    uncontrolled = (f"Uncontrolled analysis: a {labels.FAMILIES[s.family]} with {_season_text(s)}, "
                    f"{_covid_text(s)}, and {_autocorrelation_text(s)}.")
    return _indicator_text(analysis.area) + " ".join([wave, controlled, uncontrolled])


def controlled_sentence(analysis) -> str:
    """Headline: controlled effects in Q1 and Q5 and their difference at the longest horizon, with a verdict."""
    h = max(analysis.horizons)
    eff = analysis.controlled_effects()
    return q1_q5_sentence(eff[eff["horizon"] == h].set_index("group"),
                          f"{h} months after the start, compared with never-adopting practices of the same quintile")


def q1_q5_sentence(eff: pd.DataFrame, opening: str) -> str:
    """The effects in Q1 and Q5 and their difference (rows of ``eff`` indexed by group, one horizon), with the
    verdict on the difference by its CI, after ``opening`` (which says which analysis and horizon)."""
    q1, q5, d = eff.loc[str(MOST_DEPRIVED)], eff.loc[str(LEAST_DEPRIVED)], eff.loc[CONTRAST]
    if d["ci_lower"] > 0:
        verdict = "the most deprived quintile gained more than the least deprived"
    elif d["ci_upper"] < 0:
        verdict = "the least deprived quintile gained more than the most deprived"
    else:
        verdict = "no difference between the most and least deprived quintiles was detected"
    ci = lambda r: f"95% CI {signed(r['ci_lower'])} to {signed(r['ci_upper'])}"  # noqa: E731
    return (f"{opening}, the programme changed the indicator by {signed(q1['estimate'])} percentage points in the "
            f"most deprived quintile ({ci(q1)}) and by {signed(q5['estimate'])} in the least deprived ({ci(q5)}). "
            f"The difference, {labels.CONTRAST}, was {signed(d['estimate'])} percentage points ({ci(d)}; "
            f"{p_text(d['p_value'])}): {verdict}.")


def uncontrolled_sentence(analysis) -> str:
    """How far the uncontrolled per-quintile fits are from the controlled ones at the longest horizon, and why."""
    h = max(analysis.horizons)
    cmp = analysis.uncontrolled_vs_controlled()
    cmp = cmp[cmp["horizon"] == h].set_index("group")
    q = cmp.drop(index=CONTRAST)["difference"]
    direction = "lower" if q.mean() < 0 else "higher"
    s = analysis.settings
    trend = "pre-COVID-19 trend" if s.covid == "exclude" else "pre-programme trend"
    gap = (f"Without the comparison practices, the per-quintile effects at {h} months were {signed(q.min())} to "
           f"{signed(q.max())} percentage points away from the controlled ones (mean {signed(q.mean())}; "
           f"uncontrolled minus controlled), and the {labels.CONTRAST} contrast "
           f"{signed(cmp.loc[CONTRAST, 'difference'])} away ({signed(cmp.loc[CONTRAST, 'uncontrolled'])} against "
           f"{signed(cmp.loc[CONTRAST, 'controlled'])}).")
    why = ("An uncontrolled counterfactual carries the " + trend + " forward, so anything that moved every practice "
           f"after {pd.Timestamp(s.covid_start):%B %Y} -- the disruption itself and a recovery slower than that trend "
           "assumes -- is counted as programme effect; the never-adopting practices went through the same months, "
           "and subtracting them removes it. The uncontrolled estimates are " + direction + " on average: that part "
           "of them reflects shocks shared by all practices, not the programme.")
    return f"{gap} {why}"


def gap_sentence(analysis) -> str:
    """Did the (uncontrolled) Q5 - Q1 gap of the wave practices move from its counterfactual?"""
    h = max(analysis.horizons)
    eff = analysis.gap_fit.effect_summary([h])
    row = eff[eff["measure"] == "absolute"].iloc[0]
    cf_gap, change = row["counterfactual"], row["estimate"]
    toward_zero = np.sign(change) == -np.sign(cf_gap)
    excludes = row["ci_lower"] > 0 or row["ci_upper"] < 0
    verdict = ("narrowed" if toward_zero else "widened") if excludes else "did not change detectably"
    return (f"Uncontrolled: {h} months after the programme started, the gap between the least and most deprived "
            f"quintiles of the programme practices (Q5 minus Q1) was {signed(change)} percentage points away from its "
            f"counterfactual of {format_pp(cf_gap)} (95% CI {format_ci(row['ci_lower'], row['ci_upper'], signed=True)}): the "
            f"inequality {verdict}.")


def uncontrolled_figure_note(analysis) -> str:
    """What the open points and the counterfactual of the uncontrolled figure are, from the settings."""
    s = analysis.settings
    left_out = []
    if s.covid == "exclude":
        left_out.append(f"{_covid_span(s)} (the COVID-19 disruption up to the programme's start)")
    if s.transition_months:
        left_out.append(f"the {s.transition_months} transition month(s) from the programme's start")
    points = (f"Open points are the months left out of the uncontrolled fits: {' and '.join(left_out)}"
              if left_out else "Every month was used in the uncontrolled fits")
    before = f" before {pd.Timestamp(s.covid_start):%B %Y}" if s.covid == "exclude" else ""
    return f"{points}. Each counterfactual carries forward the trend of the fitted months{before}."


def effect_sentence(model, effects: pd.DataFrame) -> str:
    """One sentence on the last horizon of ``model.effect_summary(...)`` (a difference where the model has one)."""
    level = f"{format_level(1 - model.settings.alpha)} CI"
    if isinstance(model, ControlledQuintileITS):
        d = effects[effects["group"] == CONTRAST].iloc[-1]
        return (f"At {int(d['horizon'])} months the controlled effect in the most deprived quintile minus that in "
                f"the least deprived was {signed(d['estimate'])} percentage points ({level} "
                f"{format_ci(d['ci_lower'], d['ci_upper'], signed=True)}).")
    if isinstance(model, ComparativeSegmentedRegression):
        d = effects[(effects["group"] == f"{model.focal} - {model.reference}") & (effects["measure"] == "absolute")]
        d = d.iloc[-1]
        return (f"At {int(d['horizon'])} months the effect in {model.focal} differed from that in {model.reference} "
                f"by {signed(d['estimate'])} ({level} {format_ci(d['ci_lower'], d['ci_upper'], signed=True)}; "
                f"{p_text(d['p_value'])}).")
    d = effects[effects["measure"] == "absolute"].iloc[-1]
    return (f"{int(d['horizon'])} months after the interruption the fitted value was {signed(d['estimate'])} ({level} "
            f"{format_ci(d['ci_lower'], d['ci_upper'], signed=True)}) compared with the counterfactual "
            f"({model.settings.ci_method} method).")


# ---------------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------------
def controlled_figure(analysis):
    """Headline figure: per quintile, the programme practices' indicator minus that of never-adopting practices,
    with the fitted segmented regression and the counterfactual (the difference's pre-period trend carried on)."""
    c = analysis.controlled
    frames = {int(q): part.reset_index(drop=True) for q, part in c.plot_data().groupby(c.quintile_col, sort=True)}
    return quintile_panels(frames, analysis.interruption, "Programme minus comparison (pp)", zero_line=True)


def quintile_fit_figure(analysis):
    """Secondary: the uncontrolled fit of the programme practices' own series in each quintile."""
    frames = {q: f.plot_data() for q, f in analysis.quintile_fits.items()}
    return quintile_panels(frames, analysis.interruption, "Indicator (%)")


def arms_figure(analysis):
    """The two series behind the controlled analysis, per quintile: programme and never-adopting practices."""
    data = analysis.arm_series
    with figure_style():
        fig, grid = plt.subplots(2, 3, figsize=(PAGE_WIDTH_IN, 5.2), sharey=True, sharex=True)
        axes = grid.ravel()
        for ax, q in zip(axes, sorted(data["imd_quintile"].unique())):
            for arm, colour, label in (("programme", TREATED_COLOUR, f"Wave {analysis.wave} programme practices"),
                                       ("comparison", COMPARISON_COLOUR, "Never-adopting practices")):
                d = data[(data["imd_quintile"] == q) & (data["arm"] == arm)]
                ax.plot(d["month"], d["rate"], color=colour, lw=1.2, label=label)
            ax.axvline(analysis.interruption, color="grey", lw=0.8, ls=":", label="Programme start")
            ax.set_title(labels.QUINTILES[int(q)], fontsize=10)
            year_axis(ax, step=2)
        for ax in grid[:, 0]:
            ax.set_ylabel("Indicator (%)")
        handles, names = axes[0].get_legend_handles_labels()
        axes[5].axis("off")
        axes[5].legend(handles, names, loc="center")
        fig.tight_layout()
    return finish(fig)


def inequality_fit_figure(analysis):
    """Secondary (uncontrolled): segmented regression of the monthly gap (Q5 - Q1) and SII, percentage points."""
    fits = [("Gap (Q5 minus Q1), pp", analysis.gap_fit)]
    if analysis.sii_fit is not None:
        fits.append(("Slope index of inequality, pp", analysis.sii_fit))
    with figure_style():
        fig, axes = plt.subplots(1, len(fits), figsize=(PAGE_WIDTH_IN, 3.4), squeeze=False)
        for ax, (label, fit) in zip(axes[0], fits):
            plot_counterfactual(fit.plot_data(), analysis.interruption, ax=ax, title=label, ylabel="pp")
            ax.axhline(0, color="grey", lw=0.6)
            year_axis(ax)
        axes[0, 0].legend(loc="best")
        fig.tight_layout()
    return finish(fig)


def diagnostics_figure(analysis):
    """Autocorrelation of the normalized residuals of the controlled Q1, Q5 and Q1 - Q5 models (what the error
    model left), with the +/- 1.96/sqrt(n) band."""
    c = analysis.controlled
    fits = [(labels.QUINTILES[MOST_DEPRIVED], c.fits_[MOST_DEPRIVED], QUINTILE_COLOURS[MOST_DEPRIVED]),
            (labels.QUINTILES[LEAST_DEPRIVED], c.fits_[LEAST_DEPRIVED], QUINTILE_COLOURS[LEAST_DEPRIVED]),
            (labels.CONTRAST, c.contrast_, OVERALL_COLOUR)]
    with figure_style():
        fig, axes = plt.subplots(1, 3, figsize=(PAGE_WIDTH_IN, 2.8), sharey=True)
        for ax, (name, fit, colour) in zip(axes, fits):
            a = fit.acf()
            ax.bar(a["lag"], a["acf"], color=colour, width=0.6)
            for sign in (1, -1):
                ax.axhline(sign * a["band"].iloc[0], color="grey", ls="--", lw=0.8)
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("Lag (months)")
        axes[0].set_ylabel("Residual autocorrelation")
        fig.tight_layout()
    return finish(fig)


# ---------------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------------
def _wide_by_horizon(eff: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """One row per group, one 'estimate (CI)' column per horizon."""
    cells = eff.assign(cell=[format_estimate_ci(e, lo, hi, digits) for e, lo, hi in
                             zip(eff["estimate"], eff["ci_lower"], eff["ci_upper"])])
    wide = cells.pivot(index="group", columns="horizon", values="cell")
    order = [g for g in GROUP_LABELS if g in wide.index]
    wide = wide.loc[order]
    wide.columns = [f"{h} months" for h in wide.columns]
    return wide.reset_index().assign(group=lambda d: d["group"].map(GROUP_LABELS))


def controlled_effects_table(analysis):
    """Headline table: controlled effect per quintile and Q1 - Q5 at each horizon, 'estimate (95% CI)'."""
    return html_table(_wide_by_horizon(analysis.controlled_effects()), {"group": labels.ITS_COLUMNS["group"]})


def controlled_change_table(analysis):
    """Level change and slope change of the controlled difference per quintile and Q1 - Q5, with p-values."""
    tab = analysis.controlled.tidy()
    models = {**{str(q): f for q, f in analysis.controlled.fits_.items()}, CONTRAST: analysis.controlled.contrast_}
    out = pd.DataFrame({
        "group": tab["group"].map(GROUP_LABELS),
        "term": tab["term"].map(labels.ITS_TERMS),
        "estimate": [format_estimate_ci(e, lo, hi) for e, lo, hi in
                     zip(tab["estimate"], tab["ci_lower"], tab["ci_upper"])],
        "p_value": tab["p_value"].map(format_p),
        "correction": [correction_label(models[g]) for g in tab["group"]],
    })
    return html_table(out, {k: labels.ITS_COLUMNS[k] for k in ("group", "estimate", "correction")})


def uncontrolled_effects_table(analysis):
    """Secondary table: uncontrolled effect per quintile (and Q1 - Q5 from the interaction model) by horizon."""
    eff = analysis.quintile_effects()
    eff = eff[eff["measure"] == "absolute"].assign(group=lambda d: d["imd_quintile"].astype(str))
    con = analysis.contrast.effect_summary(analysis.horizons)
    con = con[(con["measure"] == "absolute") & (con["group"] == CONTRAST)]
    return html_table(_wide_by_horizon(pd.concat([eff, con], ignore_index=True)),
                      {"group": labels.ITS_COLUMNS["group"]})


def diagnostics_table(analysis):
    """Durbin-Watson and Ljung-Box per fitted series, controlled and uncontrolled, with the correction used."""
    c = analysis.controlled
    fits = ([("Controlled", labels.QUINTILES[q], f) for q, f in c.fits_.items()]
            + [("Controlled", labels.CONTRAST, c.contrast_)]
            + [("Uncontrolled", labels.QUINTILES[q], f) for q, f in analysis.quintile_fits.items()]
            + [("Uncontrolled", "Gap (Q5 minus Q1)", analysis.gap_fit)])
    if analysis.sii_fit is not None:
        fits.append(("Uncontrolled", "SII", analysis.sii_fit))
    rows = []
    for model, name, fit in fits:
        d = fit.diagnostics().set_index("statistic")
        rows.append({"model": model, "series": name, "durbin_watson": format_ratio(d.loc["durbin_watson", "value"]),
                     "ljung_box": f"{format_number(d.loc['ljung_box', 'value'], 1)} "
                                  f"(lag {int(d.loc['ljung_box', 'lag'])})",
                     "p_value": format_p(d.loc["ljung_box", "p_value"]), "correction": correction_label(fit)})
    names = ("model", "series", "durbin_watson", "ljung_box", "p_value", "correction")
    return html_table(pd.DataFrame(rows), {k: labels.ITS_COLUMNS[k] for k in names})
