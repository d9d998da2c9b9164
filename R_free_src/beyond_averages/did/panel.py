"""Validated panels for difference-in-differences: generic checks, and the analysis panel built from the measures
schema plus each practice's programme start.

Boundary semantics (every DiD estimator here): a unit whose first-treated period is g is *treated from period g
onwards*, so the adoption month itself is post-treatment (``did``'s convention with no anticipation). A
first-treated value of NaN, NaT or 0 means never treated. One at or before the first period of the panel, or after
its last period, is an input error: the first leaves no pre-period, the second is not an adoption inside the panel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from beyond_averages.did.sparse import DEFAULT_RULE, SparseRule, inequality_measures
from beyond_averages.files import InputError, describe_rows, read_parquet, require_columns
from beyond_averages.measures import attach_programme, check_measures

Comparison = Literal["never_treated", "not_yet_treated"]
OutcomeScale = Literal["percentage_points", "proportion"]
NEVER = np.inf  # first-treated period code of never-treated units


@dataclass(frozen=True)
class Panel:
    """A validated long panel with integer period codes.

    ``frame`` holds the input rows plus ``_period`` (0..T-1, position of the time value), ``_first`` (period code
    of first treatment, ``inf`` for never treated), ``_treated`` (1 from that period on) and ``_unit`` (the
    unit, or unit x ``by``, code). ``periods`` are the sorted time values.
    """

    frame: pd.DataFrame
    periods: np.ndarray
    outcome: str
    unit: str
    time: str
    first_treated: str
    by: str | None
    source: str

    @property
    def adoption_periods(self) -> np.ndarray:
        """Period codes at which some unit is first treated (the adoption waves)."""
        c = self.frame.groupby("_unit")["_first"].first().to_numpy()
        return np.unique(c[np.isfinite(c)])


def _first_treated_codes(values: pd.Series, periods: np.ndarray, source: str, column: str,
                         unit_of: pd.Series) -> np.ndarray:
    """Map first-treated values to period codes; NaN/NaT/0 -> never (inf)."""
    vals = values
    if pd.api.types.is_datetime64_any_dtype(vals):
        never = vals.isna().to_numpy()
        v = vals.to_numpy()
    else:
        num = pd.to_numeric(vals, errors="coerce")
        never = (num.isna() | (num == 0)).to_numpy()
        v = num.to_numpy()
    p = np.asarray(periods)
    out = np.full(len(vals), NEVER)
    if (~never).any():
        tv = v[~never]
        pos = np.searchsorted(p, tv)
        pos_c = np.clip(pos, 0, len(p) - 1)
        found = p[pos_c] == tv
        before = tv < p[0]
        after = tv > p[-1]
        bad = ~found
        if bad.any():
            where = np.flatnonzero(~never)[np.flatnonzero(bad)[0]]
            problem = (
                "is before the first period of the panel" if before[bad][0]
                else "is after the last period of the panel" if after[bad][0]
                else "is not one of the panel's periods"
            )
            raise InputError(
                f"{source}: column {column!r}, unit {unit_of.iloc[where]!r}: adoption {tv[bad][0]!r} {problem} "
                f"({p[0]!r} to {p[-1]!r}); an adoption must fall on a period inside the panel"
            )
        codes = pos.astype(float)
        first = codes == 0
        if first.any():
            where = np.flatnonzero(~never)[np.flatnonzero(first)[0]]
            raise InputError(
                f"{source}: column {column!r}, unit {unit_of.iloc[where]!r}: treated from the first period "
                f"{p[0]!r}, so it has no pre-treatment period; drop it or extend the panel backwards"
            )
        out[~never] = codes
    return out


def validate_panel(
    data: pd.DataFrame, *, outcome: str, unit: str, time: str, first_treated: str, by: str | None = None,
    comparison: Comparison = "never_treated", extra: tuple[str, ...] = (), source: str = "panel",
) -> Panel:
    """Check a long panel and return it with integer codes.

    Raises :class:`InputError` naming the source, column and rows for: missing columns; duplicated
    (unit, time[, by]) rows; a unit with two different first-treated values (two start dates); an adoption outside
    the panel or at its first period; an unbalanced panel (a unit missing some periods); no comparison units.
    Rows with a missing outcome are kept (estimators drop them and say how many).
    """
    cols = [outcome, unit, time, first_treated] + ([by] if by else []) + [c for c in extra if c]
    require_columns(data, cols, source)
    frame = data[list(dict.fromkeys(cols))].reset_index(drop=True).copy()
    keys = [unit, time] + ([by] if by else [])
    if frame[keys].isna().any().any():
        raise InputError(f"{source}: missing values in {keys}: {describe_rows(frame, frame[keys].isna().any(axis=1))}")
    dup = frame.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        raise InputError(
            f"{source}: {int(dup.sum())} duplicated rows for the same ({', '.join(keys)}); each must appear once: "
            f"{describe_rows(frame, dup)}"
        )
    ukeys = [unit] + ([by] if by else [])
    n_starts = frame.groupby(unit, sort=False)[first_treated].nunique(dropna=False)
    twice = n_starts[n_starts > 1]
    if len(twice):
        u = twice.index[0]
        vals = frame.loc[frame[unit] == u, first_treated].drop_duplicates().tolist()
        raise InputError(
            f"{source}: column {first_treated!r}: unit {u!r} has {len(vals)} different adoption dates {vals}; a unit "
            "can adopt once (first adoption only; this design has no exits or re-adoptions)"
        )
    periods = np.sort(frame[time].unique())
    frame["_period"] = np.searchsorted(periods, frame[time].to_numpy())
    frame["_first"] = _first_treated_codes(frame[first_treated], periods, source, first_treated, frame[unit])
    frame["_unit"] = frame.groupby(ukeys, sort=True).ngroup()
    counts = frame.groupby("_unit").size()
    short = counts[counts < len(periods)]
    if len(short):
        u = frame.loc[frame["_unit"] == short.index[0], ukeys].iloc[0].tolist()
        raise InputError(
            f"{source}: unbalanced panel: {len(short)} unit(s) lack some of the {len(periods)} periods, e.g. "
            f"{dict(zip(ukeys, u))} has {int(short.iloc[0])}; add the missing rows (zero counts are rows too)"
        )
    first_by_unit = frame.groupby("_unit")["_first"].first()
    never = ~np.isfinite(first_by_unit.to_numpy())
    if comparison == "never_treated" and not never.any():
        raise InputError(
            f"{source}: column {first_treated!r}: no never-treated units, so there is no comparison group; use "
            "comparison='not_yet_treated' or add never-treated units"
        )
    treated = first_by_unit[~never]
    if treated.empty:
        raise InputError(f"{source}: column {first_treated!r}: no unit is ever treated; nothing to estimate")
    if not never.any() and treated.nunique() < 2:
        raise InputError(
            f"{source}: column {first_treated!r}: every unit adopts in the same period and none never adopts, so "
            "there is no comparison group"
        )
    frame["_treated"] = (frame["_period"] >= frame["_first"]).astype("float64")
    return Panel(frame, periods, outcome, unit, time, first_treated, by, source)


# --------------------------------------------------------------------------------------------- measures schema
def build_did_panel(
    measures: pd.DataFrame, programme: pd.DataFrame | None = None, *,
    outcome_scale: OutcomeScale = "percentage_points", source: str = "measures", programme_source: str = "programme",
) -> pd.DataFrame:
    """The cell-level analysis panel (month x practice x IMD quintile) from the measures table.

    Checks the measures against their contract (:func:`beyond_averages.measures.check_measures`: columns, IMD
    quintiles 1..5, whole counts with 0 <= numerator <= denominator), adds ``programme_start`` from ``programme``
    when given (else the column must be present; ``programme_source`` names that table in errors), and ``outcome`` =
    numerator / denominator (x 100 for ``percentage_points``), missing where the denominator is 0. Validates the
    panel (see :func:`validate_panel`).
    """
    check_measures(measures, source)
    frame = measures.copy()
    if programme is not None:
        frame = attach_programme(frame, programme, source=programme_source)
    require_columns(frame, ["programme_start"], source)
    frame["month"] = pd.to_datetime(frame["month"])
    frame["programme_start"] = pd.to_datetime(frame["programme_start"])
    num = pd.to_numeric(frame["numerator"], errors="coerce")
    den = pd.to_numeric(frame["denominator"], errors="coerce")
    scale = 100.0 if outcome_scale == "percentage_points" else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["outcome"] = np.where(den > 0, scale * num / den.where(den > 0, 1), np.nan)
    validate_panel(
        frame, outcome="outcome", unit="practice_id", time="month", first_treated="programme_start",
        by="imd_quintile", comparison="not_yet_treated", source=source,
    )
    return frame.sort_values(["practice_id", "imd_quintile", "month"]).reset_index(drop=True)


def load_did_panel(
    measures_path: str | os.PathLike, programme_path: str | os.PathLike, *,
    outcome_scale: OutcomeScale = "percentage_points", area: str | None = None,
) -> pd.DataFrame:
    """Read the measures and programme Parquet files and build the analysis panel. With ``area``, a measures
    file whose ``area`` column names another area is an error (the wrong file for the chapter)."""
    measures = read_parquet(measures_path)
    if area and "area" in measures.columns:
        other = measures["area"] != area
        if other.any():
            raise InputError(f"{measures_path}: column 'area' must be {area!r} (the chapter's area): "
                             f"{describe_rows(measures, other)}")
    programme = read_parquet(programme_path, columns=["practice_id", "programme_start"])
    return build_did_panel(measures, programme, outcome_scale=outcome_scale, source=str(measures_path),
                           programme_source=str(programme_path))


def practice_month_panel(panel: pd.DataFrame, outcome_scale: OutcomeScale = "percentage_points") -> pd.DataFrame:
    """All quintiles pooled: one row per practice-month with the practice's overall indicator."""
    g = panel.groupby(["practice_id", "month"], as_index=False).agg(
        numerator=("numerator", "sum"), denominator=("denominator", "sum"),
        programme_start=("programme_start", "first"),
    )
    scale = 100.0 if outcome_scale == "percentage_points" else 1.0
    den = g["denominator"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        g["outcome"] = np.where(den > 0, scale * g["numerator"] / np.where(den > 0, den, 1), np.nan)
    return g


def within_practice_inequality(panel: pd.DataFrame, outcome_scale: OutcomeScale = "percentage_points",
                               rule: SparseRule = DEFAULT_RULE) -> pd.DataFrame:
    """Each practice-month's inequality across its own patients' IMD quintiles, by :mod:`beyond_averages.equity`.

    Orientation follows ``equity`` (least minus most deprived, so positive = higher among the less deprived):
    ``gap`` = indicator in the least minus the most deprived quintiles and ``sii`` = the slope index of inequality
    (population-weighted least squares on the quintiles' cumulative population midpoints). Sparse quintiles follow
    ``rule``
    (:class:`beyond_averages.did.sparse.SparseRule`). The default rule: a quintile counts in a practice-month if it
    has at least one eligible patient; the gap compares the two most deprived quintiles pooled with the two least
    deprived pooled and is missing unless both sides count; the SII is missing unless at least two quintiles count
    (missing ranks are tolerated). A DiD of either measure then keeps only the practices where it exists in every
    month (:func:`beyond_averages.did.sparse.practices_kept` counts them per rule). Also ``gap_weight`` (the
    effective number of patients behind the gap, the gap's weight: :func:`inequality_weights`), ``denominator``
    (all quintiles, sparse ones included) and ``programme_start``.
    """
    scale = 100.0 if outcome_scale == "percentage_points" else 1.0
    out = inequality_measures(panel, rule, multiplier=scale)
    den = panel.groupby(["practice_id", "month"], sort=True)["denominator"].sum()
    out["denominator"] = den.to_numpy(dtype=float)
    start = panel.groupby("practice_id")["programme_start"].first()
    out["programme_start"] = out["practice_id"].map(start)
    return out


def inequality_weights(measure: str, weights: str | None) -> str | None:
    """The weight column of a DiD of the within-practice ``measure`` when the analysis weights by patients
    (``weights="denominator"``): the gap's ``gap_weight`` (the effective number of patients behind it, so a gap
    measured on a handful of patients counts little: the recovery study's reason, docs/did.md), the practice's
    eligible patients for the SII (fitted on all its quintiles); unweighted stays unweighted."""
    return "gap_weight" if measure == "gap" and weights == "denominator" else weights
