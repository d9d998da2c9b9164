"""A REFI-QDA project (:class:`~.refi_qda.RefiProject`) mapped onto the study's model (:class:`~.model.QualData`).

- **Codes**: themes are top-level codes and codes their descendants (a deeper path joined with ``::``); each code's
  ``Description`` is its definition. Codes without one load, with one warning listing them by name.
- **Passages**: selections of one source with the same span are one passage (one segment), carrying every code
  applied to any of them and every coder who applied it. NVivo writes a separate ``PlainTextSelection`` per code on
  one passage; counted per element, no passage would carry two codes.
- **Participants**: ``Case`` elements named by pseudonym with the variables ``role``, ``setting``, ``imd_quintile``,
  ``method``, ``collection_order`` (names case-insensitive; a real-name variable is dropped and redacted). A
  project without Cases (usual in NVivo and MAXQDA exports) takes them from a mapping table (``source,
  participant_id, role`` and optionally the other variables) or, failing that, makes one participant per source
  (``P01``, ``P02``, ... in source order), role ``unknown``, method ``interview``, collection order = source order.
- **Codebook only**: a project with codes but no codings loads, with no passages.
- **Non-text selections**: a selection whose text is held inline rather than cut from a text source (PDF, picture or
  media quotations with a text representation) keeps its text but no position, so a span counted in another
  layer never has to match it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import pandas as pd

from ..files import InputError, require_columns
from ..text_input import read_table
from .model import QualData, build_qual_data
from .positions import UnitChoice
from .pseudonymity import REAL_NAME_COLUMNS, Redactor
from .refi_qda import HIERARCHY_SEPARATOR, RefiProject, read_qdpx

Participants = str | os.PathLike | pd.DataFrame | None


def _codebook(project: RefiProject, where: str) -> tuple[pd.DataFrame, dict]:
    has_children = set(project.codes["parent_guid"].dropna())
    book_rows, code_name = [], {}
    for code in project.codes.to_dict("records"):
        path = code["path"]
        if len(path) == 1:
            named_children = any(len(p) > 1 and p[0] == path[0] for p in project.codes["path"])
            if code["guid"] not in has_children and not named_children:
                raise InputError(f"{where}: code {code['name']!r} has no theme; place it under a theme code "
                                 f"(nested, or named 'Theme{HIERARCHY_SEPARATOR}Code')")
            continue
        theme = path[0]
        tops = project.codes[project.codes["path"].map(lambda p, t=theme: p == (t,))]
        name = HIERARCHY_SEPARATOR.join(path[1:])
        code_name[code["guid"]] = name
        book_rows.append({"theme": theme, "theme_definition": tops["description"].iloc[0] if len(tops) else "",
                          "code": name, "definition": code["description"]})
    book = pd.DataFrame(book_rows, columns=["theme", "theme_definition", "code", "definition"])
    bare = book.loc[book["definition"] == "", "code"].tolist()
    if bare:
        warnings.warn(f"{where}: {len(bare)} code(s) have no description, so no definition in the tables: "
                      f"{', '.join(map(repr, bare))}", UserWarning, stacklevel=3)
    by_guid = project.codes.set_index("guid")
    if project.codings["code_guid"].isin(set(project.codes["guid"]) - set(code_name)).any():
        bad = project.codings[~project.codings["code_guid"].isin(code_name)].iloc[0]
        raise InputError(f"{where}: selection {bad['selection_guid']} is coded with theme "
                         f"{by_guid.loc[bad['code_guid'], 'name']!r}; code with the codes under a theme")
    return book, code_name


def _people_from_cases(project: RefiProject, where: str):
    variables = project.case_variables.assign(variable=project.case_variables["variable"].str.strip().str.lower())
    if variables.duplicated(["case_guid", "variable"]).any():
        bad = variables[variables.duplicated(["case_guid", "variable"])].iloc[0]
        name = dict(zip(project.cases["guid"], project.cases["name"])).get(bad["case_guid"], bad["case_guid"])
        raise InputError(f"{where}: case {name!r} has two values for variable {bad['variable']!r}")
    wide = variables.pivot(index="case_guid", columns="variable", values="value") if len(variables) else \
        pd.DataFrame(index=pd.Index([], name="case_guid"))
    people = project.cases.rename(columns={"name": "participant_id"}).merge(
        wide, left_on="guid", right_index=True, how="left")
    names = {}
    for column in [c for c in people.columns if c in REAL_NAME_COLUMNS]:
        for pid, value in zip(people["participant_id"], people[column]):
            if isinstance(value, str) and value.strip():
                names.setdefault(pid, []).append(value.strip())
    people = people.drop(columns=[c for c in people.columns if c in REAL_NAME_COLUMNS])
    owner = {}
    case_name = dict(zip(project.cases["guid"], project.cases["name"]))
    for kind in ("source", "selection"):  # a SelectionRef overrides the case of the source
        for m in project.case_members[project.case_members["kind"] == kind].to_dict("records"):
            previous = owner.get(m["target_guid"])
            if kind == "source" and previous is not None and previous != case_name[m["case_guid"]]:
                owner[m["target_guid"]] = None  # a shared source (focus group): its selections need SelectionRefs
            else:
                owner[m["target_guid"]] = case_name[m["case_guid"]]
    return people.drop(columns=["guid"]), owner, names


def _people_without_cases(project: RefiProject, participants: Participants, where: str):
    """Participants from a mapping table, or one per source (role unknown); ``owner`` maps source GUIDs."""
    if participants is None:
        order = list(project.sources["guid"])
        pid = {g: f"P{k:02d}" for k, g in enumerate(order, start=1)}
        people = pd.DataFrame({"participant_id": [pid[g] for g in order], "role": "unknown",
                               "method": "interview", "collection_order": range(1, len(order) + 1)})
        return people, pid, {}, "per_source"
    table = participants if isinstance(participants, pd.DataFrame) else read_table(Path(participants))
    label = "participants mapping" if isinstance(participants, pd.DataFrame) else str(participants)
    require_columns(table, ("source", "participant_id", "role"), label)
    table = table.assign(source=table["source"].astype(str).str.strip(),
                         participant_id=table["participant_id"].astype(str).str.strip())
    guid_of = dict(zip(project.sources["name"], project.sources["guid"]))
    unknown = sorted(set(table["source"]) - set(guid_of))
    if unknown:
        raise InputError(f"{label}: source(s) {', '.join(map(repr, unknown))} are not sources of {where}")
    owner = {guid_of[s]: p for s, p in zip(table["source"], table["participant_id"])}
    people = table.drop(columns="source").drop_duplicates("participant_id").reset_index(drop=True)
    if "method" not in people.columns:
        people["method"] = "interview"
    if "collection_order" not in people.columns:
        people["collection_order"] = range(1, len(people) + 1)
    return people, owner, {}, "mapping"


def refi_to_qual_data(project: RefiProject, *, non_text: Literal["error", "skip"] = "error",
                      participants: Participants = None) -> QualData:
    """Map a REFI-QDA project onto the study model and validate it (rules in the module docstring).

    A selection belongs to the case that lists it (``SelectionRef``) or, failing that, to the case that lists its
    source (``SourceRef``). Coded selections with no readable text (pictures, video, missing source files) are an
    error unless ``non_text="skip"``. ``participants`` (a CSV path or a table) is used only when the project has no
    Cases.
    """
    where = project.path
    book, code_name = _codebook(project, where)
    if project.cases.empty:
        people, owner, names, origin = _people_without_cases(project, participants, where)
    else:
        (people, owner, names), origin = _people_from_cases(project, where), "cases"
    source_name = dict(zip(project.sources["guid"], project.sources["name"]))
    coded = set(project.codings["selection_guid"])
    passage_of, seg_rows, seen = {}, [], {}
    for sel in project.selections.to_dict("records"):
        if sel["guid"] not in coded:
            continue
        if not isinstance(sel["text"], str):  # missing text (None, or NaN once in a frame)
            if non_text == "skip":
                continue
            raise InputError(f"{where}: selection {sel['guid']} ({sel['kind']} {sel['name']!r} in "
                             f"{source_name[sel['source_guid']]!r}) is coded but has no readable text "
                             f"(text_origin {sel['text_origin']}); pass non_text='skip' to leave it out")
        pid = owner.get(sel["guid"]) or owner.get(sel["source_guid"])
        if pid is None:
            raise InputError(f"{where}: selection {sel['guid']} in source {source_name[sel['source_guid']]!r} belongs "
                             f"to no single participant; link the source (or the selection) to one Case")
        # Positions locate a passage only in text cut from the source at them. A text held inline (an ATLAS.ti PDF
        # quotation, whose span counts the PDF's text layer while its inline text has lost the layout) would not
        # match its span, so such a passage keeps its text and no position.
        positioned = sel["text_origin"] == "source" and not pd.isna(sel["start"])
        key = (sel["source_guid"], int(sel["start"]), int(sel["end"]), pid) if positioned else (sel["guid"],)
        if key in seen:  # the same passage selected again (NVivo: once per code): one segment
            passage_of[sel["guid"]] = seen[key]
            continue
        seen[key] = passage_of[sel["guid"]] = sel["guid"]
        seg_rows.append({"segment_id": sel["guid"], "participant_id": pid, "source": source_name[sel["source_guid"]],
                         "start": sel["start"] if positioned else pd.NA, "end": sel["end"] if positioned else pd.NA,
                         "text": sel["text"]})
    cods = project.codings[project.codings["selection_guid"].isin(passage_of)]
    codings = pd.DataFrame({"segment_id": cods["selection_guid"].map(passage_of),
                            "code": cods["code_guid"].map(code_name), "coder": cods["coder"]})
    kinds = dict(zip(project.sources["guid"], project.sources["kind"]))
    documents = {source_name[g]: t for g, t in project.texts.items() if kinds[g] == "TextSource"}
    return build_qual_data(
        book, people, pd.DataFrame(seg_rows, columns=["segment_id", "participant_id", "source", "start", "end",
                                                      "text"]), codings,
        documents=documents, redactor=Redactor.from_names(names),
        sources={k: f"{where} ({k})" for k in ("codebook", "participants", "segments", "codings")},
        label=Path(where).stem, allow_uncoded=True, require_definitions=False, participants_from=origin,
    )


def load_qdpx(path: str | os.PathLike, *, non_text: Literal["error", "skip"] = "error",
              position_unit: UnitChoice = "auto", participants: Participants = None) -> QualData:
    """:func:`~.refi_qda.read_qdpx` then :func:`refi_to_qual_data`."""
    return refi_to_qual_data(read_qdpx(path, position_unit=position_unit), non_text=non_text,
                             participants=participants)
