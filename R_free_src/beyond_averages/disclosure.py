"""Statistical disclosure control (SDC): the only way a count built from patient records reaches a page.

The default rule is the one trusted research environments such as OpenSAFELY apply to released aggregates:
counts of 7 or fewer are redacted, and every other count is rounded to the nearest 5. The thresholds are set in one
place, ``study.yaml`` (``disclosure:``), read into :class:`DisclosureRules`. Rates and percentages are computed
*from the released counts*, never from the raw ones, so a reader cannot undo the rounding.

Suppression is also applied to complements: if a numerator is released but ``denominator - numerator`` is small,
the numerator is redacted too (otherwise the small group is the difference of two released numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DisclosureRules:
    redact_at_or_below: int = 7   # counts <= this are redacted
    round_to: int = 5             # remaining counts rounded to the nearest multiple

    def __post_init__(self):
        if self.redact_at_or_below < 0 or self.round_to < 1:
            raise ValueError("disclosure: redact_at_or_below must be >= 0 and round_to >= 1")


DEFAULT_RULES = DisclosureRules()


def round_count(values, rules: DisclosureRules = DEFAULT_RULES) -> np.ndarray:
    """Redact (NaN) counts <= threshold; round the rest to the nearest ``round_to`` (halves go up)."""
    arr = np.asarray(values, dtype="float64")
    out = np.floor(arr / rules.round_to + 0.5) * rules.round_to
    out[(arr <= rules.redact_at_or_below) | np.isnan(arr)] = np.nan
    return out


def release_counts(
    frame: pd.DataFrame,
    pairs: Sequence[tuple[str, str]] = (("numerator", "denominator"),),
    counts: Iterable[str] = (),
    rules: DisclosureRules = DEFAULT_RULES,
    rate_column: str | None = "rate",
    per: float = 100.0,
) -> pd.DataFrame:
    """Return a copy safe to publish.

    ``pairs`` are (numerator, denominator) columns: both are redacted and rounded; the numerator is also redacted
    when the denominator is redacted or when ``denominator - numerator`` is at or below the threshold.
    ``counts`` are other count columns, redacted and rounded alone. If ``rate_column`` is given, it is recomputed
    from the first pair's *released* counts (``per`` = 100 gives a percentage).
    """
    out = frame.copy()
    for num, den in pairs:
        raw_num = out[num].to_numpy(dtype="float64")
        raw_den = out[den].to_numpy(dtype="float64")
        rel_den = round_count(raw_den, rules)
        rel_num = round_count(raw_num, rules)
        complement_small = (raw_den - raw_num) <= rules.redact_at_or_below
        rel_num[np.isnan(rel_den) | complement_small] = np.nan
        out[num] = rel_num
        out[den] = rel_den
    for col in counts:
        out[col] = round_count(out[col].to_numpy(dtype="float64"), rules)
    if rate_column and pairs:
        num, den = pairs[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rate_column] = per * out[num] / out[den]
    return out


def is_released(values, rules: DisclosureRules = DEFAULT_RULES) -> bool:
    """True if every value is redacted (NaN) or a multiple of ``round_to`` above the threshold."""
    arr = np.asarray(values, dtype="float64")
    shown = arr[~np.isnan(arr)]
    return bool(np.all(shown > rules.redact_at_or_below) and np.all(np.mod(shown, rules.round_to) == 0))


def check_released(frame: pd.DataFrame, count_columns: Iterable[str], rules: DisclosureRules = DEFAULT_RULES) -> None:
    """Raise ``ValueError`` naming the column if any count in it has not passed disclosure control."""
    for col in count_columns:
        if not is_released(frame[col], rules):
            raise ValueError(
                f"disclosure control: column {col!r} holds counts that are not redacted and rounded "
                f"(<= {rules.redact_at_or_below} redacted, multiples of {rules.round_to})"
            )


@dataclass(frozen=True)
class DisclosureRecord:
    """What one application of the rule did: cells released, redacted, and changed by rounding."""

    cells: int       # count cells passed through the rule
    suppressed: int  # of them redacted (shown as [REDACTED])
    rounded: int     # of them shown, at a multiple of ``round_to``
    changed: int     # of the shown ones, those whose value rounding moved
    rules: DisclosureRules = DEFAULT_RULES


def disclosure_record(raw, released, rules: DisclosureRules = DEFAULT_RULES) -> DisclosureRecord:
    """Count what the rule did to ``raw`` counts, given the ``released`` ones (same shape); changes nothing."""
    raw_arr = np.asarray(raw, dtype="float64").ravel()
    rel_arr = np.asarray(released, dtype="float64").ravel()
    present = ~np.isnan(raw_arr)
    shown = present & ~np.isnan(rel_arr)
    return DisclosureRecord(cells=int(present.sum()), suppressed=int((present & np.isnan(rel_arr)).sum()),
                            rounded=int(shown.sum()), changed=int((shown & (raw_arr != rel_arr)).sum()), rules=rules)


def release_counts_recorded(frame: pd.DataFrame, pairs: Sequence[tuple[str, str]] = (("numerator", "denominator"),),
                            counts: Iterable[str] = (), rules: DisclosureRules = DEFAULT_RULES, **kwargs
                            ) -> tuple[pd.DataFrame, DisclosureRecord]:
    """:func:`release_counts` (same frame, same numbers) and the record of what it suppressed and rounded."""
    counts = list(counts)
    out = release_counts(frame, pairs=pairs, counts=counts, rules=rules, **kwargs)
    columns = [c for pair in pairs for c in pair] + counts
    return out, disclosure_record(frame[columns].to_numpy(), out[columns].to_numpy(), rules)


def suppress_complements(raw: pd.DataFrame, released: pd.DataFrame, splits: Sequence[Sequence[str]],
                         pairs: Sequence[tuple[str, str]] = (("numerator", "denominator"),)) -> pd.DataFrame:
    """Complementary (secondary) suppression of released counts, within each split of a finer breakdown.

    A *split* is a set of cells that add up to a total shown elsewhere (every ethnic group of one IMD quintile adds
    up to the quintile's count): the rows sharing the values of the split's key columns (``()``: all rows). If a
    split holds exactly one redacted cell, the reader recovers it as the total minus the others, so the smallest
    other released cell of that split (by its raw count) is redacted too, and the splits are swept again until none
    holds exactly one redacted cell. Denominators are treated first (a redacted denominator redacts its numerator),
    then numerators. ``raw`` holds the counts before :func:`release_counts`, row for row with ``released``;
    returns a copy of ``released``.
    """
    out = released.copy()
    keys = [list(split) for split in splits]
    labels = [np.zeros(len(out), np.int64) if not split else
              out.groupby(split, sort=False, observed=True).ngroup().to_numpy() for split in keys]
    for num, den in pairs:
        for col in (den, num):
            values = out[col].to_numpy(dtype="float64").copy()
            size = raw[col].to_numpy(dtype="float64")
            changed = True
            while changed:
                changed = False
                for label in labels:
                    for members in pd.Series(np.arange(len(out))).groupby(label).groups.values():
                        members = np.asarray(members)
                        hidden = np.isnan(values[members])
                        if len(members) < 2 or hidden.sum() != 1:
                            continue
                        shown = members[~hidden]
                        values[shown[np.argmin(size[shown])]] = np.nan
                        changed = True
            out[col] = values
            if col == den:  # a redacted denominator takes its numerator with it
                rel_num = out[num].to_numpy(dtype="float64").copy()
                rel_num[np.isnan(values)] = np.nan
                out[num] = rel_num
    return out


def release_split_counts(frame: pd.DataFrame, splits: Sequence[Sequence[str]],
                         pairs: Sequence[tuple[str, str]] = (("numerator", "denominator"),),
                         rules: DisclosureRules = DEFAULT_RULES, rate_column: str | None = "rate",
                         per: float = 100.0) -> pd.DataFrame:
    """:func:`release_counts` (small counts redacted, the rest rounded) then :func:`suppress_complements` within
    ``splits``, with the rate recomputed from the counts finally released."""
    released = release_counts(frame, pairs=pairs, rules=rules, rate_column=None)
    out = suppress_complements(frame, released, splits, pairs)
    if rate_column and pairs:
        num, den = pairs[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rate_column] = per * out[num] / out[den]
    return out
