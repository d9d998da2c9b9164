"""The DiD chapter's estimators by the groups of any equity dimension (ethnic group, sex, age band, IMD x ethnic
group): the group-time ATT per group and each group's contrast with the reference group (the headline), two-way
fixed effects by group with the same contrasts (secondary), and the within-practice group difference
(:mod:`beyond_averages.did.group_gap`) of each group against the reference.

The panel is the DiD chapter's with the group in place of the IMD quintile: one row per practice x group x month,
``outcome`` the indicator in percentage points (missing where the group has no eligible patient that month), the
practice's ``programme_start`` (NaT: never adopted). As in the chapter, effects are weighted by eligible patients
(``denominator``) and adopters are compared with never-adopting practices.

A group can be estimated only if some adopting and some never-adopting practice have eligible patients of it in
every month (the estimator balances the panel by dropping the others). Groups where that fails are left out of every
estimator, with the reason, rather than stopping the analysis; so is a group whose within-practice difference has
no practice with both groups every month.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from beyond_averages.did.group_gap import group_gap_att
from beyond_averages.did.panel import Comparison
from beyond_averages.config import load_study
from beyond_averages.did.covariates import conditional_fit
from beyond_averages.did.staggered import GroupTimeATT
from beyond_averages.did.twfe import TwoWayFixedEffects
from beyond_averages.files import InputError, require_columns
from beyond_averages.measures import attach_programme

FEW_CLUSTERS = r"only \d+ treated clusters"  # did.inference's few-clusters message: said once by the caller


@dataclass(frozen=True)
class GroupDidSettings:
    """The DiD chapter's defaults: never-treated comparison, effects weighted by eligible patients, the multiplier
    bootstrap of the group-time ATT (``n_boot`` draws, ``seed``), unconditional parallel trends (``"conditional"``:
    each practice x group unit's baseline covariates, :mod:`beyond_averages.did.covariates`; ``covid_start`` None:
    the study's)."""

    comparison: Comparison = "never_treated"
    weighting: str = "denominator"
    n_boot: int = 999
    seed: int = 20240601
    parallel_trends: str = "unconditional"
    covid_start: str | None = None

    def __post_init__(self):
        if self.comparison not in ("never_treated", "not_yet_treated"):
            raise ValueError(f"comparison must be 'never_treated' or 'not_yet_treated'; got {self.comparison!r}")
        if self.weighting not in ("denominator", "none"):
            raise ValueError(f"weighting must be 'denominator' or 'none'; got {self.weighting!r}")
        if self.parallel_trends not in ("conditional", "unconditional"):
            raise ValueError(f"parallel_trends must be 'conditional' or 'unconditional'; got {self.parallel_trends!r}")


@dataclass
class GroupDid:
    """The fitted DiD estimators by group: ``effects`` (tidy, ``estimator, group, term``: ``term`` "effect" in the
    group or "difference" = group minus ``reference``), the fits, the groups left out (group -> reason) and the
    practices behind each group's estimate."""

    reference: str
    groups: tuple[str, ...]
    effects: pd.DataFrame
    gta: GroupTimeATT | None
    twfe: TwoWayFixedEffects | None
    gaps: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    practices: pd.DataFrame | None = None    # group, n_adopters, n_never: practices with the group every month
    few_clusters_message: str = ""
    gap_skipped: dict = field(default_factory=dict)  # group -> why its within-practice difference is missing


def group_panel(measures: pd.DataFrame, programme: pd.DataFrame, source: str = "measures by group") -> pd.DataFrame:
    """The analysis panel: ``practice_id, month, group`` (str), ``numerator``, ``denominator``, ``outcome`` (pp,
    NaN where the denominator is 0) and ``programme_start``."""
    require_columns(measures, ["practice_id", "month", "group", "numerator", "denominator"], source)
    frame = attach_programme(measures[["practice_id", "month", "group", "numerator", "denominator"]], programme)
    frame["group"] = frame["group"].astype(str)
    frame["month"] = pd.to_datetime(frame["month"])
    den = frame["denominator"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["outcome"] = np.where(den > 0, 100.0 * frame["numerator"].to_numpy(float) / np.where(den > 0, den, 1),
                                    np.nan)
    return frame.sort_values(["practice_id", "group", "month"], ignore_index=True)


def complete_practices(panel: pd.DataFrame) -> pd.DataFrame:
    """Per group, the adopting and never-adopting practices with eligible patients of the group in every month:
    ``group, n_adopters, n_never`` (practice counts: organisations, shown exactly)."""
    # A Cython "all" over a precomputed column, not a Python function per group and practice (the slow part).
    full = panel.assign(_positive=panel["denominator"] > 0).groupby(["group", "practice_id"], sort=True).agg(
        complete=("_positive", "all"), start=("programme_start", "first")).reset_index()
    full = full[full["complete"]]
    adopter = full["start"].notna()
    return (full.assign(n_adopters=adopter.astype(int), n_never=(~adopter).astype(int))
            .groupby("group", sort=False)[["n_adopters", "n_never"]].sum().reset_index())


def _rows(frame: pd.DataFrame, estimator: str, group: str, term: str) -> dict:
    row = frame.iloc[0]
    return {"estimator": estimator, "group": group, "term": term,
            **{c: float(row[c]) for c in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")}}


def unestimable_groups(panel: pd.DataFrame, groups, comparison: Comparison = "never_treated"
                       ) -> tuple[dict, pd.DataFrame]:
    """The groups no estimator can use (group -> why) and, per group, the practices with its patients every month
    (:func:`complete_practices`, indexed by group)."""
    groups = [str(g) for g in groups]
    present = set(panel["group"].unique())   # unique first: no Python loop over every row
    practices = complete_practices(panel).set_index("group").reindex(groups, fill_value=0)
    skipped = {g: "no eligible patients in the measures" for g in groups if g not in present}
    comparison_units = "n_never" if comparison == "never_treated" else "n_adopters"
    for g in groups:
        p = practices.loc[g]
        if g not in skipped and (p["n_adopters"] == 0 or p[comparison_units] == 0):
            skipped[g] = "no adopting or no comparison practice has eligible patients of the group in every month"
    return skipped, practices


def did_by_group(measures: pd.DataFrame, programme: pd.DataFrame, groups, reference: str,
                 settings: GroupDidSettings = GroupDidSettings(), source: str = "measures by group") -> GroupDid:
    """Every DiD estimator by group (module docstring); ``groups`` are the analysed codes, reference included."""
    groups = [str(g) for g in groups]
    if reference not in groups:
        raise InputError(f"{source}: reference group {reference!r} is not among the groups {groups}")
    panel = group_panel(measures, programme, source)
    panel = panel[panel["group"].isin(groups)]
    skipped, practices = unestimable_groups(panel, groups, settings.comparison)
    if reference in skipped:
        raise InputError(f"{source}: the reference group {reference!r} cannot be estimated: {skipped[reference]}")
    kept = [g for g in groups if g not in skipped]
    panel = panel[panel["group"].isin(kept)]
    w = "denominator" if settings.weighting == "denominator" else None
    common = dict(outcome="outcome", unit="practice_id", time="month", first_treated="programme_start")
    rows, gaps, gap_skipped = [], {}, {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=FEW_CLUSTERS, category=UserWarning)
        covid_start = settings.covid_start or load_study().covid_start
        gta = conditional_fit(panel, "outcome", ["practice_id", "group"], covid_start,
                              settings.parallel_trends == "conditional", by="group", weights=w,
                              comparison=settings.comparison, n_boot=settings.n_boot, seed=settings.seed, source=source,
                              **{k: v for k, v in common.items() if k != "outcome"})
        others = [g for g in kept if g != reference]
        twfe = TwoWayFixedEffects(panel, by="group", weights=w, contrast=(others[0], reference) if others else None,
                                  source=source, **common)
        tidy_gta = gta.tidy().set_index("level")
        tidy_twfe = twfe.tidy().dropna(subset=["level"]).set_index("level")
        for g in kept:
            rows.append(_rows(tidy_gta.loc[[g]], "group_time_att", g, "effect"))
            rows.append(_rows(tidy_twfe.loc[[g]], "twfe", g, "effect"))
        for g in others:
            rows.append(_rows(gta.contrast(g, reference), "group_time_att", g, "difference"))
            rows.append(_rows(twfe.contrast(g, reference), "twfe", g, "difference"))
            try:
                gaps[g] = group_gap_att(measures, programme, g, reference, comparison=settings.comparison,
                                        n_boot=settings.n_boot, seed=settings.seed)
            except InputError:  # no practice with eligible patients of both groups in every month
                gap_skipped[g] = "no practice has eligible patients of the group and the reference group every month"
                continue
            rows.append(_rows(gaps[g].fit.tidy(), "group_gap", g, "difference"))
    effects = pd.DataFrame(rows)
    return GroupDid(reference, tuple(kept), effects, gta, twfe, gaps, skipped, practices.reset_index(),
                    gta.few_clusters_message, gap_skipped)
