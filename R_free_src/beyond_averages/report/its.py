"""Figures, tables and sentences of the interrupted-time-series chapter, built from a fitted
:class:`~beyond_averages.its_inequality.ITSAnalysis` (all formatting lives here; the models hold tidy numbers).

Headline: the controlled ITS by quintile (wave practices minus never-adopting practices). Secondary: the
uncontrolled per-quintile fits, the Q1-vs-Q5 interaction model of those series and the gap / SII series.
Figures with several panels use two rows of three with the legend in the sixth panel, readable at page width;
every figure function returns a figure closed with :func:`beyond_averages.style.finish` (end the notebook cell
with it, so it shows once).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED, QUINTILE_LABELS
from beyond_averages.report.tables import format_estimate_ci, format_p, html_table
from beyond_averages.style import (
    COMPARISON_COLOUR, OVERALL_COLOUR, QUINTILE_COLOURS, TREATED_COLOUR, figure_style, finish,
)

MEASURE_LABELS = {"absolute": "Absolute change", "ratio": "Ratio to counterfactual"}
CONTRAST = f"{MOST_DEPRIVED} - {LEAST_DEPRIVED}"
GROUP_LABELS = {**{str(q): v for q, v in QUINTILE_LABELS.items()}, CONTRAST: "Q1 minus Q5"}
TERM_LABELS = {"level_change": "Level change", "slope_change": "Slope change (per month)"}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
FAMILY_LABELS = {"gaussian": "Gaussian (linear) model", "poisson": "Poisson model",
                 "quasipoisson": "quasi-Poisson model", "binomial": "binomial (logistic) model",
                 "quasibinomial": "quasi-binomial (logistic) model"}


# ---------------------------------------------------------------------------------------------------------------
# Display labels
# ---------------------------------------------------------------------------------------------------------------
def p_text(p) -> str:
    """'p < 0.001' or 'p = 0.042' for sentences (tables use :func:`format_p`)."""
    shown = format_p(p)
    return f"p < {shown[1:]}" if shown.startswith("<") else f"p = {shown}"


def signed(x, digits: int = 2) -> str:
    """'+1.23' / '-0.45', never '-0.00'."""
    return f"{round(float(x), digits) + 0.0:+.{digits}f}"


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


def _covid_text(s) -> str:
    start, end = pd.Timestamp(s.covid_start), pd.Timestamp(s.covid_end)
    span = f"{start:%B %Y} to {end:%B %Y}"
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
    return (f"{_indicator_text(analysis.area)}Adoption wave {analysis.wave}: {analysis.n_practices} practices "
            f"started the programme in {analysis.interruption:%B %Y} (the interruption, counted as the first post "
            f"month) and {analysis.n_comparison} practices never adopted it. Controlled analysis: {controlled_covid}; "
            f"each difference series was fitted with {_autocorrelation_text(c)}. Uncontrolled analysis: a "
            f"{FAMILY_LABELS[s.family]} with {_season_text(s)}, {_covid_text(s)}, and {_autocorrelation_text(s)}.")


def controlled_sentence(analysis) -> str:
    """Headline: controlled effects in Q1 and Q5 and their difference at the longest horizon, with a verdict."""
    h = max(analysis.horizons)
    eff = analysis.controlled_effects()
    eff = eff[eff["horizon"] == h].set_index("group")
    q1, q5, d = eff.loc[str(MOST_DEPRIVED)], eff.loc[str(LEAST_DEPRIVED)], eff.loc[CONTRAST]
    if d["ci_lower"] > 0:
        verdict = "the most deprived quintile gained more than the least deprived"
    elif d["ci_upper"] < 0:
        verdict = "the least deprived quintile gained more than the most deprived"
    else:
        verdict = "no difference between the most and least deprived quintiles was detected"
    ci = lambda r: f"95% CI {signed(r['ci_lower'])} to {signed(r['ci_upper'])}"  # noqa: E731
    return (f"{h} months after the start, compared with never-adopting practices of the same quintile, the "
            f"programme changed the indicator by {signed(q1['estimate'])} percentage points in the most deprived "
            f"quintile ({ci(q1)}) and by {signed(q5['estimate'])} in the least deprived ({ci(q5)}). The difference, "
            f"Q1 minus Q5, was {signed(d['estimate'])} percentage points ({ci(d)}; {p_text(d['p_value'])}): "
            f"{verdict}.")


def uncontrolled_sentence(analysis) -> str:
    """How far the uncontrolled per-quintile fits are from the controlled ones at the longest horizon, and why."""
    h = max(analysis.horizons)
    cmp = analysis.uncontrolled_vs_controlled()
    cmp = cmp[cmp["horizon"] == h].set_index("group")
    q = cmp.drop(index=CONTRAST)["difference"]
    direction = "lower" if q.mean() < 0 else "higher"
    return (f"Without the comparison practices, the per-quintile effects at {h} months were {signed(q.min())} to "
            f"{signed(q.max())} percentage points away from the controlled ones (mean {signed(q.mean())}; uncontrolled "
            f"minus controlled), and the Q1 minus Q5 contrast {signed(cmp.loc[CONTRAST, 'difference'])} away "
            f"({signed(cmp.loc[CONTRAST, 'uncontrolled'])} against {signed(cmp.loc[CONTRAST, 'controlled'])}). An "
            f"uncontrolled counterfactual carries the pre-COVID-19 trend forward, so anything that moved every "
            f"practice after March 2020 -- the disruption itself and a recovery slower than that trend assumes -- "
            f"is counted as programme effect; the never-adopting practices went through the same months, and "
            f"subtracting them removes it. The uncontrolled estimates are {direction} on average: that part of "
            f"them reflects shocks shared by all practices, not the programme.")


def gap_sentence(analysis) -> str:
    """Did the (uncontrolled) Q5 - Q1 gap of the wave practices move from its counterfactual?"""
    h = max(analysis.horizons)
    eff = analysis.gap_fit.effect_summary([h]).table
    row = eff[eff["measure"] == "absolute"].iloc[0]
    cf_gap, change = row["counterfactual"], row["estimate"]
    toward_zero = np.sign(change) == -np.sign(cf_gap)
    excludes = row["ci_lower"] > 0 or row["ci_upper"] < 0
    verdict = ("narrowed" if toward_zero else "widened") if excludes else "did not change detectably"
    return (f"Uncontrolled: {h} months after the programme started, the gap between the least and most deprived "
            f"quintiles of the programme practices (Q5 minus Q1) was {change:+.2f} percentage points away from its "
            f"counterfactual of {cf_gap:.2f} (95% CI {row['ci_lower']:+.2f} to {row['ci_upper']:+.2f}): the "
            f"inequality {verdict}.")


# ---------------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------------
def plot_counterfactual(cf: pd.DataFrame, interruption, ax=None, title: str | None = None,
                        colour: str = OVERALL_COLOUR, ylabel: str = "Indicator"):
    """Observed points (open: not fitted), fitted line, dashed counterfactual with its band, interruption line ->
    ``(fig, ax)``. The fitted line is drawn over the fitted months only, so excluded months do not look fitted."""
    with figure_style():
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        used = cf["in_fit"].to_numpy() if "in_fit" in cf else np.ones(len(cf), bool)
        months = pd.to_datetime(cf["month"])
        ax.scatter(months[used], cf["observed"][used], s=8, color=colour, alpha=0.7, label="Observed (fitted)")
        if (~used).any():
            ax.scatter(months[~used], cf["observed"][~used], s=8, facecolors="none", edgecolors=colour,
                       alpha=0.7, label="Observed (not fitted)")
        ax.plot(months, cf["fitted"].where(used), color=colour, lw=1.5, label="Fitted")
        post = months >= pd.Timestamp(interruption)
        ax.plot(months[post], cf["counterfactual"][post], color=colour, lw=1.2, ls="--",
                label="Counterfactual (95% CI)")
        ax.fill_between(months[post], cf["counterfactual_lower"][post], cf["counterfactual_upper"][post],
                        color=colour, alpha=0.15, lw=0)
        ax.axvline(pd.Timestamp(interruption), color="grey", lw=0.8, ls=":", label="Programme start")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
    return fig, ax


def _quintile_grid(analysis, frames: dict, ylabel: str, zero_line: bool = False):
    """Two rows of three panels (one per quintile), the sixth holding the legend."""
    with figure_style():
        fig, grid = plt.subplots(2, 3, figsize=(9, 5.6), sharey=True, sharex=True)
        axes = grid.ravel()
        for ax, (q, cf) in zip(axes, frames.items()):
            plot_counterfactual(cf, analysis.interruption, ax=ax, title=QUINTILE_LABELS[q],
                                colour=QUINTILE_COLOURS[q], ylabel="")
            if zero_line:
                ax.axhline(0, color="grey", lw=0.6)
            ax.title.set_fontsize(10)
            ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        for ax in grid[:, 0]:
            ax.set_ylabel(ylabel)
        # The legend shows the line and marker styles in a neutral colour (each panel has its quintile's colour).
        k = dict(color=OVERALL_COLOUR)
        handles = [plt.Line2D([], [], marker="o", ls="none", ms=4, **k),
                   plt.Line2D([], [], marker="o", ls="none", ms=4, markerfacecolor="none", **k),
                   plt.Line2D([], [], lw=1.5, **k), plt.Line2D([], [], lw=1.2, ls="--", **k),
                   plt.Line2D([], [], color="grey", lw=0.8, ls=":")]
        labels = ["Observed (fitted)", "Observed (not fitted)", "Fitted", "Counterfactual (95% CI band)",
                  "Programme start"]
        if all(bool(np.all(cf["in_fit"])) for cf in frames.values() if "in_fit" in cf):
            handles, labels = handles[:1] + handles[2:], labels[:1] + labels[2:]
            labels[0] = "Observed"
        axes[5].axis("off")
        axes[5].legend(handles, labels, loc="center", fontsize=10)
        fig.tight_layout()
    return finish(fig)


def controlled_figure(analysis):
    """Headline figure: per quintile, the programme practices' indicator minus that of never-adopting practices,
    with the fitted segmented regression and the counterfactual (the difference's pre-period trend carried on)."""
    frames = {q: f.difference_counterfactual() for q, f in analysis.controlled.fits_.items()}
    return _quintile_grid(analysis, frames, "Programme minus comparison (pp)", zero_line=True)


def quintile_fit_figure(analysis):
    """Secondary: the uncontrolled fit of the programme practices' own series in each quintile."""
    frames = {q: f.counterfactual() for q, f in analysis.quintile_fits.items()}
    return _quintile_grid(analysis, frames, "Indicator (%)")


def arms_figure(analysis):
    """The two series behind the controlled analysis, per quintile: programme and never-adopting practices."""
    data = analysis.arm_series
    with figure_style():
        fig, grid = plt.subplots(2, 3, figsize=(9, 5.6), sharey=True, sharex=True)
        axes = grid.ravel()
        for ax, q in zip(axes, sorted(data["imd_quintile"].unique())):
            for arm, colour, label in (("programme", TREATED_COLOUR, f"Wave {analysis.wave} programme practices"),
                                       ("comparison", COMPARISON_COLOUR, "Never-adopting practices")):
                d = data[(data["imd_quintile"] == q) & (data["arm"] == arm)]
                ax.plot(d["month"], d["rate"], color=colour, lw=1.2, label=label)
            ax.axvline(analysis.interruption, color="grey", lw=0.8, ls=":", label="Programme start")
            ax.set_title(QUINTILE_LABELS[int(q)], fontsize=10)
            ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        for ax in grid[:, 0]:
            ax.set_ylabel("Indicator (%)")
        handles, labels = axes[0].get_legend_handles_labels()
        axes[5].axis("off")
        axes[5].legend(handles, labels, loc="center", fontsize=10)
        fig.tight_layout()
    return finish(fig)


def inequality_fit_figure(analysis):
    """Secondary (uncontrolled): segmented regression of the monthly gap (Q5 - Q1) and SII, percentage points."""
    fits = [("Gap (Q5 minus Q1), pp", analysis.gap_fit)]
    if analysis.sii_fit is not None:
        fits.append(("Slope index of inequality, pp", analysis.sii_fit))
    with figure_style():
        fig, axes = plt.subplots(1, len(fits), figsize=(4.5 * len(fits), 3.6))
        for ax, (label, fit) in zip(np.atleast_1d(axes), fits):
            plot_counterfactual(fit.counterfactual(), analysis.interruption, ax=ax, title=label, ylabel="pp")
            ax.axhline(0, color="grey", lw=0.6)
            ax.tick_params(axis="x", labelrotation=45)
        np.atleast_1d(axes)[0].legend(loc="best", fontsize=7)
        fig.tight_layout()
    return finish(fig)


def diagnostics_figure(analysis):
    """Autocorrelation of the normalized residuals of the controlled Q1, Q5 and Q1 - Q5 models (what the error
    model left), with the +/- 1.96/sqrt(n) band."""
    c = analysis.controlled
    fits = [(QUINTILE_LABELS[MOST_DEPRIVED], c.fits_[MOST_DEPRIVED], QUINTILE_COLOURS[MOST_DEPRIVED]),
            (QUINTILE_LABELS[LEAST_DEPRIVED], c.fits_[LEAST_DEPRIVED], QUINTILE_COLOURS[LEAST_DEPRIVED]),
            ("Q1 minus Q5", c.contrast_, OVERALL_COLOUR)]
    with figure_style():
        fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.0), sharey=True)
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
    return html_table(_wide_by_horizon(analysis.controlled_effects()), {"group": "IMD quintile"})


