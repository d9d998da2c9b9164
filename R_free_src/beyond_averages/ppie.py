"""Patient and public involvement and engagement (PPIE): the meeting log and the involvement record, validated.

The log (``meetings.csv``) has one row per meeting of the PPIE panel: ``meeting_id``, ``date`` (YYYY-MM-DD),
``stage`` (:data:`STAGES`), ``format`` (in person, online), ``strand`` (:data:`STRANDS`), the number of members who
took part by group (:data:`GROUPS`), what the panel was ``asked`` and what ``changed`` as a result (blank: nothing
changed). The record (``involvement.yaml``) holds the aim of involvement, its methods and the team's reflections
(``went_well``, ``went_less_well``). Together they are reported against the GRIPP2 short form (Staniszewska et al.,
BMJ 2017;358:j3453), whose five items ask for the aim, the methods, the results, the outcomes (influence on the
study) and a critical perspective.

PPIE members are contributors, not research participants or patients whose records are analysed: counts of who took
part are not patient-level data. They are still reported as totals per group over all meetings (not per meeting by
group), so that no meeting's small group can be singled out.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import paths
from .files import InputError, read_yaml_mapping
from .text_input import read_table

STAGES = ("design", "data collection", "analysis", "interpretation", "dissemination")
STRANDS = ("review", "qualitative", "quantitative", "synthesis", "all")
FORMATS = ("in person", "online")
GROUPS = {"patients": "Patients", "carers": "Carers", "community_members": "Community and voluntary sector members"}
COLUMNS = ("meeting_id", "date", "stage", "format", "strand", *GROUPS, "asked", "changed")


@dataclass(frozen=True)
class PPIERecord:
    """The validated PPIE log (one row per meeting, typed) and the involvement record."""

    meetings: pd.DataFrame
    aim: str
    methods: str
    went_well: str
    went_less_well: str
    is_synthetic: bool

    @property
    def attendance(self) -> pd.Series:
        """Member-meetings by group over all meetings (a member at three meetings counts three times)."""
        return self.meetings[list(GROUPS)].sum().rename(index=GROUPS)

    @property
    def changes(self) -> pd.DataFrame:
        """The meetings whose question led to a recorded change."""
        return self.meetings.loc[self.meetings["changed"] != ""]


def read_meetings(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate the meeting log; each problem is one :class:`InputError` naming file, row and column."""
    path = Path(path)
    frame = read_table(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
    rows, seen = [], {}
    for i, rec in enumerate(frame[list(COLUMNS)].astype(str).to_dict("records")):
        row = i + 2
        rec = {k: v.strip() for k, v in rec.items()}

        def fail(column: str, problem: str) -> InputError:
            return InputError(f"{path}: row {row} (meeting {rec['meeting_id']!r}), column {column!r}: {problem}")

        if not rec["meeting_id"]:
            raise fail("meeting_id", "empty")
        if rec["meeting_id"] in seen:
            raise fail("meeting_id", f"already used in row {seen[rec['meeting_id']]}")
        seen[rec["meeting_id"]] = row
        try:
            date = dt.date.fromisoformat(rec["date"])
        except ValueError:
            raise fail("date", f"{rec['date']!r} is not a date YYYY-MM-DD") from None
        for column, allowed in (("stage", STAGES), ("format", FORMATS), ("strand", STRANDS)):
            if rec[column].lower() not in allowed:
                raise fail(column, f"{rec[column]!r} is not one of: {', '.join(allowed)}")
        counts = {}
        for group in GROUPS:
            if not rec[group].isdigit():
                raise fail(group, f"{rec[group]!r} is not a whole number of members (0 or more)")
            counts[group] = int(rec[group])
        if not any(counts.values()):
            raise fail("patients", "no member took part in this meeting (every group is 0)")
        if not rec["asked"]:
            raise fail("asked", "empty: say what the panel was asked")
        rows.append({"meeting_id": rec["meeting_id"], "date": date, "stage": rec["stage"].lower(),
                     "format": rec["format"].lower(), "strand": rec["strand"].lower(), **counts,
                     "asked": rec["asked"], "changed": rec["changed"]})
    if not rows:
        raise InputError(f"{path}: no meetings (the log has a header but no rows)")
    return pd.DataFrame(rows).sort_values(["date", "meeting_id"], kind="stable").reset_index(drop=True)


def load_ppie(meetings: str | os.PathLike, involvement: str | os.PathLike) -> PPIERecord:
    """The meeting log and the involvement record, from paths relative to the repository root."""
    meetings, involvement = paths.resolve(meetings), paths.resolve(involvement)
    log = read_meetings(meetings)
    data = read_yaml_mapping(involvement, missing_hint=" (the PPIE aim, methods and reflections)")
    reflections = data.get("reflections")
    if not isinstance(reflections, dict):
        raise InputError(f"{involvement}: key 'reflections': expected a mapping with went_well and went_less_well")
    texts = {}
    for key, value in (("aim", data.get("aim")), ("methods", data.get("methods")),
                       ("reflections.went_well", reflections.get("went_well")),
                       ("reflections.went_less_well", reflections.get("went_less_well"))):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{involvement}: key {key!r}: missing or empty")
        texts[key.split(".")[-1]] = " ".join(value.split())
    synthetic = "SYNTHETIC" in Path(involvement).read_text(encoding="utf-8").split("\n", 1)[0]
    return PPIERecord(log, texts["aim"], texts["methods"], texts["went_well"], texts["went_less_well"], synthetic)
