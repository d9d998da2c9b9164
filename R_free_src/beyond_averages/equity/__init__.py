"""Inequality measures across IMD quintiles: absolute and relative gaps, the slope and relative index of inequality
(the method of PHE's Fingertips, ``PHEindicatormethods::phe_sii``), and a concentration index.

Orientation, used by every measure here: groups are ranked from the MOST deprived (rank 0) to the LEAST deprived
(rank 1). With IMD quintiles from :mod:`beyond_averages.deprivation` (quintile 1 = most deprived) that is ascending
quintile order, PHE's convention. So for every measure a positive gap, a positive SII, a ratio or RII above 1 and a
positive concentration index all mean the same thing: *the indicator is higher among the less deprived*. For a
"higher is better" process measure (share of patients with a blood pressure recorded) that is an inequality
disadvantaging deprived patients. If the quantile labels run the other way (highest label = most deprived) pass
``most_deprived="last"``; the ranks are then reversed so the meaning of the sign is unchanged.

Modules: :mod:`~beyond_averages.equity.intervals` (Wilson, Newcombe and Katz intervals for proportions),
:mod:`~beyond_averages.equity.gaps` (gap, ratio, relative rank, concentration index),
:mod:`~beyond_averages.equity.engine` (PHE's options and vectorised SII fit and simulation),
:mod:`~beyond_averages.equity.sii` (the SII estimator and ``phe_sii``), :mod:`~beyond_averages.equity.by_group`
(every measure per group of a panel).

Public API: :func:`wilson_interval`, :func:`absolute_gap`, :func:`relative_gap`, :func:`relative_rank`,
:func:`concentration_index`, :func:`difference_weight`, :class:`SIISettings`, :class:`SlopeIndexOfInequality`
(answers the protocol of :mod:`beyond_averages.results`), :func:`phe_sii`, and :func:`equity_by_group` (every
measure per group of a panel).
"""

from beyond_averages.equity.by_group import equity_by_group
from beyond_averages.equity.engine import SIISettings
from beyond_averages.equity.gaps import (
    absolute_gap, concentration_index, difference_weight, relative_gap, relative_rank,
)
from beyond_averages.equity.intervals import wilson_interval
from beyond_averages.equity.sii import SlopeIndexOfInequality, phe_sii

__all__ = [
    "SIISettings", "SlopeIndexOfInequality", "absolute_gap", "concentration_index", "difference_weight",
    "equity_by_group", "phe_sii", "relative_gap", "relative_rank", "wilson_interval",
]
