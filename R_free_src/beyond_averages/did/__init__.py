"""Difference-in-differences by deprivation: does the programme's effect differ between IMD quintiles?

Public API:
- panels: :func:`build_did_panel`, :func:`load_did_panel` (measures + programme -> practice x quintile x month
  panel), :func:`validate_panel`, :func:`practice_month_panel`, :func:`within_practice_inequality`;
- estimators (each answering :mod:`beyond_averages.results`; ``first_treated=`` names the column of each unit's
  first-treatment period): :class:`TwoWayFixedEffects`, :class:`EventStudy`, :class:`GroupTimeATT` (Callaway and
  Sant'Anna: its cells in :mod:`~beyond_averages.did.cells`, the covariate-adjusted 2x2 estimators of R ``DRDID``
  in :mod:`~beyond_averages.did.drdid`, ``aggte``'s aggregations in :mod:`~beyond_averages.did.aggregation`);
- the chapter's analysis: :class:`DidSettings`, :func:`run_did_analysis`, :func:`run_did_analysis_from_files`
  (its sentences, tables and figures are in :mod:`beyond_averages.report.did`);
- sensitivity to violations of parallel trends (Rambachan & Roth's HonestDiD): :class:`HonestDiD`,
  :func:`honest_sensitivity` (arrays), :func:`honest_from` (a fitted event study or dynamic aggregation);
- simulation (tests and ``make bench``): :func:`simulate_staggered_panel`, :func:`simulate_measures_panel`,
  :func:`monte_carlo`.
"""

from beyond_averages.did.analysis import DidAnalysis, DidSettings, run_did_analysis, run_did_analysis_from_files
from beyond_averages.did.event_study import EventStudy
from beyond_averages.did.honest import HonestDiD, honest_from, honest_sensitivity
from beyond_averages.did.panel import (
    Panel, build_did_panel, load_did_panel, practice_month_panel, validate_panel, within_practice_inequality,
)
from beyond_averages.did.simulate import monte_carlo, simulate_measures_panel, simulate_staggered_panel
from beyond_averages.did.staggered import GroupTimeATT
from beyond_averages.did.twfe import TwoWayFixedEffects

__all__ = [
    "DidAnalysis", "DidSettings", "EventStudy", "GroupTimeATT", "HonestDiD", "Panel", "TwoWayFixedEffects",
    "build_did_panel", "honest_from", "honest_sensitivity", "load_did_panel", "monte_carlo", "practice_month_panel",
    "run_did_analysis", "run_did_analysis_from_files", "simulate_measures_panel", "simulate_staggered_panel",
    "validate_panel", "within_practice_inequality",
]
