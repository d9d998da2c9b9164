"""Baseline covariates of conditional parallel trends: what adopters and never-adopters may differ in before the
programme, so that the group-time ATT compares like with like (Callaway & Sant'Anna 2021, the doubly robust 2x2 of
:mod:`.drdid`, as R ``did``'s ``xformla`` with ``est_method = "dr"``).

Why conditional parallel trends is the chapters' primary assumption: practices choose to adopt a QI programme, and
those that do tend to differ in where they stand (the ``selection`` scenario of the synthetic extract plants exactly
this: adoption more likely the higher a practice's own level). A look-back indicator's untreated path depends on its
level and on how far it still is from its pre-COVID-19 level, so unconditional parallel trends fails whenever adopters
start elsewhere; conditional on these covariates it can hold. The recovery study (``bench/recovery_study.py``) judges
the choice against the planted truth in every scenario.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from beyond_averages.did.staggered import GroupTimeATT

BASELINE_MONTHS = 12              # the pre-programme year and the pre-COVID year the covariates average over
COVARIATE_PREFIX = "cov_"


def baseline_covariates(frame: pd.DataFrame, outcome: str, keys: list[str], covid_start) -> pd.DataFrame:
    """``frame`` with time-invariant covariates of each unit (``keys``) that describe the selection the parallel-
    trends assumption is at risk from. Adopters may differ from never-adopters in where they stood when the
    programme began (``cov_level``: the unit's mean outcome over the year before the first adoption wave), in size
    (``cov_size``: log mean eligible patients that year; larger lists recover recall capacity differently) and in how
    far their practice still was from its pre-COVID-19 level (``cov_recovery``: the practice's level that year minus
    its mean over the year before ``covid_start``, each month's outcome averaged over the practice's rows weighted by
    their eligible patients; a look-back indicator recovers from the 2020 dip over years, at a pace that depends on
    how deep the dip was). The recovery is the practice's, not the unit's, because recall capacity is the practice's
    and because a practice x quintile unit of a few patients has a recovery of tens of points that carries no
    information and, as an outlier among the comparison units, destabilises the doubly robust fit. It is left out
    when the panel starts less than a year before ``covid_start`` or the first wave is before it."""
    first = frame["programme_start"].min()
    month = frame["month"]
    pre = frame[(month < first) & (month >= first - pd.DateOffset(months=BASELINE_MONTHS))]
    if pre.empty:
        raise ValueError(f"no month before the first adoption wave ({first:%Y-%m}): baseline covariates need one")
    out = pd.DataFrame({"cov_level": pre.groupby(keys)[outcome].mean(),
                        "cov_size": np.log(pre.groupby(keys)["denominator"].mean().clip(lower=1))})
    covid = pd.Timestamp(covid_start)
    if month.min() <= covid - pd.DateOffset(months=BASELINE_MONTHS) and covid < first:
        pre_covid = frame[(month < covid) & (month >= covid - pd.DateOffset(months=BASELINE_MONTHS))]
        recovery = _practice_level(pre, outcome) - _practice_level(pre_covid, outcome)
        practice_of_unit = out.index.get_level_values("practice_id")
        out["cov_recovery"] = recovery.reindex(practice_of_unit).to_numpy(float)
    return frame.merge(out, left_on=keys, right_index=True, how="left")


def _practice_level(frame: pd.DataFrame, outcome: str) -> pd.Series:
    """Each practice's mean over months of its monthly outcome, the rows of a practice-month averaged with their
    eligible patients as weights (a practice-month with none has no level and is left out)."""
    d = frame.assign(_w=frame["denominator"].astype(float), _wy=frame[outcome] * frame["denominator"].astype(float))
    monthly = d.groupby(["practice_id", "month"])[["_wy", "_w"]].sum()
    monthly = monthly[monthly["_w"] > 0]
    return (monthly["_wy"] / monthly["_w"]).groupby(level="practice_id").mean()


def with_covariates(frame: pd.DataFrame, outcome: str, keys: list[str], covid_start,
                    conditional: bool) -> tuple[pd.DataFrame, list[str] | None]:
    """``(frame, covariate names)`` for a group-time ATT: with :func:`baseline_covariates` when ``conditional``,
    else ``(frame, None)`` (unconditional parallel trends)."""
    if not conditional:
        return frame, None
    out = baseline_covariates(frame, outcome, keys, covid_start)
    return out, [c for c in out if c.startswith(COVARIATE_PREFIX)]


def conditional_fit(frame: pd.DataFrame, outcome: str, keys: list[str], covid_start, conditional: bool,
                    keep=None, **options) -> GroupTimeATT:
    """The group-time ATT of ``outcome`` under conditional parallel trends (``conditional``: the covariates of
    :func:`baseline_covariates` of each unit ``keys``) or unconditional. Under conditional parallel trends the doubly
    robust estimator is used; where the propensity score cannot be fitted for some cell (perfect separation, as in a
    small extract whose wave has a handful of units in a quintile), outcome regression (``est_method="reg"``, no
    propensity score, valid under the same assumption); where that fails too, the fit without covariates. A cell is
    never silently dropped by this choice: the fit returned has no failed cell unless the unconditional one has, and
    it says which estimator it is (``est_method``, ``covariates``). ``keep``: a function dropping months of the
    panel, applied after the covariates are attached (so they still describe the baseline year).
    ``options``: :class:`GroupTimeATT`'s."""
    keep = keep or (lambda panel: panel)
    data, covariates = with_covariates(frame, outcome, keys, covid_start, conditional)
    data = keep(data)
    if covariates:
        for method in ("dr", "reg"):
            try:
                fit = GroupTimeATT(data, outcome=outcome, covariates=covariates, est_method=method, **options)
            except ValueError:   # every cell failed (e.g. a hand-sized panel): as a failed cell, try the next
                continue
            if not fit.failed_cells:
                return fit
    return GroupTimeATT(keep(frame), outcome=outcome, **options)


def standardised_difference(levels: pd.Series, adopter: pd.Series) -> float:
    """Adopters' mean minus comparison units' mean of ``levels``, over the pooled standard deviation
    ``sqrt((var_adopters + var_comparison) / 2)`` (the standardised mean difference of balance diagnostics; NaN when
    either side has fewer than two units or no spread)."""
    a, b = levels[adopter.to_numpy(bool)].dropna(), levels[~adopter.to_numpy(bool)].dropna()
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    sd = np.sqrt((a.var() + b.var()) / 2)
    return float((a.mean() - b.mean()) / sd) if sd > 0 else float("nan")


def baseline_balance(panel: pd.DataFrame, ineq: pd.DataFrame, contrast: tuple[int, int], covid_start) -> dict:
    """How far adopters started from the comparison units, per headline estimand: the standardised difference of
    the baseline level (``cov_level`` of :func:`baseline_covariates`: the mean over the year before the first wave)
    of each quintile's practice x quintile units, of each practice's Q_a minus Q_b level (``"Q_a - Q_b"``) and of
    each practice's baseline within-practice gap and SII. ``{estimand: smd}``."""
    units = baseline_covariates(panel, "outcome", ["practice_id", "imd_quintile"], covid_start)
    units = units.drop_duplicates(["practice_id", "imd_quintile"])
    out = {f"Q{int(q)}": standardised_difference(u["cov_level"], u["programme_start"].notna())
           for q, u in units.groupby("imd_quintile", sort=True)}
    a, b = contrast
    wide = units.pivot(index="practice_id", columns="imd_quintile", values="cov_level")
    adopter = units.groupby("practice_id")["programme_start"].first().notna().reindex(wide.index)
    if a in wide and b in wide:
        out[f"Q{a} - Q{b}"] = standardised_difference(wide[a] - wide[b], adopter)
    for measure in ("gap", "sii"):
        p = baseline_covariates(ineq, measure, ["practice_id"], covid_start).drop_duplicates("practice_id")
        out[measure] = standardised_difference(p["cov_level"], p["programme_start"].notna())
    return out
