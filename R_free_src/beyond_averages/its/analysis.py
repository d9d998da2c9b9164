"""The ITS chapter's analysis in one call: :func:`run_its_analysis` reads the measures and programme tables and
fits every model the chapter shows (:class:`ITSAnalysis`). Sentences, tables and figures:
:mod:`beyond_averages.report.its`.

Headline: the stacked controlled ITS of every adoption wave (:class:`~beyond_averages.its.stacked.StackedControlledITS`:
each wave's adopters minus never-adopting practices per quintile, aligned on months since the wave's own start, and
Q1 minus Q5 as the difference of those rows), with its in-time placebo (the same model with every start moved back,
where the true effect is zero). Secondary: the controlled ITS of one wave (``controlled``) and, uncontrolled,
per-quintile fits, the Q1-vs-Q5 interaction model and segmented
regression of the inequality itself (gap and SII per month). Orientation: the interaction model reports Q1 (most
deprived) minus Q5 (least deprived), so a positive difference in level change means Q1 gained more; the gap and
SII (:func:`beyond_averages.its.series.inequality_series`) are positive when the LESS deprived are higher.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from beyond_averages.config import load_study
from beyond_averages.files import InputError, read_parquet, require_columns
from beyond_averages.its.comparative import ControlledQuintileITS, QuintileContrastITS
from beyond_averages.its.effects import EFFECT_KEYS
from beyond_averages.its.segmented import SegmentedRegression
from beyond_averages.its.series import adoption_waves, build_arm_series, inequality_series, wave_practices
from beyond_averages.its.settings import ITSSettings
from beyond_averages.its.stacked import StackedControlledITS
from beyond_averages.measures import read_measures
from beyond_averages.paths import resolve
from beyond_averages.results import tidy_frame

# The practice-level columns the headline's practice jackknife needs (its standard errors only).
PRACTICE_COLUMNS = ["practice_id", "imd_quintile", "month", "numerator", "denominator"]


def fit_by_quintile(series: pd.DataFrame, interruption, *, quintile_col: str = "imd_quintile",
                    **options) -> dict[int, SegmentedRegression]:
    """One :class:`SegmentedRegression` per quintile present in ``series`` (same options for all)."""
    require_columns(series, [quintile_col], "quintile series")
    return {int(q): SegmentedRegression(part.sort_values("month"), interruption, **options)
            for q, part in series.groupby(quintile_col, sort=True)}


def effects_by_quintile(fits: dict[int, SegmentedRegression], horizons) -> pd.DataFrame:
    """Effects at each horizon for every quintile, one tidy frame with ``imd_quintile`` first."""
    frames = [fit.effect_summary(horizons).assign(imd_quintile=q) for q, fit in fits.items()]
    return tidy_frame(pd.concat(frames, ignore_index=True), keys=("imd_quintile", *EFFECT_KEYS))


@dataclass
class ITSAnalysis:
    """Everything the ITS chapter shows, fitted once.

    Headline: ``controlled`` (:class:`ControlledQuintileITS`, wave practices minus never-adopting practices in
    each quintile, and Q1 - Q5 of those differences). Secondary, uncontrolled: ``quintile_fits`` (one segmented
    regression per quintile of the wave practices' series), ``contrast`` (Q1 vs Q5 interaction model of those
    series), ``gap_fit`` / ``sii_fit`` (the monthly gap and SII of those series).
    """

    area: str
    wave: int
    interruption: pd.Timestamp
    n_practices: int
    n_comparison: int
    horizons: tuple[int, ...]
    settings: ITSSettings            # uncontrolled fits
    controlled_settings: ITSSettings
    series: pd.DataFrame             # released counts by quintile, programme practices of the wave
    arm_series: pd.DataFrame         # released counts by quintile and arm (programme, comparison)
    inequality: pd.DataFrame         # gap and SII per month (programme practices)
    controlled: ControlledQuintileITS
    quintile_fits: dict
    contrast: QuintileContrastITS
    gap_fit: SegmentedRegression
    sii_fit: SegmentedRegression | None
    stacked: StackedControlledITS | None = None    # headline: every wave, event time
    placebo: StackedControlledITS | None = None    # the same model, every start moved back placebo_shift months
    placebo_shift: int = 0

    def stacked_effects(self) -> pd.DataFrame:
        """Headline: effect per quintile and Q1 - Q5 (the difference of those rows) at the horizons, every wave."""
        return self.stacked.effect_summary(self.horizons)

    def placebo_effects(self) -> pd.DataFrame | None:
        """The in-time placebo at the horizons (true effect zero): the rows whose interval excludes zero are flagged
        in ``excludes_zero``. ``None`` when there is no placebo fit."""
        if self.placebo is None:
            return None
        out = self.placebo.effect_summary(self.horizons)
        return out.assign(excludes_zero=(out["ci_lower"] > 0) | (out["ci_upper"] < 0))

    def quintile_effects(self) -> pd.DataFrame:
        """Uncontrolled effects per quintile (absolute and ratio) at the horizons."""
        return effects_by_quintile(self.quintile_fits, self.horizons)

    def controlled_effects(self) -> pd.DataFrame:
        """Controlled effects per quintile and their Q1 - Q5 difference at the horizons (percentage points)."""
        return self.controlled.effect_summary(self.horizons)

    def uncontrolled_vs_controlled(self) -> pd.DataFrame:
        """Per quintile and horizon (and Q1 - Q5): ``group, horizon, controlled, uncontrolled, difference``
        (uncontrolled minus controlled, percentage points); the uncontrolled Q1 - Q5 comes from ``contrast``."""
        c = self.controlled_effects().set_index(["group", "horizon"])["estimate"].rename("controlled")
        u = self.quintile_effects()
        u = u[u["measure"] == "absolute"].assign(group=lambda d: d["imd_quintile"].astype(str))
        uc = self.contrast.effect_summary(self.horizons)
        uc = uc[(uc["measure"] == "absolute") & uc["group"].str.contains(" - ")]
        u = pd.concat([u[["group", "horizon", "estimate"]], uc[["group", "horizon", "estimate"]]])
        out = pd.concat([c, u.set_index(["group", "horizon"])["estimate"].rename("uncontrolled")], axis=1)
        out["difference"] = out["uncontrolled"] - out["controlled"]
        return out.reset_index()


def run_its_analysis(measures_path, programme_path, *, area: str = "", wave: int = 1, interruption=None,
                     family: str = "gaussian", seasonality: str = "fourier", harmonics: int = 2,
                     autocorrelation: str = "auto", horizons=(6, 12, 24), covid_handling: str = "exclude",
                     covid_start: str = "2020-03-01", covid_end: str | None = None,
                     controlled_covid_handling: str = "none", transition_months: int = 0,
                     contrast_autocorrelation: str = "gls", stacked_autocorrelation: str = "rule",
                     stacked_inference: str = "practice_jackknife",
                     stacked_seasonality: str = "fourier", placebo: bool = True) -> ITSAnalysis:
    """Read the measures and programme tables and fit every ITS model of the chapter.

    Relative paths are taken from the repository root; ``None`` means the area's files that ``make`` writes
    (:meth:`~beyond_averages.config.Study.area_inputs`). The programme practices are those adopting in ``wave``
    (1 = first); ``interruption`` defaults to that wave's start. The comparison practices are the never-adopting
    ones.

    COVID-19: ``covid_handling`` (``exclude``, ``indicator`` or ``none``) applies to the uncontrolled fits, for the
    months ``covid_start`` to ``covid_end`` inclusive; ``covid_end=None`` means the month before the interruption,
    because an indicator with a multi-year look-back (a reading in the last 5 years) falls from March 2020 and has
    not come back by the programme's start, so any month of that fall left in the pre-period bends the pre-trend.
    The controlled fits use ``controlled_covid_handling`` (default ``none``: the shock is shared by the two arms and
    cancels in their difference, so all months are used).

    ``family`` applies to the uncontrolled per-quintile fits and the uncontrolled Q1-vs-Q5 model; the controlled
    analysis, gap and SII are differences in percentage points (gaussian). ``autocorrelation`` applies to the
    per-quintile fits; ``contrast_autocorrelation`` (default ``'gls'``: REML GLS with AR(1)-plus-white-noise
    errors, calibrated on null simulations) to everything that is a difference between two series: the controlled
    fits, the Q1-vs-Q5 models, and the gap and SII series. For those differences ``'gls'`` and ``'ar'`` need
    ``family='gaussian'`` (with a count family choose ``'newey_west'``, ``'none'`` or ``'auto'``); the per-quintile
    fits take ``'gls'`` with any family (quasi-likelihood GLS for counts, the calibrated default of
    :class:`ITSSettings`; this function keeps ``'auto'`` as its own default until the chapter moves to it).

    Headline (:class:`~beyond_averages.its.stacked.StackedControlledITS`): every wave's adopters against the
    never-adopting practices, ``stacked_seasonality`` (with ``harmonics``) and ``stacked_autocorrelation``
    (``'rule'``: the Ljung-Box then REML rule of that module; or ``'ar1_noise'``, ``'random_walk'``,
    ``'independent'`` imposed); all months used; ``stacked_inference``: ``'practice_jackknife'`` (standard errors
    from leaving out one practice at a time, :mod:`beyond_averages.its.clusters`) or ``'error_model'`` (from the
    rule's error model). Its
    placebo moves every start back by the longest horizon plus one month, so every placebo horizon lies before the
    real start, and fits the same model: an interval there that excludes zero is a false signal (``placebo=False``
    skips it, e.g. in the recovery study, which judges the headline against the truth itself).
    """
    if family != "gaussian" and contrast_autocorrelation in ("ar", "gls"):
        raise InputError(f"contrast_autocorrelation={contrast_autocorrelation!r} models the difference series and "
                         f"needs family='gaussian' (got {family!r}); use contrast_autocorrelation='newey_west', "
                         "'none' or 'auto' with a count family")
    if measures_path is None or programme_path is None:
        measures_path, programme_path = load_study().area_inputs(area, measures_path, programme_path)
    measures = read_measures(measures_path)
    programme = read_parquet(resolve(programme_path), columns=["practice_id", "programme_start"])
    ids, start = wave_practices(programme, wave)
    t0 = pd.Timestamp(interruption) if interruption else start
    end = covid_end or str((t0 - pd.DateOffset(months=1)).date())
    settings = ITSSettings(family=family, seasonality=seasonality, harmonics=harmonics,
                           autocorrelation=autocorrelation, covid=covid_handling, covid_start=covid_start,
                           covid_end=end, transition_months=transition_months)
    contrast_settings = replace(settings, autocorrelation=contrast_autocorrelation)
    gauss = replace(contrast_settings, family="gaussian")
    controlled_settings = replace(gauss, covid=controlled_covid_handling)
    never = sorted(set(measures["practice_id"].astype(str)) - set(programme["practice_id"].astype(str)))
    arms = build_arm_series(measures, ids, never)
    series = arms[arms["arm"] == "programme"].drop(columns="arm").reset_index(drop=True)
    ineq = inequality_series(series)
    controlled = ControlledQuintileITS(arms, t0, settings=controlled_settings)
    quintile_fits = fit_by_quintile(series, t0, settings=settings)
    contrast = QuintileContrastITS(series, t0, settings=contrast_settings)
    gap_fit = SegmentedRegression(ineq, t0, outcome="gap", settings=replace(gauss, per=1.0))
    sii_fit = (SegmentedRegression(ineq, t0, outcome="sii", settings=replace(gauss, per=1.0))
               if ineq["sii"].notna().all() else None)
    horizons = tuple(int(h) for h in horizons)
    stacked_settings = replace(controlled_settings, covid="none", seasonality=stacked_seasonality)
    stacked, placebo_fit, shift = stacked_fits(measures, programme, never, horizons, stacked_settings,
                                               stacked_autocorrelation, placebo, stacked_inference)
    return ITSAnalysis(area, int(wave), t0, len(ids), len(never), horizons, settings, controlled_settings, series,
                       arms, ineq, controlled, quintile_fits, contrast, gap_fit, sii_fit, stacked, placebo_fit, shift)


def stacked_fits(measures: pd.DataFrame, programme: pd.DataFrame, never, horizons, settings: ITSSettings,
                 autocorrelation: str = "rule", placebo: bool = True, inference: str = "practice_jackknife"):
    """The headline stacked controlled ITS of every wave and its in-time placebo (starts moved back by the longest
    horizon plus one month; ``None`` when ``placebo`` is false). Returns ``(stacked, placebo, shift)``. With
    ``inference='practice_jackknife'`` the practices' own rows of ``measures`` go to the estimator for its
    standard errors."""
    frames, practices, starts = [], [], {}
    pid = measures["practice_id"].astype(str)
    for k in range(1, len(adoption_waves(programme)) + 1):
        ids, starts[k] = wave_practices(programme, k)
        frames.append(build_arm_series(measures, ids, never).assign(wave=k, n_practices=len(ids)))
        if inference == "practice_jackknife":
            for arm, members in (("programme", ids), ("comparison", never)):
                practices.append(measures.loc[pid.isin(set(members)), PRACTICE_COLUMNS].assign(wave=k, arm=arm))
    data = pd.concat(frames, ignore_index=True)
    options = dict(settings=settings, autocorrelation=autocorrelation, inference=inference,
                   practices=pd.concat(practices, ignore_index=True) if practices else None)
    stacked = StackedControlledITS(data, starts, **options)
    shift = max(horizons) + 1
    if not placebo:
        return stacked, None, shift
    moved = {k: s - pd.DateOffset(months=shift) for k, s in starts.items()}
    try:
        moved_fit = StackedControlledITS(data, moved, **options)
    except InputError:  # a series too short for the moved starts: no placebo, and the chapter says so
        moved_fit = None
    return stacked, moved_fit, shift
