"""The review chapter's methods tables and sentences read from the protocol, and its certainty-of-evidence table.

``*_frame`` functions return display-ready DataFrames (every cell checkable in tests); ``*_table`` wrap them for a
notebook cell with :func:`beyond_averages.report.tables.html_table`.
"""

from __future__ import annotations

import pandas as pd

from ..review.certainty import DOMAINS
from ..review.protocol import Protocol
from ..review.screening_log import ScreeningLog
from .tables import format_count, html_table, join_words

SEARCH_HEADERS = {"name": "Source", "platform": "Platform", "coverage": "Coverage", "strategy": "Search string"}
ELIGIBILITY_HEADERS = {"criterion": "Criterion", "include": "Included", "exclude": "Excluded",
                       "exclusion_reason": "Exclusion reason in the flow diagram", "reports": "Reports excluded"}
CERTAINTY_HEADERS = {"outcome": "Outcome (effect on inequalities in)", "n_studies": "Studies",
                     "directions": "Narrowed / no change / widened", "start": "Starting level",
                     "risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency", "indirectness": "Indirectness",
                     "imprecision": "Imprecision", "publication_bias": "Publication bias", "certainty": "Certainty"}


def search_frame(protocol: Protocol) -> pd.DataFrame:
    """One row per database and register searched: platform, years covered and the search string as run."""
    rows = [{k: getattr(s, k) for k in SEARCH_HEADERS} for s in (*protocol.databases, *protocol.registers)]
    return pd.DataFrame(rows, columns=list(SEARCH_HEADERS)).rename(columns=SEARCH_HEADERS)


def search_table(protocol: Protocol):
    return html_table(search_frame(protocol))


def search_sentence(protocol: Protocol) -> str:
    """When and where the search ran, and its limits, from the protocol."""
    names = [s.name for s in protocol.databases]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    registers = [s.name for s in protocol.registers]
    text = (f"{listed} were searched on {protocol.date_searched:%-d %B %Y}"
            + (f", with the trial register{'s' if len(registers) > 1 else ''} {', '.join(registers)}"
               if registers else "")
            + ".")
    if protocol.limits:
        text += f" Limits: {protocol.limits}."
    if protocol.other_sources:
        text += " Other sources: " + "; ".join(_in_sentence(s) for s in protocol.other_sources) + "."
    return text + f" Protocol registration: {protocol.registration}."


def eligibility_frame(protocol: Protocol, log: ScreeningLog | None = None) -> pd.DataFrame:
    """The eligibility criteria with the exclusion reason each gives in the flow diagram and, with the log, the number
    of full-text reports excluded for it (both branches of the flow)."""
    counts: dict[str, int] = {}
    if log is not None:
        for reasons in log.reasons.values():
            for r in reasons:
                counts[r.reason.casefold()] = counts.get(r.reason.casefold(), 0) + r.n
    rows = [{"criterion": c.criterion, "include": c.include, "exclude": c.exclude or "–",
             "exclusion_reason": c.exclusion_reason,
             "reports": format_count(counts.get(c.exclusion_reason.casefold(), 0))} for c in protocol.eligibility]
    headers = ELIGIBILITY_HEADERS if log is not None else {k: v for k, v in ELIGIBILITY_HEADERS.items()
                                                           if k != "reports"}
    return pd.DataFrame(rows)[list(headers)].rename(columns=headers)


def eligibility_table(protocol: Protocol, log: ScreeningLog | None = None):
    return html_table(eligibility_frame(protocol, log))


def certainty_frame(certainty: pd.DataFrame) -> pd.DataFrame:
    """The certainty table for display: each domain's judgement with its reason, and the resulting certainty."""
    if certainty.empty:
        return pd.DataFrame(columns=list(CERTAINTY_HEADERS.values()))
    shown = certainty.assign(directions=[f"{a} / {b} / {c}" for a, b, c in
                                         zip(certainty["narrowed"], certainty["no_change"], certainty["widened"])])
    for domain in DOMAINS:
        shown[domain] = [f"{j.capitalize()} ({r})" for j, r in zip(shown[domain], shown[f"{domain}_reason"])]
    shown["start"] = shown["start"].str.capitalize()
    shown["certainty"] = shown["certainty"].str.capitalize()
    return shown[list(CERTAINTY_HEADERS)].rename(columns=CERTAINTY_HEADERS)


def certainty_table(certainty: pd.DataFrame):
    return html_table(certainty_frame(certainty))


def certainty_sentence(certainty: pd.DataFrame) -> str:
    """How certain the evidence is, outcome by outcome, in one or two computed sentences."""
    if certainty.empty:
        return "No included study assessed an effect on inequalities, so the certainty of that evidence was not rated."
    by_level = certainty.groupby("certainty", sort=False)["outcome"].apply(list)
    order = [lvl for lvl in ("high", "moderate", "low", "very low") if lvl in by_level.index]
    parts = [f"{lvl} for {join_words([_in_sentence(o) for o in by_level[lvl]])}" for lvl in order]
    n = len(certainty)
    return (f"The certainty of the evidence on inequalities was rated for {format_count(n)} "
            f"outcome{'s' if n != 1 else ''}: " + "; ".join(parts) + ".")


def _in_sentence(text: str) -> str:
    """Lower-case the first letter inside a sentence, unless the first word is a name or a code ("HbA1c", "NHS")."""
    first = text.split(" ", 1)[0]
    return text if any(ch.isupper() or ch.isdigit() for ch in first[1:]) else text[:1].lower() + text[1:]