def controlled_change_table(analysis):
    """Level change and slope change of the controlled difference per quintile and Q1 - Q5, with p-values."""
    tab = analysis.controlled.summary()
    models = {**{str(q): f for q, f in analysis.controlled.fits_.items()}, CONTRAST: analysis.controlled.contrast_}
    out = pd.DataFrame({
        "group": tab["group"].map(GROUP_LABELS),
        "term": tab["term"].map(TERM_LABELS),
        "estimate": [format_estimate_ci(e, lo, hi, 3) for e, lo, hi in
                     zip(tab["estimate"], tab["ci_lower"], tab["ci_upper"])],
        "p_value": tab["p_value"].map(format_p),
        "correction": [correction_label(models[g]) for g in tab["group"]],
    })
    return html_table(out, {"group": "IMD quintile", "estimate": "Estimate, pp (95% CI)",
                            "correction": "Autocorrelation"})


def uncontrolled_effects_table(analysis):
    """Secondary table: uncontrolled effect per quintile (and Q1 - Q5 from the interaction model) by horizon."""
    eff = analysis.quintile_effects()
    eff = eff[eff["measure"] == "absolute"].assign(group=lambda d: d["imd_quintile"].astype(str))
    con = analysis.contrast.effect_summary(analysis.horizons).table
    con = con[(con["measure"] == "absolute") & (con["group"] == CONTRAST)]
    return html_table(_wide_by_horizon(pd.concat([eff, con], ignore_index=True)), {"group": "IMD quintile"})


