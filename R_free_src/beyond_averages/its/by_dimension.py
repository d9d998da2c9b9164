"""The ITS chapter's headline, the stacked controlled ITS (:class:`~beyond_averages.its.stacked.StackedControlledITS`),
by the groups of any equity dimension (ethnic group, sex, age band, IMD x ethnic group), and each group minus the
reference group.

The model is the chapter's, unchanged: for every adoption wave and group, the monthly difference between the wave's
adopters and the never-adopting practices, stacked in event time, each wave weighted by its adopters' eligible
patients (all groups) in the month before its start. The estimator keys its series by an integer quintile and
forms "1 - 5" as the model fitted to the difference of those two rows; so each non-reference group is fitted with
the group coded 1, the reference coded 5 and every other group pooled into one series coded 0. The "1 - 5" row is
then the group minus the reference with an SE that includes their correlation, and the pooled series keeps the wave
weights those of all groups. The reference row is the same in every fit (the same series, the same weights).

Disclosure: each wave x arm x month x group sum passes :func:`beyond_averages.disclosure.release_split_counts`
before any model sees it, with complementary suppression across the groups of one wave, arm and month (their
total is the chapter's series). A group with a redacted month in any wave or arm cannot be modelled (a model of
redacted counts would be a model of a disclosure pattern): it is left out, with the reason, and so is its difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from beyond_averages.disclosure import DEFAULT_RULES, DisclosureRules, release_split_counts
from beyond_averages.files import InputError, require_columns
from beyond_averages.its.series import adoption_waves, wave_practices
from beyond_averages.its.settings import ITSSettings
from beyond_averages.its.stacked import CONTRAST_KEY, StackedControlledITS

# The estimator's codes: the analysed group is "quintile" 1 and the reference 5, so its "1 - 5" row is their difference.
GROUP_CODE, REFERENCE_CODE, OTHERS_CODE = 1, 5, 0
COLUMNS = ("practice_id", "month", "group", "numerator", "denominator")


@dataclass
class StackedByGroup:
    """The stacked controlled ITS by group: ``effects`` (tidy: ``group, term, horizon``, ``term`` "effect" or
    "difference" = group minus ``reference``), the fits (group -> :class:`StackedControlledITS`, the group coded 1
    and the reference 5), the released series every model was fitted to, and the groups left out with the reason."""

    reference: str
    horizons: tuple[int, ...]
    effects: pd.DataFrame
    fits: dict = field(default_factory=dict)
    released: pd.DataFrame | None = None
    skipped: dict = field(default_factory=dict)


def released_wave_series(measures: pd.DataFrame, programme: pd.DataFrame, groups, *,
                         rules: DisclosureRules = DEFAULT_RULES, source: str = "measures by group") -> pd.DataFrame:
    """Per wave, arm (``programme``: the wave's adopters; ``comparison``: never adopters), group and month, the
    summed counts, released with complementary suppression within each wave, arm and month: ``wave, arm, group,
    month, numerator, denominator, n_practices`` (practices of the wave, exact: organisations, not patients)."""
    require_columns(measures, list(COLUMNS), source)
    frame = measures[measures["group"].astype(str).isin([str(g) for g in groups])].assign(
        group=lambda d: d["group"].astype(str), practice_id=lambda d: d["practice_id"].astype(str))
    adopters = set(programme.dropna(subset=["programme_start"])["practice_id"].astype(str))
    never = sorted(set(frame["practice_id"].unique()) - adopters)   # unique first: no Python loop over every row
    if not never:
        raise InputError(f"{source}: no never-adopting practice in column 'practice_id'; no comparison series")
    parts = []
    for wave in range(1, len(adoption_waves(programme)) + 1):
        ids, _ = wave_practices(programme, wave)
        for arm, members in (("programme", ids), ("comparison", never)):
            chosen = frame[frame["practice_id"].isin(set(members))]
            sums = chosen.groupby(["group", "month"], sort=True)[["numerator", "denominator"]].sum().reset_index()
            parts.append(sums.assign(wave=wave, arm=arm, n_practices=len(ids)))
    raw = pd.concat(parts, ignore_index=True)[["wave", "arm", "group", "month", "numerator", "denominator",
                                                 "n_practices"]]
    raw["month"] = pd.to_datetime(raw["month"])
    return release_split_counts(raw, splits=[("wave", "arm", "month")], rules=rules, rate_column=None)


def _coded(released: pd.DataFrame, group: str, reference: str) -> pd.DataFrame:
    """The estimator's input for one group: the group coded 1, the reference 5, the others pooled as 0."""
    code = np.where(released["group"] == group, GROUP_CODE,
                    np.where(released["group"] == reference, REFERENCE_CODE, OTHERS_CODE))
    coded = released.assign(imd_quintile=code)
    return (coded.groupby(["wave", "arm", "imd_quintile", "month"], as_index=False)
            .agg(numerator=("numerator", "sum"), denominator=("denominator", "sum"),
                 n_practices=("n_practices", "first")))


def stacked_by_group(measures: pd.DataFrame, programme: pd.DataFrame, groups, reference: str, *,
                     horizons=(6, 12, 24), settings: ITSSettings | None = None, autocorrelation: str = "rule",
                     rules: DisclosureRules = DEFAULT_RULES, source: str = "measures by group") -> StackedByGroup:
    """The chapter's stacked controlled ITS for every group of ``groups`` (codes of ``measures``' ``group``
    column, reference included) and each group minus ``reference``, at ``horizons`` months after each wave's start.
    ``settings``: the chapter's (Gaussian, all months, Fourier seasonality with 2 harmonics by default)."""
    groups = [str(g) for g in groups]
    if reference not in groups:
        raise InputError(f"{source}: reference group {reference!r} is not among the groups {groups}")
    settings = settings or ITSSettings(family="gaussian", seasonality="fourier", harmonics=2, covid="none")
    horizons = tuple(int(h) for h in horizons)
    released = released_wave_series(measures, programme, groups, rules=rules, source=source)
    starts = {k: pd.Timestamp(s) for k, s in enumerate(adoption_waves(programme), start=1)}
    hidden = released.groupby("group")[["numerator", "denominator"]].apply(lambda d: bool(d.isna().any().any()))
    skipped = {g: "a wave, arm or month of its series is redacted by disclosure control" for g in groups
               if hidden.get(g, True)}
    out = StackedByGroup(reference, horizons, pd.DataFrame(), {}, released, skipped)
    if reference in skipped:
        out.skipped = {g: f"the reference group {reference!r}: {skipped[reference]}" if g != reference
                       else skipped[g] for g in groups}
        out.effects = _empty()
        return out
    shown = released[~released["group"].isin(list(skipped))]
    rows = []
    for g in (g for g in groups if g != reference and g not in skipped):
        try:
            fit = StackedControlledITS(_coded(shown, g, reference), starts, settings=settings,
                                       autocorrelation=autocorrelation)
        except InputError:  # e.g. too few months before a moved start; the group is reported as left out
            out.skipped[g] = "the model could not be fitted to its series"
            continue
        out.fits[g] = fit
        eff = fit.effect_summary(horizons)
        keep = {str(GROUP_CODE): (g, "effect"), CONTRAST_KEY: (g, "difference")}
        if len(out.fits) == 1:  # the reference's row: the same series and weights in every fit
            keep[str(REFERENCE_CODE)] = (reference, "effect")
        eff = eff[eff["group"].isin(list(keep))]
        rows.append(eff.assign(term=[keep[k][1] for k in eff["group"]], group=[keep[k][0] for k in eff["group"]]))
    out.effects = pd.concat(rows, ignore_index=True) if rows else _empty()
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["group", "horizon", "measure", "estimate", "std_error", "ci_lower", "ci_upper",
                                 "p_value", "waves", "n_waves", "term"])
