"""Effects beyond deprivation in one call: every estimator of the evaluation chapters run by the groups of the
configured equity dimension (``equity_dimension`` in ``study.yaml`` or the area file), each group compared with the
dimension's reference group.

:func:`run_dimension_evaluation` counts the indicator per practice x group x month
(:func:`beyond_averages.measures.by_dimension.measures_by_dimension`) and fits

* the DiD chapter's estimators by group (:mod:`beyond_averages.did.by_dimension`): the group-time ATT per group
  and its contrast with the reference (headline), two-way fixed effects by group (secondary) and the
  within-practice DiD of each group's difference from the reference;
* the ITS chapter's headline, the stacked controlled ITS, per group and group minus reference at the chapter's
  horizons (:mod:`beyond_averages.its.by_dimension`).

When the configured dimension is IMD quintile itself (the other chapters' subject), the analysis is by ethnic group:
CORE20PLUS5's "PLUS" populations are groups beyond deprivation, ethnic minority groups first among them
(:func:`beyond_averages.equity.dimensions.beyond_deprivation`). The counts shown beside the estimates (eligible
patients and those meeting the indicator per group and arm before the first wave) pass
:func:`beyond_averages.disclosure.release_split_counts`, every cell of the split; the ITS models see only released
counts (:mod:`beyond_averages.its.by_dimension`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from beyond_averages import config, paths
from beyond_averages.did.by_dimension import (
    GroupDid, GroupDidSettings, did_by_group, group_panel, unestimable_groups,
)
from beyond_averages.disclosure import DisclosureRules, release_split_counts
from beyond_averages.equity.dimensions import (
    IMD_QUINTILE, Dimension, beyond_deprivation, dimension_for, get_dimension,
)
from beyond_averages.files import InputError, read_parquet
from beyond_averages.its.by_dimension import StackedByGroup, stacked_by_group
from beyond_averages.its.series import adoption_waves
from beyond_averages.its.settings import ITSSettings
from beyond_averages.measures.by_dimension import measures_by_dimension
from beyond_averages.results import tidy_frame

ESTIMATOR_ORDER = ("group_time_att", "twfe", "group_gap", "stacked_its")
KEYS = ("estimator", "group", "label", "term", "horizon")


@dataclass
class DimensionEvaluation:
    """Every estimate by group. ``effects``: tidy, keyed by ``estimator`` (``group_time_att``, ``twfe``,
    ``group_gap``, ``stacked_its``), ``group`` (code), ``label``, ``term`` ("effect": the programme's effect in the
    group; "difference": the group's effect minus the reference group's) and ``horizon`` (months after the start,
    ITS only). ``configured``: the study's or area's dimension; ``dimension``: the one analysed. ``counts``: released
    baseline counts per group and arm. ``skipped``: estimator -> {group: why it was left out}."""

    area: str
    configured: Dimension
    dimension: Dimension
    settings: GroupDidSettings
    horizons: tuple[int, ...]
    effects: pd.DataFrame
    did: GroupDid
    its: StackedByGroup
    counts: pd.DataFrame
    baseline_month: pd.Timestamp
    waves: tuple[pd.Timestamp, ...]
    n_adopters: int
    n_never: int
    rules: DisclosureRules
    reference: str                   # the group every other is compared with (the dimension's, unless not estimable)
    requested: str | None = None     # the dimension asked for by argument (None: the configured one)

    @property
    def beyond_imd(self) -> bool:
        """True when IMD quintile (configured or asked for) was replaced by ethnic group."""
        return (self.requested or self.configured.name) == IMD_QUINTILE.name

    @property
    def reference_replaced(self) -> bool:
        """True when the dimension's own reference group could not be estimated and the largest group stood in."""
        return self.reference != self.dimension.reference

    def rows(self, estimator: str | None = None, term: str | None = None, horizon: int | None = None
             ) -> pd.DataFrame:
        """The rows of ``effects`` for one estimator, term and (ITS) horizon, in group order."""
        e = self.effects
        if estimator is not None:
            e = e[e["estimator"] == estimator]
        if term is not None:
            e = e[e["term"] == term]
        if horizon is not None:
            e = e[e["horizon"] == horizon]
        return e.reset_index(drop=True)

    def skipped_groups(self) -> dict:
        """Estimator -> {group: why it was left out} (``all``: left out of every estimator)."""
        return {"all": dict(self.did.skipped), "group_gap": dict(self.did.gap_skipped),
                "stacked_its": dict(self.its.skipped)}


def analysed_dimension(study: config.Study, area: config.Area, dimension: str | Dimension | None = None
                       ) -> tuple[Dimension, Dimension]:
    """``(configured, analysed)``: the area's configured dimension and the one this analysis splits by (``dimension``
    when given; ethnic group in place of IMD quintile)."""
    configured = dimension_for(study, area)
    if dimension is None:
        chosen = configured
    elif isinstance(dimension, Dimension):
        chosen = dimension
    else:
        chosen = get_dimension(str(dimension), key="dimension (argument of run_dimension_evaluation)")
    if chosen.name == IMD_QUINTILE.name:
        chosen = beyond_deprivation(chosen)[0]
    return configured, chosen