def diagnostics_table(analysis):
    """Durbin-Watson and Ljung-Box per fitted series, controlled and uncontrolled, with the correction used."""
    c = analysis.controlled
    fits = ([("Controlled", QUINTILE_LABELS[q], f) for q, f in c.fits_.items()]
            + [("Controlled", "Q1 minus Q5", c.contrast_)]
            + [("Uncontrolled", QUINTILE_LABELS[q], f) for q, f in analysis.quintile_fits.items()]
            + [("Uncontrolled", "Gap (Q5 minus Q1)", analysis.gap_fit)])
    if analysis.sii_fit is not None:
        fits.append(("Uncontrolled", "SII", analysis.sii_fit))
    rows = []
    for model, name, fit in fits:
        d = fit.diagnostics().set_index("statistic")
        rows.append({"model": model, "series": name, "durbin_watson": f"{d.loc['durbin_watson', 'value']:.2f}",
                     "ljung_box": f"{d.loc['ljung_box', 'value']:.1f} (lag {int(d.loc['ljung_box', 'lag'])})",
                     "p_value": format_p(d.loc["ljung_box", "p_value"]), "correction": correction_label(fit)})
    return html_table(pd.DataFrame(rows), {"model": "Analysis", "series": "Series", "durbin_watson": "Durbin–Watson",
                                           "ljung_box": "Ljung–Box", "p_value": "Ljung–Box p",
                                           "correction": "Autocorrelation"})
