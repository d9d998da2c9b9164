"""The chapter's difference-in-differences analysis in one call: every fitted estimator the report needs.

``run_did_analysis(panel, DidSettings(...))`` fits, on the cell panel from
:func:`beyond_averages.did.panel.build_did_panel`: effects by IMD quintile and their Q_a - Q_b contrast (TWFE with a
wild cluster bootstrap, and the group-time ATT), overall effects on the practice-level indicator, event studies
(overall, Q_a, Q_b), and DiD on the within-practice gap and slope index of inequality. Weighting: ``"denominator"``
weights cells (TWFE) or units (group-time ATT, mean denominator) by patients, so effects are on the patient-level
indicator; ``"none"`` gives the average practice. The sentences and tables built from it are in
:mod:`beyond_averages.report.did`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from beyond_averages import paths
from beyond_averages.config import load_study
from beyond_averages.did.covariates import conditional_fit
from beyond_averages.did.event_study import EventStudy
from beyond_averages.did.inference import BootWeights
from beyond_averages.did.panel import (
    Comparison, OutcomeScale, inequality_weights, load_did_panel, practice_month_panel, within_practice_inequality,
)
from beyond_averages.did.staggered import GroupTimeATT
from beyond_averages.did.twfe import TwoWayFixedEffects

HeadlineEstimator = Literal["group_time_att", "twfe"]
FEW_CLUSTERS = r"only \d+ treated clusters"  # the start of every few-clusters message (did.inference)
Weighting = Literal["denominator", "none"]
ParallelTrends = Literal["conditional", "unconditional"]


@dataclass(frozen=True)
class DidSettings:
    """Options of :func:`run_did_analysis`. ``wild_bootstrap`` draws with ``boot_weights`` give the p-value of
    the TWFE triple difference (and of the overall TWFE effect); ``window`` is the event studies' (lo, hi) months."""

    comparison: Comparison = "never_treated"
    estimator: HeadlineEstimator = "group_time_att"  # the headline estimator of the computed sentences
    outcome_scale: OutcomeScale = "percentage_points"
    contrast: tuple[int, int] = (1, 5)
    weighting: Weighting = "denominator"
    window: tuple[int, int] = (-12, 24)
    wild_bootstrap: int = 999
    boot_weights: BootWeights = "webb"
    seed: int = 20240601
    # Unconditional parallel trends is the default, chosen by the recovery study: conditioning on baseline levels
    # measured with noise biased the per-quintile effects by +0.6 to +0.7 pp when adopters were selected on their
    # level (regression to the mean), and unconditional was unbiased there and in every other scenario
    # (docs/did.md). "conditional": the baseline covariates of did.covariates (doubly robust), a sensitivity row.
    parallel_trends: ParallelTrends = "unconditional"
    covid_start: str | None = None   # the covariates' pre-COVID-19 year; None: study.yaml's covid_start

    def __post_init__(self):
        if self.comparison not in ("never_treated", "not_yet_treated"):
            raise ValueError(f"comparison must be 'never_treated' or 'not_yet_treated'; got {self.comparison!r}")
        if self.estimator not in ("group_time_att", "twfe"):
            raise ValueError(f"estimator must be 'group_time_att' or 'twfe'; got {self.estimator!r}")
        if self.outcome_scale not in ("percentage_points", "proportion"):
            raise ValueError(f"outcome_scale must be 'percentage_points' or 'proportion'; got {self.outcome_scale!r}")
        if self.weighting not in ("denominator", "none"):
            raise ValueError(f"weighting must be 'denominator' or 'none'; got {self.weighting!r}")
        if self.parallel_trends not in ("conditional", "unconditional"):
            raise ValueError(f"parallel_trends must be 'conditional' or 'unconditional'; got {self.parallel_trends!r}")
        if self.boot_weights not in ("rademacher", "webb", "mammen"):
            raise ValueError(f"boot_weights must be 'rademacher', 'webb' or 'mammen'; got {self.boot_weights!r}")
        c = tuple(int(q) for q in self.contrast)
        if len(c) != 2 or c[0] == c[1] or not all(1 <= q <= 5 for q in c):
            raise ValueError(f"contrast must be two different IMD quintiles 1..5; got {self.contrast!r}")
        object.__setattr__(self, "contrast", c)


@dataclass
class DidAnalysis:
    settings: DidSettings
    panel: pd.DataFrame
    practice_panel: pd.DataFrame
    inequality_panel: pd.DataFrame
    twfe_quintile: TwoWayFixedEffects
    twfe_overall: TwoWayFixedEffects
    gta_quintile: GroupTimeATT
    gta_overall: GroupTimeATT
    event_overall: EventStudy
    event_quintile: dict = field(default_factory=dict)
    inequality: dict = field(default_factory=dict)  # (outcome, estimator) -> fitted estimator
    area: str = ""


