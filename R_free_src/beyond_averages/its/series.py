"""Monthly series from the measures table: the practices of an adoption wave, their series by IMD quintile
(and arm), and the inequality (gap and SII) per month.

Disclosure: the monthly series are sums over many practices and pass
:func:`beyond_averages.disclosure.release_counts` BEFORE any model is fitted, so every rate, model input and figure
derives from released (redacted, rounded-to-5) counts; a redacted month stops the analysis with an error rather
than being silently dropped.

Orientation of the inequality series: they come from :func:`beyond_averages.equity.equity_by_group`, the one
definition in the compendium: ``gap = p_Q5 - p_Q1`` and the SII (PHE method) are positive when the indicator is
higher among the LESS deprived.
"""

from __future__ import annotations

import pandas as pd

from beyond_averages.disclosure import DEFAULT_RULES, DisclosureRules, release_counts
from beyond_averages.equity import equity_by_group
from beyond_averages.files import InputError, require_columns
from beyond_averages.measures import check_measures


def adoption_waves(programme: pd.DataFrame, start_col: str = "programme_start") -> list[pd.Timestamp]:
    """Distinct adoption months, earliest first (wave 1 = the first)."""
    require_columns(programme, ["practice_id", start_col], "programme")
    return sorted(pd.to_datetime(programme[start_col].dropna()).unique())


def wave_practices(programme: pd.DataFrame, wave: int = 1, start_col: str = "programme_start"):
    """Practice ids adopting in ``wave`` (1-based) and that wave's first month."""
    waves = adoption_waves(programme, start_col)
    if not 1 <= int(wave) <= len(waves):
        raise InputError(f"programme: wave {wave!r} does not exist; column {start_col!r} holds {len(waves)} "
                         f"adoption month(s): {', '.join(str(pd.Timestamp(w).date()) for w in waves)}")
    start = pd.Timestamp(waves[int(wave) - 1])
    ids = programme.loc[pd.to_datetime(programme[start_col]) == start, "practice_id"].astype(str)
    return sorted(ids), start


def build_monthly_series(measures: pd.DataFrame, practices=None, *, by: str = "imd_quintile",
                         release: bool = True, rules: DisclosureRules = DEFAULT_RULES,
                         source: str = "measures") -> pd.DataFrame:
    """Sum numerator and denominator over the chosen practices per month and ``by`` group (default quintile).

    Returns ``month, <by>, numerator, denominator, rate`` (rate in %). With ``release`` (the default) the sums pass
    :func:`release_counts` first, so the rate is computed from released counts.
    """
    frame = check_measures(measures, source)
    if practices is not None:
        chosen = set(map(str, practices))
        frame = frame[frame["practice_id"].astype(str).isin(chosen)]
        if frame.empty:
            raise InputError(f"{source}: none of the {len(chosen)} chosen practices is in column 'practice_id'")
    keys = ["month"] + ([by] if by else [])
    out = frame.groupby(keys, sort=True)[["numerator", "denominator"]].sum().reset_index()
    out["month"] = pd.to_datetime(out["month"])
    if release:
        out = release_counts(out, rules=rules)
    else:
        out["rate"] = 100 * out["numerator"] / out["denominator"].where(out["denominator"] > 0)
    return out.sort_values([by, "month"] if by else ["month"], ignore_index=True)


def build_arm_series(measures: pd.DataFrame, treated, comparison, *, by: str = "imd_quintile",
                     arm_col: str = "arm", labels=("programme", "comparison"), **kwargs) -> pd.DataFrame:
    """:func:`build_monthly_series` for the ``treated`` and the ``comparison`` practices, stacked with an
    ``arm_col`` column (``labels``): the input of :class:`ControlledQuintileITS` (``by`` quintile) or
    :class:`ControlledITS` (``by=""``, all quintiles pooled). Counts are released per arm, month and group."""
    frames = [build_monthly_series(measures, ids, by=by, **kwargs).assign(**{arm_col: lab})
              for ids, lab in ((treated, labels[0]), (comparison, labels[1]))]
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values([c for c in (by, arm_col, "month") if c], ignore_index=True)


def inequality_series(series: pd.DataFrame, measures=("gap", "sii")) -> pd.DataFrame:
    """Per month the gap (Q5 - Q1, percentage points) and SII (percentage points) from the quintile series,
    wide: ``month, gap, sii`` (via :func:`beyond_averages.equity.equity_by_group`)."""
    long = equity_by_group(series, by=("month",), measures=tuple(measures), multiplier=100.0,
                           source="quintile series")
    wide = long.pivot(index="month", columns="measure", values="estimate").reset_index()
    wide.columns.name = None
    return wide[["month", *measures]]

