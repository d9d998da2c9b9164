"""REFI-QDA project exchange (``.qdpx``): read what NVivo, ATLAS.ti, MAXQDA and QualCoder write (writing one is
:mod:`.refi_export`).

A ``.qdpx`` is a zip holding ``project.qde`` (XML, namespace ``urn:QDA-XML:project:1.0``) and the source files.
Real exports depart from the schema's happy path, and :func:`read_qdpx` reads them as written:

- the XML member's name varies in case (ATLAS.ti 8.4 writes ``Project.qde``; source folders ``Sources/``): members
  are matched case-insensitively;
- source files referenced as ``internal://<file>`` may be missing (the REFI ATLAS.ti sample has an empty
  ``Sources/`` folder), and ``relative://`` or ``absolute://`` paths point outside the archive: such a source has
  no text (``text_origin == "missing"``), and its selections keep only the tool's label (``name``);
- text may be held only in representations: ``PlainTextContent`` inside a source, a PDF ``Representation`` or a
  ``PDFSelection``'s own ``Representation`` (``text_origin == "inline"``);
- ATLAS.ti writes one PDF quotation twice with the same GUID (a ``PDFSelection`` with coordinates and a
  ``PlainTextSelection`` in the PDF's text representation): selections are merged by GUID, codes united;
- hierarchy may be nested ``Code`` elements (NVivo, MAXQDA, QualCoder) or written into names with ``::``
  (ATLAS.ti ``Coke::diet Coke``): :func:`read_qdpx` gives every code a ``path`` from both.

Positions: ``startPosition``/``endPosition`` count Unicode code points (REFI-QDA), half-open, exactly as Python
slices a ``str``; source text is decoded from UTF-8 without newline translation and without a leading BOM.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd

from ..files import InputError
from .model import QualData, build_qual_data
from .pseudonymity import REAL_NAME_COLUMNS, Redactor

NS = "urn:QDA-XML:project:1.0"
_Q = f"{{{NS}}}"
SOURCE_KINDS = ("TextSource", "PDFSource", "PictureSource", "AudioSource", "VideoSource")
SELECTION_KINDS = ("PlainTextSelection", "PDFSelection", "PictureSelection", "AudioSelection", "VideoSelection",
                   "TranscriptSelection")
HIERARCHY_SEPARATOR = "::"
VARIABLES = {"role": "Text", "setting": "Text", "imd_quintile": "Integer", "method": "Text",
             "collection_order": "Integer"}


def _local(tag: str) -> str:
    return tag.split("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name]


def _child_text(element: ET.Element, name: str) -> str | None:
    found = _children(element, name)
    return found[0].text if found else None


def _required(element: ET.Element, attribute: str, where: str) -> str:
    """An attribute the reader cannot do without; its absence names the element (by GUID or name) and attribute."""
    value = element.get(attribute)
    if value is None or not value.strip():
        who = element.get("guid") or element.get("name") or "without a guid"
        raise InputError(f"{where}: element {_local(element.tag)} {who} has no attribute {attribute!r}")
    return value.strip()


def _position(element: ET.Element, attribute: str, where: str) -> int:
    value = _required(element, attribute, where)
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{where}: element {_local(element.tag)} {element.get('guid')}, attribute {attribute!r}: "
                         f"{value!r} is not a whole number (a code-point position)") from None


def _code_ref(coding: ET.Element, where: str) -> str:
    refs = _children(coding, "CodeRef")
    if not refs:
        raise InputError(f"{where}: element Coding {coding.get('guid') or 'without a guid'} has no CodeRef")
    return _required(refs[0], "targetGUID", where)


@dataclass(frozen=True)
class RefiProject:
    """A REFI-QDA project as read, before mapping to the study's model. Every table has tidy columns.

    ``codes``: guid, name, description, parent_guid, path (tuple of names from the top), is_codable.
    ``sources``: guid, kind, name, path (the file reference as written), text_origin, n_chars.
    ``selections``: guid, source_guid, kind, name, start, end, text, text_origin (``source`` when cut from the
    source text, ``inline`` when held in the XML, ``missing``). ``codings``: selection_guid, code_guid (a coding on
    a whole source has the source's GUID). ``cases``: guid, name. ``case_members``: case_guid, target_guid,
    kind (``source``/``selection``). ``case_variables``: case_guid, variable, value. ``sets``: guid, name,
    n_sources, n_codes.
    """

    path: str
    member: str
    name: str
    origin: str
    codes: pd.DataFrame
    sources: pd.DataFrame
    selections: pd.DataFrame
    codings: pd.DataFrame
    cases: pd.DataFrame
    case_members: pd.DataFrame
    case_variables: pd.DataFrame
    sets: pd.DataFrame
    texts: Mapping[str, str] = field(default_factory=dict)  # source guid -> text, where readable


def _open_project(path: Path) -> tuple[zipfile.ZipFile, str]:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError):
        raise InputError(f"{path}: not a zip archive; a .qdpx file is a zip holding project.qde (this one is not "
                         "one, or is damaged)") from None
    candidates = [n for n in archive.namelist() if PurePosixPath(n).name.lower() == "project.qde"]
    if not candidates:
        raise InputError(f"{path}: no project.qde inside (members: {', '.join(archive.namelist()[:10]) or 'none'})")
    return archive, min(candidates, key=lambda n: (n.count("/"), n))


def _read_member(archive: zipfile.ZipFile, reference: str | None) -> str | None:
    """Text of an ``internal://`` file, looked up case-insensitively under the sources folder, or None."""
    if not reference or not reference.lower().startswith("internal://"):
        return None
    wanted = reference[len("internal://"):].lstrip("/").lower()
    for name in archive.namelist():
        parts = PurePosixPath(name).parts
        if len(parts) >= 2 and parts[-2].lower() == "sources" and parts[-1].lower() == wanted:
            raw = _read_bytes(archive, name)
            try:
                return raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{archive.filename}: {name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return None


def _read_bytes(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes; a damaged, encrypted or oddly compressed member names the archive and the member."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
        raise InputError(f"{archive.filename}: member {name} cannot be read ({exc}); export the project again"
                         ) from None


def _text_of(element: ET.Element, archive: zipfile.ZipFile) -> tuple[str | None, str]:
    inline = _child_text(element, "PlainTextContent")
    if inline is not None:
        return inline, "inline"
    text = _read_member(archive, element.get("plainTextPath"))
    return (text, "source") if text is not None else (None, "missing")


def _codes(element: ET.Element, parent: ET.Element | None, parent_path: tuple, rows: list, where: str) -> None:
    for code in _children(element, "Code"):
        name = code.get("name") or ""
        path = parent_path + tuple(p.strip() for p in name.split(HIERARCHY_SEPARATOR))
        description = (_child_text(code, "Description") or "").strip()
        rows.append({"guid": _required(code, "guid", where), "name": name, "description": description,
                     "parent_guid": parent.get("guid") if parent is not None else None, "path": path,
                     "is_codable": code.get("isCodable", "true").lower() == "true"})
        _codes(code, code, path, rows, where)


def read_qdpx(path: str | os.PathLike) -> RefiProject:
    """Read a ``.qdpx`` archive into a :class:`RefiProject` (see the module docstring for what is tolerated)."""
    path = Path(path)
    archive, member = _open_project(path)
    with archive:
        try:
            root = ET.fromstring(_read_bytes(archive, member))
        except ET.ParseError as exc:
            line, column = exc.position
            raise InputError(f"{path}: {member} is not well-formed XML: line {line}, column {column + 1}: "
                             f"{str(exc).split(':')[0]}") from None
        where = f"{path} ({member})"
        if root.tag != f"{_Q}Project":
            raise InputError(f"{path}: {member} has root {root.tag!r}; expected Project in namespace {NS}")
        code_rows: list = []
        for book in _children(root, "CodeBook"):
            for codes in _children(book, "Codes"):
                _codes(codes, None, (), code_rows, where)
        codes = pd.DataFrame(code_rows, columns=["guid", "name", "description", "parent_guid", "path", "is_codable"])
        code_guids = set(codes["guid"])

        sources, selections, codings, texts = [], {}, [], {}
        for holder in _children(root, "Sources"):
            for src in holder:
                kind = _local(src.tag)
                if kind not in SOURCE_KINDS:
                    continue
                guid = _required(src, "guid", where)
                if kind == "TextSource":
                    text, origin = _text_of(src, archive)
                else:
                    reps = _children(src, "Representation") + _children(src, "Transcript")
                    text, origin = _text_of(reps[0], archive) if reps else (None, "missing")
                if text is not None:
                    texts[guid] = text
                sources.append({"guid": guid, "kind": kind, "name": src.get("name") or "",
                                "path": src.get("plainTextPath") or src.get("path") or "",
                                "text_origin": origin, "n_chars": len(text) if text is not None else pd.NA})
                for coding in _children(src, "Coding"):
                    codings.append({"selection_guid": guid, "code_guid": _code_ref(coding, where)})
                for sel in src.iter():
                    sel_kind = _local(sel.tag)
                    if sel_kind not in SELECTION_KINDS:
                        continue
                    start = end = pd.NA
                    sel_text, sel_origin = None, "missing"
                    if sel_kind == "PlainTextSelection":
                        start, end = _position(sel, "startPosition", where), _position(sel, "endPosition", where)
                        if text is not None:
                            if end > len(text) or start < 0 or end < start:
                                raise InputError(f"{path}: selection {sel.get('guid')} [{start}:{end}] lies outside "
                                                 f"source {src.get('name')!r} ({len(text)} characters)")
                            sel_text, sel_origin = text[start:end], "source"
                    else:
                        for rep in _children(sel, "Representation"):
                            inline = _child_text(rep, "PlainTextContent")
                            if inline is not None:
                                sel_text, sel_origin = inline, "inline"
                    sguid = _required(sel, "guid", where)
                    row = selections.get(sguid)
                    new = {"guid": sguid, "source_guid": guid, "kind": sel_kind, "name": sel.get("name") or "",
                           "start": start, "end": end, "text": sel_text, "text_origin": sel_origin}
                    if row is not None:  # ATLAS.ti writes a PDF quotation twice under one GUID: merge them
                        keep, other = (new, row) if sel_kind == "PlainTextSelection" else (row, new)
                        if keep["text"] is None and other["text"] is not None:
                            keep = {**keep, "text": other["text"], "text_origin": other["text_origin"]}
                        new = keep
                    selections[sguid] = new
                    for coding in _children(sel, "Coding"):
                        codings.append({"selection_guid": sguid, "code_guid": _code_ref(coding, where)})
        codings_frame = pd.DataFrame(codings, columns=["selection_guid", "code_guid"])
        codings_frame = codings_frame.drop_duplicates(ignore_index=True)
        unknown = codings_frame[~codings_frame["code_guid"].isin(code_guids)]
        if len(unknown):
            bad = unknown.iloc[0]
            raise InputError(f"{path}: selection {bad['selection_guid']} is coded with code GUID {bad['code_guid']}, "
                             f"which is not in the CodeBook")

        variable_names = {v.get("guid"): v.get("name") for holder in _children(root, "Variables")
                          for v in _children(holder, "Variable")}
        cases, members, values = [], [], []
        for holder in _children(root, "Cases"):
            for case in _children(holder, "Case"):
                cguid = _required(case, "guid", where)
                cases.append({"guid": cguid, "name": case.get("name") or ""})
                for ref in _children(case, "SourceRef"):
                    members.append({"case_guid": cguid, "target_guid": ref.get("targetGUID"), "kind": "source"})
                for ref in _children(case, "SelectionRef"):
                    members.append({"case_guid": cguid, "target_guid": ref.get("targetGUID"), "kind": "selection"})
                for vv in _children(case, "VariableValue"):
                    ref = _children(vv, "VariableRef")
                    name = variable_names.get(ref[0].get("targetGUID")) if ref else None
                    if name is None:
                        raise InputError(f"{path}: case {case.get('name')!r} has a value for an undeclared variable")
                    value = [c.text for c in vv if _local(c.tag) != "VariableRef"]
                    values.append({"case_guid": cguid, "variable": name, "value": (value[0] or "") if value else ""})
        sets = [{"guid": s.get("guid"), "name": s.get("name") or "", "n_sources": len(_children(s, "MemberSource")),
                 "n_codes": len(_children(s, "MemberCode"))}
                for holder in _children(root, "Sets") for s in _children(holder, "Set")]

    return RefiProject(
        path=str(path), member=member, name=root.get("name") or "", origin=root.get("origin") or "",
        codes=codes,
        sources=pd.DataFrame(sources, columns=["guid", "kind", "name", "path", "text_origin", "n_chars"]),
        selections=pd.DataFrame(list(selections.values()),
                                columns=["guid", "source_guid", "kind", "name", "start", "end", "text", "text_origin"]),
        codings=codings_frame,
        cases=pd.DataFrame(cases, columns=["guid", "name"]),
        case_members=pd.DataFrame(members, columns=["case_guid", "target_guid", "kind"]),
        case_variables=pd.DataFrame(values, columns=["case_guid", "variable", "value"]),
        sets=pd.DataFrame(sets, columns=["guid", "name", "n_sources", "n_codes"]),
        texts=texts,
    )


def refi_to_qual_data(project: RefiProject, *, non_text: Literal["error", "skip"] = "error") -> QualData:
    """Map a REFI-QDA project onto the study model and validate it.

    Themes are top-level codes and codes their descendants (a deeper path is joined with ``::``); each code's
    ``Description`` is its definition. Participants are ``Case`` elements named by pseudonym, with the variables
    ``role``, ``setting``, ``imd_quintile``, ``method``, ``collection_order`` (names case-insensitive) and,
    optionally, a real-name variable (dropped and redacted). A selection belongs to the case that lists it
    (``SelectionRef``) or, failing that, to the case that lists its source (``SourceRef``). Coded selections with
    no readable text (pictures, video, missing source files) are an error unless ``non_text="skip"``.
    """
    where = project.path
    by_guid = project.codes.set_index("guid")
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
        tops = project.codes[project.codes["path"].map(lambda p: p == (theme,))]
        name = HIERARCHY_SEPARATOR.join(path[1:])
        code_name[code["guid"]] = name
        book_rows.append({"theme": theme, "theme_definition": tops["description"].iloc[0] if len(tops) else "",
                          "code": name, "definition": code["description"]})
    if project.codings["code_guid"].isin(set(project.codes["guid"]) - set(code_name)).any():
        bad = project.codings[~project.codings["code_guid"].isin(code_name)].iloc[0]
        raise InputError(f"{where}: selection {bad['selection_guid']} is coded with theme "
                         f"{by_guid.loc[bad['code_guid'], 'name']!r}; code with the codes under a theme")

    if project.cases.empty:
        raise InputError(f"{where}: the project has no Cases; make one case per participant (named by pseudonym, "
                         f"with role, method and collection_order variables) and link its sources")
    variables = project.case_variables.assign(variable=project.case_variables["variable"].str.strip().str.lower())
    if variables.duplicated(["case_guid", "variable"]).any():
        bad = variables[variables.duplicated(["case_guid", "variable"])].iloc[0]
        raise InputError(f"{where}: case {case_name_of(project, bad['case_guid'])!r} has two values for "
                         f"variable {bad['variable']!r}")
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
    source_name = dict(zip(project.sources["guid"], project.sources["name"]))
    coded = set(project.codings["selection_guid"])
    seg_rows = []
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
        seg_rows.append({"segment_id": sel["guid"], "participant_id": pid, "source": source_name[sel["source_guid"]],
                         "start": sel["start"], "end": sel["end"], "text": sel["text"]})
    kept = {r["segment_id"] for r in seg_rows}
    cods = project.codings[project.codings["selection_guid"].isin(kept)]
    codings = pd.DataFrame({"segment_id": cods["selection_guid"], "code": cods["code_guid"].map(code_name)})
    documents = {source_name[g]: t for g, t in project.texts.items()
                 if project.sources.set_index("guid").loc[g, "kind"] == "TextSource"}
    return build_qual_data(
        pd.DataFrame(book_rows, columns=["theme", "theme_definition", "code", "definition"]),
        people.drop(columns=["guid"]), pd.DataFrame(seg_rows), codings,
        documents=documents, redactor=Redactor.from_names(names),
        sources={k: f"{where} ({k})" for k in ("codebook", "participants", "segments", "codings")},
        label=Path(where).stem,
    )


def case_name_of(project: RefiProject, guid: str) -> str:
    return dict(zip(project.cases["guid"], project.cases["name"])).get(guid, guid)


def load_qdpx(path: str | os.PathLike, *, non_text: Literal["error", "skip"] = "error") -> QualData:
    """:func:`read_qdpx` then :func:`refi_to_qual_data`."""
    return refi_to_qual_data(read_qdpx(path), non_text=non_text)