def run_did_analysis(panel: pd.DataFrame, settings: DidSettings = DidSettings(), area: str = "") -> DidAnalysis:
    """Every fit of the chapter. The few-treated-clusters warning is given once for the analysis (from the
    quintile fit, whose treated practices every other fit shares), not once per fit."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FEW_CLUSTERS, category=UserWarning)
        analysis = _fit_all(panel, settings, area)
    if analysis.gta_quintile.few_clusters_message:
        warnings.warn(analysis.gta_quintile.few_clusters_message, UserWarning, stacklevel=2)
    return analysis


def _fit_all(panel: pd.DataFrame, settings: DidSettings, area: str) -> DidAnalysis:
    s = settings
    w = "denominator" if s.weighting == "denominator" else None
    common = dict(outcome="outcome", unit="practice_id", time="month", first_treated="programme_start")
    boot = dict(wild_bootstrap=s.wild_bootstrap, boot_weights=s.boot_weights, seed=s.seed)
    practice = practice_month_panel(panel, s.outcome_scale)
    ineq = within_practice_inequality(panel, s.outcome_scale)
    twq = TwoWayFixedEffects(panel, by="imd_quintile", weights=w, contrast=s.contrast, source="did panel", **boot,
                             **common)
    two = TwoWayFixedEffects(practice, weights=w, source="practice panel", **boot, **common)
    gta = group_time_fitter(s)
    gtq = gta(panel, "outcome", ["practice_id", "imd_quintile"], by="imd_quintile", source="did panel")
    gto = gta(practice, "outcome", ["practice_id"], source="practice panel")
    evo = EventStudy(practice, window=s.window, weights=w, source="practice panel", **common)
    evq = {q: EventStudy(panel[panel["imd_quintile"] == q], window=s.window, weights=w, source=f"did panel Q{q}",
                         **common) for q in s.contrast}
    inequality = {}
    for measure in ("gap", "sii"):
        kw = dict(common, outcome=measure)
        inequality[(measure, "twfe")] = TwoWayFixedEffects(ineq, weights=inequality_weights(measure, w),
                                                           source=f"within-practice {measure}", **kw)
        inequality[(measure, "group_time_att")] = gta(ineq, measure, ["practice_id"],
                                                      source=f"within-practice {measure}")
    return DidAnalysis(s, panel, practice, ineq, twq, two, gtq, gto, evo, evq, inequality, area)


def group_time_fitter(settings: DidSettings):
    """``fit(frame, outcome, keys, by=None, source="")``: the chapter's group-time ATT of ``outcome`` with the
    settings' weighting, comparison group and parallel-trends assumption (under "conditional", the baseline
    covariates of each unit ``keys``). The one place the chapter's headline estimator is configured: the analysis,
    and the recovery study that judges it, both fit through it."""
    w = "denominator" if settings.weighting == "denominator" else None
    conditional = settings.parallel_trends == "conditional"
    covid_start = (settings.covid_start or load_study().covid_start) if conditional else None

    def fit(frame: pd.DataFrame, outcome: str, keys: list[str], by: str | None = None, source: str = ""):
        # A within-practice measure ("gap", "sii") carries its own weight (the gap's effective patients).
        return conditional_fit(frame, outcome, keys, covid_start, conditional, by=by, unit="practice_id",
                               time="month", first_treated="programme_start",
                               weights=inequality_weights(outcome, w),
                               comparison=settings.comparison, source=source)
    return fit


def run_did_analysis_from_files(
    measures_path, programme_path, *, area: str = "", comparison: Comparison = "never_treated",
    estimator: HeadlineEstimator = "group_time_att", outcome_scale: OutcomeScale = "percentage_points",
    contrast=(1, 5), **settings,
) -> DidAnalysis:
    """The notebook's one call: read both Parquet files (paths relative to the repository root unless absolute;
    ``None``: the area's files that ``make`` writes, :meth:`~beyond_averages.config.Study.area_inputs`), build the
    panel and run :func:`run_did_analysis`. With ``area``, the measures file must be that area's."""
    s = DidSettings(comparison=comparison, estimator=estimator, outcome_scale=outcome_scale,
                    contrast=tuple(contrast), **settings)
    if measures_path is None or programme_path is None:
        measures_path, programme_path = load_study().area_inputs(area, measures_path, programme_path)
    panel = load_did_panel(paths.resolve(measures_path), paths.resolve(programme_path), outcome_scale=outcome_scale,
                           area=area or None)
    return run_did_analysis(panel, s, area)