def baseline_counts(measures: pd.DataFrame, programme: pd.DataFrame, dimension: Dimension, month: pd.Timestamp,
                    rules: DisclosureRules) -> pd.DataFrame:
    """Eligible patients and those meeting the indicator in ``month`` per group and arm (adopting practices, never
    adopting practices), released with complementary suppression across the groups of each arm: ``arm, group,
    label, numerator, denominator, rate``."""
    adopters = set(programme.dropna(subset=["programme_start"])["practice_id"].astype(str))
    m = measures[pd.to_datetime(measures["month"]) == month]
    arm = m["practice_id"].astype(str).isin(adopters).map({True: "adopters", False: "never adopters"})
    raw = (m.assign(arm=arm, group=m["group"].astype(str))
           .groupby(["arm", "group"], sort=False)[["numerator", "denominator"]].sum()
           .reindex(pd.MultiIndex.from_product([["adopters", "never adopters"], list(dimension.codes)],
                                               names=["arm", "group"]), fill_value=0).reset_index())
    out = release_split_counts(raw, splits=[("arm",)], rules=rules)
    out.insert(2, "label", [dimension.label(g) for g in out["group"]])
    return out


def choose_reference(measures: pd.DataFrame, programme: pd.DataFrame, dimension: Dimension, comparison: str
                     ) -> str:
    """The dimension's reference group or, when no estimator can use it (e.g. children for an indicator of adults),
    the estimable group with the most eligible patient-months: a comparison needs a reference with data."""
    panel = group_panel(measures, programme)
    skipped, _ = unestimable_groups(panel, dimension.codes, comparison)
    if dimension.reference not in skipped:
        return dimension.reference
    usable = panel[~panel["group"].isin(list(skipped))]
    if usable.empty:
        raise InputError(f"equity dimension {dimension.name!r}: no group has eligible patients in adopting and "
                         "comparison practices in every month; nothing can be estimated")
    return str(usable.groupby("group")["denominator"].sum().idxmax())


def run_dimension_evaluation(area: str | Path, dimension: str | Dimension | None = None, extract_dir=None,
                             programme_path=None, *, comparison: str = "never_treated", horizons=(6, 12, 24),
                             n_boot: int = 999, seed: int = 20240601, stacked_autocorrelation: str = "rule",
                             study_path=None, measures: pd.DataFrame | None = None) -> DimensionEvaluation:
    """The chapter's one call (module docstring). ``area``: a name or an area file; ``dimension``: None for the
    configured one; ``extract_dir`` and ``programme_path`` default to the study's extract and the area's programme
    file; ``measures``: counts by group already computed (skips counting). The DiD options are the DiD chapter's
    defaults, the ITS options the ITS chapter's (Gaussian differences, Fourier seasonality, all months, the
    error-model rule)."""
    study = config.load_study(study_path)
    area_obj = config.load_area(area)
    configured, chosen = analysed_dimension(study, area_obj, dimension)
    extract = paths.resolve(extract_dir) if extract_dir else study.resolved_extract_dir()
    programme_file = (paths.resolve(programme_path) if programme_path
                      else extract / f"programme_{area_obj.name}.parquet")
    programme = read_parquet(programme_file, columns=["practice_id", "programme_start"])
    programme["programme_start"] = pd.to_datetime(programme["programme_start"])
    if measures is None:
        measures = measures_by_dimension(area_obj, chosen, extract, study)
    rules = study.disclosure_rules
    settings = GroupDidSettings(comparison=comparison, n_boot=n_boot, seed=seed)
    codes = list(chosen.codes)
    reference = choose_reference(measures, programme, chosen, comparison)
    did = did_by_group(measures, programme, codes, reference, settings, source=f"{area_obj.name} by {chosen.title}")
    horizons = tuple(int(h) for h in horizons)
    its_settings = ITSSettings(family="gaussian", seasonality="fourier", harmonics=2, covid="none")
    its = stacked_by_group(measures, programme, [g for g in codes if g in did.groups], reference,
                           horizons=horizons, settings=its_settings, autocorrelation=stacked_autocorrelation,
                           rules=rules)
    its_rows = its.effects.assign(estimator="stacked_its")[["estimator", "group", "term", "horizon", "estimate",
                                                             "std_error", "ci_lower", "ci_upper", "p_value"]]
    effects = pd.concat([did.effects.assign(horizon=pd.NA), its_rows], ignore_index=True)
    effects["horizon"] = effects["horizon"].astype("Int64")
    effects.insert(2, "label", [chosen.label(g) for g in effects["group"]])
    order = {g: i for i, g in enumerate(codes)}
    effects = effects.assign(_e=effects["estimator"].map(ESTIMATOR_ORDER.index), _g=effects["group"].map(order),
                             _t=effects["term"].map({"effect": 0, "difference": 1}))
    effects = effects.sort_values(["_e", "_t", "horizon", "_g"], na_position="first").drop(columns=["_e", "_g", "_t"])
    waves = tuple(pd.Timestamp(w) for w in adoption_waves(programme))
    baseline = waves[0] - pd.DateOffset(months=1)
    counts = baseline_counts(measures, programme, chosen, baseline, rules)
    ids = set(measures["practice_id"].astype(str).unique())   # unique first: no Python loop over every row
    adopters = set(programme.dropna(subset=["programme_start"])["practice_id"].astype(str)) & ids
    return DimensionEvaluation(area_obj.name, configured, chosen, settings, horizons,
                               tidy_frame(effects.reset_index(drop=True), keys=KEYS), did, its, counts, baseline,
                               waves, len(adopters), len(ids - adopters), rules, reference,
                               None if dimension is None else chosen.name if isinstance(dimension, Dimension)
                               else str(dimension))
