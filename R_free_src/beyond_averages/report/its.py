"""Figures and tables of the interrupted-time-series chapter, built from fitted ITS objects (all formatting here)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from beyond_averages.deprivation import QUINTILE_LABELS
from beyond_averages.report.tables import format_estimate_ci, format_p, html_table
from beyond_averages.style import COMPARISON_COLOUR, OVERALL_COLOUR, QUINTILE_COLOURS, TREATED_COLOUR, figure_style

MEASURE_LABELS = {"absolute": "Absolute change", "ratio": "Ratio to counterfactual"}


def plot_counterfactual(cf: pd.DataFrame, interruption, ax=None, title: str | None = None,
                        colour: str = OVERALL_COLOUR, ylabel: str = "Indicator"):
    """Observed points, fitted line, dashed counterfactual with its band, and the interruption -> ``(fig, ax)``."""
    with figure_style():
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        used = cf["in_fit"].to_numpy() if "in_fit" in cf else np.ones(len(cf), bool)
        ax.scatter(cf["month"][used], cf["observed"][used], s=8, color=colour, alpha=0.7, label="Observed")
        if (~used).any():
            ax.scatter(cf["month"][~used], cf["observed"][~used], s=8, facecolors="none", edgecolors=colour,
                       alpha=0.7, label="Not fitted")
        ax.plot(cf["month"], cf["fitted"], color=colour, lw=1.5, label="Fitted")
        post = pd.to_datetime(cf["month"]) >= pd.Timestamp(interruption)
        ax.plot(cf["month"][post], cf["counterfactual"][post], color=colour, lw=1.2, ls="--", label="Counterfactual")
        ax.fill_between(cf["month"][post], cf["counterfactual_lower"][post], cf["counterfactual_upper"][post],
                        color=colour, alpha=0.15, lw=0)
        ax.axvline(pd.Timestamp(interruption), color="grey", lw=0.8, ls=":")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
    return fig, ax


def quintile_fit_figure(analysis):
    """One panel per quintile: observed, fitted and counterfactual series of the programme practices."""
    with figure_style():
        qs = sorted(analysis.quintile_fits)
        fig, axes = plt.subplots(1, len(qs), figsize=(3.0 * len(qs), 3.2), sharey=True)
        for ax, q in zip(np.atleast_1d(axes), qs):
            fit = analysis.quintile_fits[q]
            plot_counterfactual(fit.counterfactual(), analysis.interruption, ax=ax, title=QUINTILE_LABELS[q],
                                colour=QUINTILE_COLOURS[q], ylabel="Indicator (%)" if q == qs[0] else "")
            ax.tick_params(axis="x", labelrotation=45)
        np.atleast_1d(axes)[0].legend(loc="lower left", fontsize=7)
        fig.tight_layout()
    return fig


def quintile_effects_table(analysis, measure: str = "absolute"):
    """Effects by quintile and horizon, 'estimate (CI)' strings, as an HTML table."""
    eff = analysis.quintile_effects()
    eff = eff[eff["measure"] == measure]
    digits = 2 if measure == "absolute" else 3
    table = pd.DataFrame({
        "imd_quintile": eff["imd_quintile"].map(QUINTILE_LABELS),
        "horizon": eff["horizon"],
        "effect": [format_estimate_ci(e, lo, hi, digits) for e, lo, hi in
                   zip(eff["estimate"], eff["ci_lower"], eff["ci_upper"])],
        "p_value": eff["p_value"].map(format_p),
    })
    return html_table(table, {"horizon": "Months after start", "effect": f"{MEASURE_LABELS[measure]} (95% CI)"})


def contrast_table(analysis):
    """Q1 minus Q5 differences in level and slope change, and the controlled ITS, as an HTML table."""
    rows = []
    for model, name in ((analysis.contrast, "Q1 vs Q5 (programme practices)"),
                        (analysis.controlled, "Programme vs comparison (all quintiles)")):
        for _, r in model.contrast_summary().iterrows():
            rows.append({"model": name, "term": r["term"].replace("_", " ").capitalize(),
                         "estimate": format_estimate_ci(r["estimate"], r["ci_lower"], r["ci_upper"], 3),
                         "p_value": format_p(r["p_value"]), "se_method": model.autocorrelation_used_})
    return html_table(pd.DataFrame(rows), {"model": "Model", "estimate": "Difference (95% CI)",
                                           "se_method": "Autocorrelation correction"})


def inequality_fit_figure(analysis):
    """Segmented regression of the monthly gap (Q5 - Q1) and SII (percentage points)."""
    fits = [("Gap (Q5 minus Q1), pp", analysis.gap_fit)]
    if analysis.sii_fit is not None:
        fits.append(("Slope index of inequality, pp", analysis.sii_fit))
    with figure_style():
        fig, axes = plt.subplots(1, len(fits), figsize=(4.2 * len(fits), 3.4))
        for ax, (label, fit) in zip(np.atleast_1d(axes), fits):
            plot_counterfactual(fit.counterfactual(), analysis.interruption, ax=ax, title=label, ylabel="pp")
            ax.axhline(0, color="grey", lw=0.6)
            ax.tick_params(axis="x", labelrotation=45)
        np.atleast_1d(axes)[0].legend(loc="best", fontsize=7)
        fig.tight_layout()
    return fig


def controlled_figure(analysis):
    """Programme vs comparison practices: observed, fitted and counterfactual."""
    cf = analysis.controlled.counterfactual()
    with figure_style():
        fig, ax = plt.subplots()
        for arm, colour in (("programme", TREATED_COLOUR), ("comparison", COMPARISON_COLOUR)):
            part = cf[cf["group"] == arm].assign(in_fit=True)
            plot_counterfactual(part, analysis.interruption, ax=ax, colour=colour, ylabel="Indicator (%)")
        handles = [plt.Line2D([], [], color=TREATED_COLOUR, label="Programme practices"),
                   plt.Line2D([], [], color=COMPARISON_COLOUR, label="Comparison practices"),
                   plt.Line2D([], [], color="grey", ls="--", label="Counterfactual")]
        ax.legend(handles=handles, loc="lower left", fontsize=8)
    return fig


def diagnostics_table(analysis):
    """Durbin-Watson, Ljung-Box (and dispersion) per fitted series, with the autocorrelation choice."""
    rows = []
    fits = [(QUINTILE_LABELS[q], f) for q, f in analysis.quintile_fits.items()] + [("Gap", analysis.gap_fit)]
    if analysis.sii_fit is not None:
        fits.append(("SII", analysis.sii_fit))
    for name, fit in fits:
        d = fit.diagnostics().set_index("statistic")
        row = {"series": name, "durbin_watson": f"{d.loc['durbin_watson', 'value']:.2f}",
               "ljung_box": f"{d.loc['ljung_box', 'value']:.1f} (lag {int(d.loc['ljung_box', 'lag'])}, "
                            f"p {format_p(d.loc['ljung_box', 'p_value'])})",
               "choice": fit.autocorrelation_used_}
        if "dispersion" in d.index:
            row["dispersion"] = f"{d.loc['dispersion', 'value']:.2f}"
        rows.append(row)
    return html_table(pd.DataFrame(rows), {"series": "Series", "durbin_watson": "Durbin-Watson",
                                           "ljung_box": "Ljung-Box", "choice": "Correction used",
                                           "dispersion": "Dispersion"})


def diagnostics_figure(analysis):
    """Residual ACF of Q1, Q5 and the gap series, with the +/- 1.96/sqrt(n) band."""
    fits = [(QUINTILE_LABELS[1], analysis.quintile_fits[1], QUINTILE_COLOURS[1]),
            (QUINTILE_LABELS[5], analysis.quintile_fits[5], QUINTILE_COLOURS[5]),
            ("Gap", analysis.gap_fit, OVERALL_COLOUR)]
    with figure_style():
        fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.0), sharey=True)
        for ax, (name, fit, colour) in zip(axes, fits):
            a = fit.acf()
            ax.bar(a["lag"], a["acf"], color=colour, width=0.6)
            ax.axhline(a["band"].iloc[0], color="grey", ls="--", lw=0.8)
            ax.axhline(-a["band"].iloc[0], color="grey", ls="--", lw=0.8)
            ax.set_title(name)
            ax.set_xlabel("Lag (months)")
        axes[0].set_ylabel("Residual autocorrelation")
        fig.tight_layout()
    return fig
