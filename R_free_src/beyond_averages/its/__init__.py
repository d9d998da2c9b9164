"""Interrupted time series (segmented regression) by deprivation.

Public API:
- one series: :class:`ITSSettings` (family, seasonality, autocorrelation, COVID-19 handling),
  :class:`SegmentedRegression`;
- any regular frequency (monthly, quarterly, annual, weekly, integer periods): ``frequency`` in
  :class:`ITSSettings`, inferred from the time column by default (:mod:`beyond_averages.its.frequency`);
- one treated unit against many control units, stacked (Linden's multiple-group ``itsa``):
  :class:`PooledControlledITS`;
- model comparison (fit statistics, F / likelihood-ratio / Wald tests of nested models): :func:`model_comparison`
  and each estimator's ``model_comparison()``;
- every adoption wave against never-adopting practices, stacked in event time (the ITS chapter's headline):
  :class:`StackedControlledITS`;
- two series and their difference: :class:`QuintileContrastITS` (Q1 against Q5), :class:`ControlledITS`
  (programme against comparison practices), :class:`ControlledQuintileITS` (controlled, by quintile);
- series from the measures table: :func:`build_monthly_series`, :func:`build_arm_series`, :func:`inequality_series`,
  :func:`wave_practices`;
- the chapter's analysis: :func:`run_its_analysis` -> :class:`ITSAnalysis`;
- simulation and calibration (tests and ``make bench``): :func:`simulate_quintile_series`,
  :func:`null_rejection_rate`, :func:`rejection_rate`.

Modules: ``settings`` (options), ``frequency`` (the time axis), ``design`` (regressors, series checks),
``inference`` (model fitting, REML GLS, diagnostics), ``effects`` (coefficients and effect contrasts), ``segmented``
(one series), ``comparative`` (two series), ``pooled`` (many control units), ``stacked`` (every wave in event time;
its error models in ``error_models``, its practice jackknife in ``clusters``), ``comparison`` (nested models),
``series`` (from the measures table), ``analysis`` (the chapter), ``simulate``, ``calibration``.
Every estimator answers the protocol of :mod:`beyond_averages.results`.
"""

from beyond_averages.its.analysis import ITSAnalysis, run_its_analysis
from beyond_averages.its.calibration import null_rejection_rate, rejection_rate
from beyond_averages.its.comparative import ControlledITS, ControlledQuintileITS, QuintileContrastITS
from beyond_averages.its.comparison import model_comparison
from beyond_averages.its.pooled import PooledControlledITS
from beyond_averages.its.segmented import SegmentedRegression
from beyond_averages.its.series import build_arm_series, build_monthly_series, inequality_series, wave_practices
from beyond_averages.its.settings import ITSSettings
from beyond_averages.its.simulate import simulate_quintile_series
from beyond_averages.its.stacked import StackedControlledITS

__all__ = [
    "ControlledITS", "ControlledQuintileITS", "ITSAnalysis", "ITSSettings", "PooledControlledITS",
    "QuintileContrastITS", "SegmentedRegression", "StackedControlledITS", "build_arm_series", "build_monthly_series",
    "inequality_series",
    "model_comparison", "null_rejection_rate", "rejection_rate", "run_its_analysis", "simulate_quintile_series",
    "wave_practices",
]
