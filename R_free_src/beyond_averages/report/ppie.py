"""The PPIE section: the meeting log as a table, the GRIPP2 short-form report, and computed sentences.

Every statement about what the panel did is computed from the log; the aim, methods and reflections are the team's
words from the involvement record. ``*_frame`` functions return display-ready frames for tests; ``*_table`` wrap them.
"""

from __future__ import annotations

import pandas as pd

from ..ppie import GROUPS, STAGES, STRANDS, PPIERecord
from .tables import format_count, html_table, join_words

STRAND_LABELS = {"review": "the literature review", "qualitative": "the qualitative study",
                 "quantitative": "the quantitative evaluation", "synthesis": "the synthesis", "all": "the whole study"}
# GRIPP2 short form (Staniszewska et al. 2017): its five items, in our own short words.
GRIPP2_SF = (("1", "Aim"), ("2", "Methods"), ("3", "Results"), ("4", "Outcomes"), ("5", "Critical perspective"))


def _n(count: int, noun: str) -> str:
    return f"{format_count(count)} {noun}{'' if count == 1 else 's'}"


def meetings_frame(record: PPIERecord) -> pd.DataFrame:
    """One row per meeting: date, stage, strand, format, members taking part (all groups), the question, the change."""
    m = record.meetings
    return pd.DataFrame({
        "Meeting": m["meeting_id"], "Date": [f"{d:%-d %b %Y}" for d in m["date"]],
        "Stage": m["stage"].str.capitalize(), "Strand": [STRAND_LABELS[s].removeprefix("the ").capitalize()
                                                           for s in m["strand"]],
        "Format": m["format"].str.capitalize(), "Members": m[list(GROUPS)].sum(axis=1).map(format_count),
        "What the panel was asked": m["asked"],
        "What changed": [c or "No change recorded" for c in m["changed"]]})


def meetings_table(record: PPIERecord):
    return html_table(meetings_frame(record))


def methods_sentence(record: PPIERecord) -> str:
    """When and how the panel met, computed from the log."""
    m = record.meetings
    stages = [s for s in STAGES if s in set(m["stage"])]
    formats = m["format"].value_counts()
    how = join_words([f"{formats[f]} {f}" for f in ("in person", "online") if f in formats])
    return (f"The panel met {_n(len(m), 'time')} between {m['date'].min():%B %Y} and {m['date'].max():%B %Y} "
            f"({how}), at the {join_words(stages)} stage{'s' if len(stages) > 1 else ''}.")


def results_sentence(record: PPIERecord) -> str:
    """Who took part and how many questions led to a change."""
    att = record.attendance
    parts = join_words([f"{label.lower()} {format_count(n)}" for label, n in att.items() if n])
    changed = len(record.changes)
    return (f"Members took part {format_count(int(att.sum()))} times in all ({parts}; a member at several meetings "
            f"counts each time). Of the {_n(len(record.meetings), 'question')} put to the panel, {format_count(changed)} "
            f"led to a recorded change in the study.")


def outcomes_sentence(record: PPIERecord) -> str:
    """Which strands the panel's suggestions changed."""
    changes = record.changes
    if changes.empty:
        return "No change to the study was recorded as a result of the panel's advice."
    counts = changes["strand"].value_counts()
    where = join_words([f"{STRAND_LABELS[s]} ({_n(int(counts[s]), 'change')})" for s in STRANDS if s in counts])
    unchanged = len(record.meetings) - len(changes)
    tail = f"; {_n(unchanged, 'question')} led to no change" if unchanged else ""
    return f"The panel's advice changed {where}{tail}."


def gripp2_frame(record: PPIERecord) -> pd.DataFrame:
    """The GRIPP2 short form: each item and what this study reports for it."""
    reported = [record.aim, f"{record.methods} {methods_sentence(record)}", results_sentence(record),
                outcomes_sentence(record),
                f"What went well: {record.went_well} What went less well: {record.went_less_well}"]
    return pd.DataFrame({"Item": [i for i, _ in GRIPP2_SF], "GRIPP2 short form": [t for _, t in GRIPP2_SF],
                         "Reported here": reported})


def gripp2_table(record: PPIERecord):
    return html_table(gripp2_frame(record))


def provenance_note(record: PPIERecord) -> str:
    """A callout saying whether the section shows the synthetic example or the real PPIE record."""
    if record.is_synthetic:
        return ("::: {.callout-warning}\n## Synthetic example data\nThe PPIE log and record in this chapter are "
                "fictional: they stand in for the real record until the panel has met. No real person, meeting or "
                "decision is described.\n:::")
    return ""
