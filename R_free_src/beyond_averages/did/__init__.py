"""Difference-in-differences by deprivation: does the programme's effect differ between IMD quintiles?

Public API:
- panels: :func:`build_did_panel`, :func:`load_did_panel` (measures + programme -> practice x quintile x month
  panel), :func:`validate_panel`, :func:`practice_month_panel`, :func:`within_practice_inequality`;
- estimators (each answering :mod:`beyond_averages.results`; ``first_treated=`` names the column of each unit's
  first-treatment period): :class:`TwoWayFixedEffects`, :class:`EventStudy`, :class:`GroupTimeATT` (Callaway and
  Sant'Anna);
- the chapter's analysis: :class:`DidSettings`, :func:`run_did_analysis`, :func:`run_did_analysis_from_files`
  (its sentences, tables and figures are in :mod:`beyond_averages.report.did`);
- simulation (tests and ``make bench``): :func:`simulate_staggered_panel`, :func:`simulate_measures_panel`,
  :func:`monte_carlo`.
"""

from beyond_averages.did.analysis import DidAnalysis, DidSettings, run_did_analysis, run_did_analysis_from_files
from beyond_averages.did.event_study import EventStudy
from beyond_averages.did.panel import (
    Panel, build_did_panel, load_did_panel, practice_month_panel, validate_panel, within_practice_inequality,
)
from beyond_averages.did.simulate import monte_carlo, simulate_measures_panel, simulate_staggered_panel
from beyond_averages.did.staggered import GroupTimeATT
from beyond_averages.did.twfe import TwoWayFixedEffects

__all__ = [
    "DidAnalysis", "DidSettings", "EventStudy", "GroupTimeATT", "Panel", "TwoWayFixedEffects", "build_did_panel",
    "load_did_panel", "monte_carlo", "practice_month_panel", "run_did_analysis", "run_did_analysis_from_files",
    "simulate_measures_panel", "simulate_staggered_panel", "validate_panel", "within_practice_inequality",
]
