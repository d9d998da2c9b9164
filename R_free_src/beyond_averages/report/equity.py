"""Sentences and figures of the inequality measures (:mod:`beyond_averages.equity`), drawn from the estimators'
result frames: the slope index of inequality's headline sentence and its rank plot."""

from __future__ import annotations

import pandas as pd

from beyond_averages.report.tables import format_level, format_number
from beyond_averages.style import OVERALL_COLOUR, QUINTILE_COLOURS, figure_and_axes, figure_style


def sii_sentence(effect: pd.DataFrame, unit: str = "", digits: int = 2) -> str:
    """One sentence on the first row of an SII ``effect_summary()`` (first group, first confidence level)."""
    row = effect[effect["measure"] == "sii"].iloc[0]
    where = "higher" if row["estimate"] > 0 else "lower"
    level = format_level(row["confidence"])

    def num(value) -> str:
        return format_number(value, digits)

    return (
        f"The slope index of inequality is {num(row['estimate'])}{unit} ({level} CI {num(row['ci_lower'])} "
        f"to {num(row['ci_upper'])}): across the whole population, the modelled indicator is "
        f"{num(abs(row['estimate']))}{unit} {where} at the least deprived end than at the most deprived end."
    )


def sii_figure(fit, *, group: int = 0, ax=None, ylabel: str = "Indicator"):
    """Observed quantile values against relative rank with the fitted SII line, for one group of a fitted
    :class:`~beyond_averages.equity.SlopeIndexOfInequality` (drawn from its ``plot_data()``)."""
    data = fit.plot_data()
    data = data[data["group"] == group]
    obs, line = data[data["kind"] == "observed"], data[data["kind"] == "fitted"]
    with figure_style():
        fig, ax = figure_and_axes(ax)
        q = fit.columns["quantile"]
        # Quintile colours only when the quantiles are the five IMD quintiles; any other grouping is one colour.
        colours = [QUINTILE_COLOURS.get(int(v), OVERALL_COLOUR) if len(obs) == 5 else OVERALL_COLOUR
                   for v in obs[q]]
        ax.scatter(obs["relative_rank"], obs["value"], s=20 + 400 * obs["population_share"], c=colours,
                   zorder=3, label="Quantile value (area = population share)")
        ax.plot(line["relative_rank"], line["fitted"], color=OVERALL_COLOUR, label="Fitted (SII line)")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Relative rank (0 = most deprived, 1 = least deprived)")
        ax.set_ylabel(ylabel)
        ax.legend(loc="best")
    return fig, ax
