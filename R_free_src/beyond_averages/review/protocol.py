"""The review protocol: search, eligibility and certainty rules, read from a YAML file the student edits.

The protocol is what the methods section of the review chapter reports (databases, platforms, coverage, the date
searched and the search strings; the eligibility criteria) and what ties the PRISMA flow to the extraction table:
every exclusion reason in the screening log must be the exclusion reason of one eligibility criterion, and no
included study may fail a criterion that is used to exclude others (the check that caught a flow excluding reports
for "No equity analysis" while included studies had not assessed inequality).

Keys (``data_synthetic/review/protocol.yaml`` is a complete example):

- ``registration``: where the protocol is registered, or why it is not;
- ``search``: ``date_searched`` (YYYY-MM-DD), ``limits``, ``databases`` and ``registers`` (lists of ``name``,
  ``platform``, ``coverage``, ``strategy``), ``other_sources`` (list of text);
- ``eligibility``: a list of criteria, each ``criterion``, ``include``, ``exclude`` and ``exclusion_reason`` (the
  text the screening log uses), optionally ``included_must_have`` (extraction columns that must be non-empty in
  every included study) and ``included_must_not_have`` (``{column: [codes]}`` no included study may hold);
- ``certainty``: the thresholds of the rule-based certainty assessment (:mod:`.certainty`) and its ``overrides``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..files import InputError, read_yaml_mapping
from .screening_log import REASON_STEPS, ScreeningLog

SEARCH_SOURCE_KEYS = ("name", "platform", "coverage", "strategy")


@dataclass(frozen=True)
class SearchSource:
    """One database or register: its name, the platform searched on, the years covered and the search string."""

    name: str
    platform: str
    coverage: str
    strategy: str


@dataclass(frozen=True)
class Criterion:
    """One eligibility criterion and the exclusion reason the screening log uses for reports that fail it."""

    criterion: str
    include: str
    exclude: str
    exclusion_reason: str
    included_must_have: tuple[str, ...] = ()
    included_must_not_have: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Protocol:
    """A validated review protocol (see the module docstring for the file's keys)."""

    source: str
    registration: str
    date_searched: dt.date
    limits: str
    databases: tuple[SearchSource, ...]
    registers: tuple[SearchSource, ...]
    other_sources: tuple[str, ...]
    eligibility: tuple[Criterion, ...]
    certainty: dict

    def criterion_for(self, reason: str) -> Criterion | None:
        """The criterion whose exclusion reason is ``reason`` (case-insensitive), or None."""
        return next((c for c in self.eligibility if c.exclusion_reason.casefold() == reason.casefold()), None)


def _text(value, where: str, source: str, required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(f"{source}: key {where!r}: missing or empty")
        return ""
    if not isinstance(value, (str, int, float)):
        raise InputError(f"{source}: key {where!r}: expected text, found {type(value).__name__}")
    return " ".join(str(value).split())


def _list(value, where: str, source: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{source}: key {where!r}: expected a list, found {type(value).__name__}")
    return value


def _sources(value, where: str, source: str) -> tuple[SearchSource, ...]:
    out = []
    for i, item in enumerate(_list(value, where, source)):
        if not isinstance(item, dict):
            raise InputError(f"{source}: key '{where}[{i}]': expected a mapping with keys "
                             f"{', '.join(SEARCH_SOURCE_KEYS)}")
        out.append(SearchSource(*(_text(item.get(k), f"{where}[{i}].{k}", source) for k in SEARCH_SOURCE_KEYS)))
    return tuple(out)


def _criterion(item, i: int, source: str, columns: tuple[str, ...]) -> Criterion:
    where = f"eligibility[{i}]"
    if not isinstance(item, dict):
        raise InputError(f"{source}: key {where!r}: expected a mapping (criterion, include, exclude, "
                         "exclusion_reason)")
    must_have = tuple(str(c) for c in _list(item.get("included_must_have"), f"{where}.included_must_have", source))
    must_not = item.get("included_must_not_have") or {}
    if not isinstance(must_not, dict):
        raise InputError(f"{source}: key '{where}.included_must_not_have': expected a mapping column: [codes]")
    must_not = {str(k): tuple(str(v) for v in _list(vals, f"{where}.included_must_not_have.{k}", source))
                for k, vals in must_not.items()}
    for column in (*must_have, *must_not):
        if column not in columns:
            raise InputError(f"{source}: key {where!r}: {column!r} is not an extraction column; "
                             f"one of: {', '.join(columns)}")
    return Criterion(_text(item.get("criterion"), f"{where}.criterion", source),
                     _text(item.get("include"), f"{where}.include", source),
                     _text(item.get("exclude"), f"{where}.exclude", source, required=False),
                     _text(item.get("exclusion_reason"), f"{where}.exclusion_reason", source), must_have, must_not)


def read_protocol(path: str | os.PathLike) -> Protocol:
    """Read and validate a protocol file; every problem is one :class:`InputError` naming the file and the key."""
    from .extraction import COLUMNS

    path = Path(path)
    source = str(path)
    data = read_yaml_mapping(path, missing_hint=" (the review protocol: search, eligibility, certainty rules)")
    search = data.get("search")
    if not isinstance(search, dict):
        raise InputError(f"{source}: key 'search': missing, or not a mapping of date_searched, databases, ...")
    raw_date = search.get("date_searched")
    try:
        date = raw_date if isinstance(raw_date, dt.date) else dt.date.fromisoformat(str(raw_date))
    except ValueError:
        raise InputError(f"{source}: key 'search.date_searched': {raw_date!r} is not a date YYYY-MM-DD") from None
    databases = _sources(search.get("databases"), "search.databases", source)
    if not databases:
        raise InputError(f"{source}: key 'search.databases': list at least one database searched")
    criteria = tuple(_criterion(item, i, source, tuple(COLUMNS))
                     for i, item in enumerate(_list(data.get("eligibility"), "eligibility", source)))
    if not criteria:
        raise InputError(f"{source}: key 'eligibility': list the eligibility criteria")
    reasons = [c.exclusion_reason.casefold() for c in criteria]
    repeated = sorted({r for r in reasons if reasons.count(r) > 1})
    if repeated:
        raise InputError(f"{source}: key 'eligibility': exclusion reason(s) {', '.join(map(repr, repeated))} "
                         "used by more than one criterion; each reason must name one criterion")
    certainty = data.get("certainty") or {}
    if not isinstance(certainty, dict):
        raise InputError(f"{source}: key 'certainty': expected a mapping of thresholds")
    return Protocol(source, _text(data.get("registration"), "registration", source), date,
                    _text(search.get("limits"), "search.limits", source, required=False), databases,
                    _sources(search.get("registers"), "search.registers", source),
                    tuple(_text(s, f"search.other_sources[{i}]", source)
                          for i, s in enumerate(_list(search.get("other_sources"), "search.other_sources", source))),
                    criteria, certainty)


def check_flow_against_protocol(protocol: Protocol, log: ScreeningLog, extraction: pd.DataFrame,
                                extraction_source: str) -> None:
    """The PRISMA flow, the protocol and the included studies must tell one story.

    Raises an :class:`InputError` when the log names a database the protocol does not list, uses an exclusion reason
    that is no criterion's, or excludes reports for failing a criterion that an included study also fails.
    """
    searched = {s.name.casefold() for s in (*protocol.databases, *protocol.registers)}
    for src in log.sources:
        if src.kind in ("database", "register") and src.name.casefold() not in searched:
            raise InputError(f"{log.source}: {src.kind} {src.name!r} is not in {protocol.source} "
                             f"(search.{src.kind}s); report every source searched in the protocol")
    for step in REASON_STEPS:
        for reason in log.reasons[step]:
            criterion = protocol.criterion_for(reason.reason)
            if criterion is None:
                known = ", ".join(repr(c.exclusion_reason) for c in protocol.eligibility)
                raise InputError(f"{log.source}: step '{step}', reason {reason.reason!r} is not an exclusion reason "
                                 f"of {protocol.source} (eligibility); known reasons: {known}")
            _check_included(criterion, extraction, extraction_source, log.source)


def _check_included(criterion: Criterion, extraction: pd.DataFrame, extraction_source: str, log_source: str) -> None:
    problems = [(column, extraction[column].fillna("").astype(str).str.strip() == "", "is empty")
                for column in criterion.included_must_have]
    problems += [(column, extraction[column].isin(codes), f"is {' or '.join(map(repr, codes))}")
                 for column, codes in criterion.included_must_not_have.items()]
    for column, failing, what in problems:
        if failing.any():
            studies = ", ".join(f"row {r} ({k!r})" for r, k in
                                zip(extraction.loc[failing, "row"], extraction.loc[failing, "key"]))
            raise InputError(
                f"{extraction_source}: column {column!r} {what} for included {studies}, but {log_source} excludes "
                f"reports for {criterion.exclusion_reason!r} (criterion {criterion.criterion!r}); either these "
                "studies are not eligible or the exclusion reason is wrong")
