"""Within-practice inequality when some of a practice's IMD quintiles have no or very few eligible patients.

A practice draws its patients from a few neighbourhoods, so in a given month one of its quintiles may hold no
eligible patient (in the synthetic study extract, 108 of 285 practices have none in Q5 in March 2021) or a handful,
whose rate is mostly noise. The rule, applied per practice-month (:class:`SparseRule`):

1. a quintile counts only if its denominator is at least ``min_denominator``; a smaller quintile's patients are
   left out of that month's gap and SII (they still count in the practice's total ``denominator``);
2. the gap compares the two extreme quintiles (``pool="none"``: Q5 - Q1) or the two extreme *pairs*
   (``pool="adjacent"``: Q4+Q5 pooled minus Q1+Q2 pooled), each side counting if its pooled denominator reaches
   ``min_denominator``; it is missing when a side does not count;
3. the SII is fitted on the quintiles that count (it tolerates missing ranks: the ranks are the cumulative
   population midpoints of the quintiles present), and is missing with fewer than two.

The DiD estimators balance the panel, so a practice enters the DiD of a measure only if that measure exists in
*every* month; :func:`practices_kept` counts the practices (and adopters) each rule keeps.

The chapter's rule, :data:`DEFAULT_RULE` (``min_denominator=1``, ``pool="adjacent"``), was chosen by the recovery
study (docs/did.md): with Q5 - Q1 alone, 100 to 109 of the 285 practices (three full-scale extracts) had no Q5
patient in some month and left the gap's DiD, and the rest carried gaps measured on a handful of patients, so at full
scale the gap's 95% CI excluded zero in the planted direction in only 40% (narrowing) and 20% (widening) of seeds.
Pooling adjacent quintiles keeps 250 to 258 practices. The gap's DiD also weights each practice by the effective
number of patients behind its gap (``gap_weight``, :func:`beyond_averages.equity.difference_weight` of the two
sides), not by its list size: at full scale (3 seeds) the two changes together cut the gap's standard error from
0.67 to 0.19 pp, and the rerun recovery study found the planted direction in 90% of full-scale seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from beyond_averages.deprivation import LEAST_DEPRIVED, MOST_DEPRIVED
from beyond_averages.equity import difference_weight, equity_by_group
from beyond_averages.files import require_columns

Pool = Literal["none", "adjacent"]
# The two extreme pairs pooled by ``pool="adjacent"``: most deprived pair -> Q1, least deprived pair -> Q5.
ADJACENT = {1: MOST_DEPRIVED, 2: MOST_DEPRIVED, 3: 3, 4: LEAST_DEPRIVED, 5: LEAST_DEPRIVED}


@dataclass(frozen=True)
class SparseRule:
    """How sparse quintiles enter the within-practice gap and SII (see the module docstring)."""

    min_denominator: int = 1
    pool: Pool = "none"

    def __post_init__(self):
        if int(self.min_denominator) != self.min_denominator or self.min_denominator < 1:
            raise ValueError(f"min_denominator must be a whole number >= 1; got {self.min_denominator!r}")
        if self.pool not in ("none", "adjacent"):
            raise ValueError(f"pool must be 'none' or 'adjacent'; got {self.pool!r}")

    @property
    def name(self) -> str:
        sides = "gap of Q4–Q5 minus Q1–Q2" if self.pool == "adjacent" else "gap of Q5 minus Q1 alone"
        return f"{sides}, at least {self.min_denominator} eligible patient{'s' if self.min_denominator > 1 else ''}"


DEFAULT_RULE = SparseRule(1, "adjacent")
# The sensitivity set: the default, stricter minimum denominators, and the extreme quintiles alone.
SENSITIVITY_RULES: tuple[SparseRule, ...] = (DEFAULT_RULE, SparseRule(10, "adjacent"), SparseRule(1), SparseRule(5),
                                             SparseRule(10))


def _drop_small(cells: pd.DataFrame, min_denominator: int) -> pd.DataFrame:
    """Cells (practice x month x group) below ``min_denominator`` lose their patients for the inequality measures."""
    small = cells["denominator"] < min_denominator
    return cells.assign(numerator=cells["numerator"].where(~small, 0),
                        denominator=cells["denominator"].where(~small, 0))


def inequality_measures(panel: pd.DataFrame, rule: SparseRule = DEFAULT_RULE, multiplier: float = 100.0
                        ) -> pd.DataFrame:
    """``practice_id, month, gap, sii, gap_weight`` per practice-month under ``rule`` (orientation of
    :mod:`beyond_averages.equity`: least minus most deprived, positive = higher among the less deprived).
    ``gap_weight``: the effective number of patients behind the gap (:func:`~beyond_averages.equity.difference_weight`
    of the two sides' counted denominators; 0 where the gap is missing)."""
    require_columns(panel, ["practice_id", "month", "imd_quintile", "numerator", "denominator"], "within-practice panel")
    keys = ["practice_id", "month"]
    cells = panel.groupby(keys + ["imd_quintile"], sort=True, as_index=False)[["numerator", "denominator"]].sum()
    kw = {"by": keys, "multiplier": multiplier, "min_quintiles": 2, "source": "within-practice panel"}
    sii = equity_by_group(_drop_small(cells, rule.min_denominator), measures=("sii",), **kw)
    if rule.pool == "adjacent":
        pooled = (cells.assign(imd_quintile=cells["imd_quintile"].map(ADJACENT))
                  .groupby(keys + ["imd_quintile"], sort=True, as_index=False)[["numerator", "denominator"]].sum())
    else:
        pooled = cells
    counted = _drop_small(pooled, rule.min_denominator)
    gap = equity_by_group(counted, measures=("gap",), **kw)
    sides = counted[counted["imd_quintile"].isin([MOST_DEPRIVED, LEAST_DEPRIVED])].pivot_table(
        index=keys, columns="imd_quintile", values="denominator", aggfunc="sum", fill_value=0)
    sides = sides.reindex(pd.MultiIndex.from_frame(gap[keys]), fill_value=0)
    n_most = sides[MOST_DEPRIVED] if MOST_DEPRIVED in sides else 0
    n_least = sides[LEAST_DEPRIVED] if LEAST_DEPRIVED in sides else 0
    out = gap[keys].assign(gap=gap["estimate"].to_numpy(), sii=sii["estimate"].to_numpy(),
                           gap_weight=difference_weight(n_most, n_least) * gap["estimate"].notna().to_numpy())
    return out.reset_index(drop=True)


def practices_kept(panel: pd.DataFrame, rules: Sequence[SparseRule] = SENSITIVITY_RULES) -> pd.DataFrame:
    """Per rule: how many practices (and adopters) have the gap, and the SII, in every month (so enter its DiD),
    and the share of practice-months with a value. Columns ``rule, min_denominator, pool, measure, practices,
    adopters, practices_total, practice_months_with_value``."""
    require_columns(panel, ["programme_start"], "within-practice panel")
    adopter = panel.groupby("practice_id", sort=True)["programme_start"].first().notna()
    rows = []
    for rule in rules:
        m = inequality_measures(panel, rule)
        for measure in ("gap", "sii"):
            every = m[measure].notna().groupby(m["practice_id"], sort=True).all()
            rows.append({"rule": rule.name, "min_denominator": rule.min_denominator, "pool": rule.pool,
                         "measure": measure, "practices": int(every.sum()),
                         "adopters": int((every & adopter.reindex(every.index)).sum()),
                         "practices_total": len(every),
                         "practice_months_with_value": float(np.mean(m[measure].notna()))})
    return pd.DataFrame(rows)
