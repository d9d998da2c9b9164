"""The programme's effect on the gap between two groups of an unordered equity dimension (e.g. Black minus White
patients), within practices: a difference-in-differences of each practice's monthly group difference.

For an unordered dimension there is no slope index of inequality; the question is whether the programme changed the
difference between a group and the reference group. Taking the difference inside each practice first removes
everything the two groups share in a practice-month (the practice's level, its trend, the COVID-19 dip), so the
group-time ATT of the difference series compares like with like and is far less noisy than the difference of two
separate group ATTs. Each practice-month is weighted by ``1 / (1/n_group + 1/n_reference)`` (the inverse of the
binomial variance factor of a difference of two proportions, :func:`beyond_averages.equity.difference_weight`),
so months where either group is small count less.
Practices must have eligible patients of both groups in every month (the balanced panel the estimator needs); how
many were left out is kept on the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from beyond_averages.equity import difference_weight
from beyond_averages.files import InputError, require_columns
from beyond_averages.did.staggered import GroupTimeATT

COLUMNS = ("practice_id", "month", "group", "numerator", "denominator")


@dataclass(frozen=True)
class GroupGap:
    """The within-practice group difference, its panel and its group-time ATT."""

    group: str
    reference: str
    panel: pd.DataFrame          # practice_id, month, difference (pp), weight, programme_start
    fit: GroupTimeATT
    practices_dropped: int       # practices without both groups in every month


def group_difference_panel(measures: pd.DataFrame, programme: pd.DataFrame, group: str, reference: str,
                           source: str = "measures by group") -> tuple[pd.DataFrame, int]:
    """Per practice-month: ``group``'s indicator minus ``reference``'s (percentage points) and its weight, with the
    practice's ``programme_start``; only practices with both groups in every month."""
    require_columns(measures, list(COLUMNS), source)
    require_columns(programme, ["practice_id", "programme_start"], "programme")
    groups = set(measures["group"].astype(str).unique())   # unique first: no Python loop over every row
    for g in (group, reference):
        if g not in groups:
            raise InputError(f"{source}: column 'group' has no rows of {g!r}; groups: {sorted(groups)}")
    two = measures[measures["group"].astype(str).isin([group, reference])]
    wide = two.pivot_table(index=["practice_id", "month"], columns=two["group"].astype(str),
                           values=["numerator", "denominator"], aggfunc="sum", observed=True)
    n_g, n_r = wide[("denominator", group)], wide[("denominator", reference)]
    ok = (n_g > 0) & (n_r > 0)
    n_months = measures["month"].nunique()
    complete = ok.groupby(level="practice_id").transform("sum") == n_months
    keep = ok & complete
    panel = pd.DataFrame({
        "difference": 100 * (wide[("numerator", group)] / n_g - wide[("numerator", reference)] / n_r),
        "weight": difference_weight(n_g, n_r),
    })[keep].reset_index()
    panel = panel.merge(programme[["practice_id", "programme_start"]], on="practice_id", how="left")
    dropped = int(measures["practice_id"].nunique() - panel["practice_id"].nunique())
    return panel, dropped


def group_gap_att(measures: pd.DataFrame, programme: pd.DataFrame, group: str, reference: str, **options
                  ) -> GroupGap:
    """The group-time ATT of the within-practice difference ``group`` minus ``reference`` (options go to
    :class:`GroupTimeATT`: comparison group, bootstrap draws, seed)."""
    panel, dropped = group_difference_panel(measures, programme, group, reference)
    if panel.empty:
        raise InputError(f"no practice has eligible {group} and {reference} patients in every month")
    fit = GroupTimeATT(panel, outcome="difference", weights="weight", source=f"{group} minus {reference}",
                       **options)
    return GroupGap(group, reference, panel, fit, dropped)
