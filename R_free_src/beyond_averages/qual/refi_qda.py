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

Positions: ``startPosition``/``endPosition`` are half-open and count UTF-16 code units (NVivo) or Unicode code
points, as the writing tool does: ``position_unit`` says which, ``"auto"`` decides per project (see
:mod:`.positions`); selections are converted to code points, as Python slices a ``str``. Source text is decoded from
UTF-8 without newline translation (a CRLF counts two) and without a leading BOM. A ``.qde`` file alone (no archive)
is read too: its sources then have no text unless held inline.

Coders: each coding's ``creatingUser`` (else its selection's) is looked up in ``Users`` and kept as ``coder``.

Mapping onto the study's model is :mod:`.refi_mapping`.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from ..files import InputError
from .positions import UnitChoice, decide_unit, gather_evidence, to_codepoints

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
    source text, ``inline`` when held in the XML, ``missing``); ``start``/``end`` are code points, whatever unit the
    file counts in (``position_unit``). ``codings``: selection_guid, code_guid, coder (a coding on a whole source has
    the source's GUID). ``cases``: guid, name. ``case_members``: case_guid, target_guid,
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
    position_unit: str = "codepoint"  # the unit the file's positions were read in


def _open_project(path: Path) -> tuple[zipfile.ZipFile | None, str]:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() == ".qde" and not zipfile.is_zipfile(path):
        return None, path.name  # the XML alone: sources' text only where held inline
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError):
        raise InputError(f"{path}: not a zip archive; a .qdpx file is a zip holding project.qde (this one is not "
                         "one, or is damaged)") from None
    candidates = [n for n in archive.namelist() if PurePosixPath(n).name.lower() == "project.qde"]
    if not candidates:
        raise InputError(f"{path}: no project.qde inside (members: {', '.join(archive.namelist()[:10]) or 'none'})")
    return archive, min(candidates, key=lambda n: (n.count("/"), n))


def _read_member(archive: zipfile.ZipFile | None, reference: str | None) -> str | None:
    """Text of an ``internal://`` file, looked up case-insensitively (``Sources/`` of ATLAS.ti, ``sources/`` of
    MAXQDA, file names in any case) under the sources folder, or None."""
    if archive is None or not reference or not reference.lower().startswith("internal://"):
        return None
    wanted = PurePosixPath(reference[len("internal://"):].lstrip("/").lower())
    for name in archive.namelist():
        parts = PurePosixPath(name.lower()).parts
        if len(parts) > len(wanted.parts) and parts[-len(wanted.parts) - 1] == "sources" and \
                parts[-len(wanted.parts):] == wanted.parts:
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


def _text_of(element: ET.Element, archive: zipfile.ZipFile | None) -> tuple[str | None, str]:
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


def read_qdpx(path: str | os.PathLike, *, position_unit: UnitChoice = "auto") -> RefiProject:
    """Read a ``.qdpx`` archive (or a bare ``.qde``) into a :class:`RefiProject` (see the module docstring for
    what is tolerated). ``position_unit``: ``"utf16"``, ``"codepoint"`` or ``"auto"`` (:mod:`.positions`)."""
    path = Path(path)
    archive, member = _open_project(path)
    try:
        raw = path.read_bytes() if archive is None else _read_bytes(archive, member)
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as exc:
            line, column = exc.position
            raise InputError(f"{path}: {member} is not well-formed XML: line {line}, column {column + 1}: "
                             f"{str(exc).split(':')[0]}") from None
        where = f"{path} ({member})"
        if root.tag != f"{_Q}Project":
            raise InputError(f"{path}: {member} has root {root.tag!r}; expected Project in namespace {NS}")
        tables = _read_tables(root, archive, path, where)
    finally:
        if archive is not None:
            archive.close()
    codes, sources, selections, codings, texts = tables
    origin = root.get("origin") or ""
    spans = [(s["source_guid"], s["start"], s["end"]) for s in selections.values()
             if s["kind"] == "PlainTextSelection" and s["text_origin"] == "pending"]
    unit = decide_unit(position_unit, origin, gather_evidence(spans, texts), str(path))
    source_name = {s["guid"]: s["name"] for s in sources}
    for sel in selections.values():
        if sel["text_origin"] != "pending":
            continue
        text = texts[sel["source_guid"]]
        cut = to_codepoints(text, sel["start"], sel["end"], unit)
        if cut is None:
            length = len(text) if unit == "codepoint" else len(text.encode("utf-16-le")) // 2
            raise InputError(f"{path}: selection {sel['guid']} [{sel['start']}:{sel['end']}] lies outside "
                             f"source {source_name[sel['source_guid']]!r} ({length} characters); positions read as "
                             f"{'UTF-16 code units' if unit == 'utf16' else 'code points'}")
        sel.update(start=cut[0], end=cut[1], text=text[cut[0]:cut[1]], text_origin="source")
    cases, members, values, sets = _read_cases(root, path, where)
    return RefiProject(
        path=str(path), member=member, name=root.get("name") or "", origin=origin,
        codes=codes,
        sources=pd.DataFrame(sources, columns=["guid", "kind", "name", "path", "text_origin", "n_chars"]),
        selections=pd.DataFrame(list(selections.values()),
                                columns=["guid", "source_guid", "kind", "name", "start", "end", "text", "text_origin"]),
        codings=codings,
        cases=pd.DataFrame(cases, columns=["guid", "name"]),
        case_members=pd.DataFrame(members, columns=["case_guid", "target_guid", "kind"]),
        case_variables=pd.DataFrame(values, columns=["case_guid", "variable", "value"]),
        sets=pd.DataFrame(sets, columns=["guid", "name", "n_sources", "n_codes"]),
        texts=texts, position_unit=unit,
    )


def _read_tables(root: ET.Element, archive, path: Path, where: str):
    """Codes, sources, selections (PlainTextSelections with source text left ``pending`` until the position unit
    is known), codings with their coder, and source texts."""
    code_rows: list = []
    for book in _children(root, "CodeBook"):
        for codes in _children(book, "Codes"):
            _codes(codes, None, (), code_rows, where)
    codes = pd.DataFrame(code_rows, columns=["guid", "name", "description", "parent_guid", "path", "is_codable"])
    code_guids = set(codes["guid"])
    users = {u.get("guid"): (u.get("name") or u.get("guid") or "") for holder in _children(root, "Users")
             for u in _children(holder, "User")}

    def coder(coding: ET.Element, owner: ET.Element) -> str:
        guid = coding.get("creatingUser") or owner.get("creatingUser")
        return users.get(guid, guid or "")

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
                codings.append({"selection_guid": guid, "code_guid": _code_ref(coding, where),
                                "coder": coder(coding, src)})
            for sel in src.iter():
                sel_kind = _local(sel.tag)
                if sel_kind not in SELECTION_KINDS:
                    continue
                start = end = pd.NA
                sel_text, sel_origin = None, "missing"
                if sel_kind == "PlainTextSelection":
                    start, end = _position(sel, "startPosition", where), _position(sel, "endPosition", where)
                    if text is not None:
                        if start < 0 or end < start:
                            raise InputError(f"{path}: selection {sel.get('guid')} [{start}:{end}] lies outside "
                                             f"source {src.get('name')!r} ({len(text)} characters)")
                        sel_origin = "pending"  # cut once the project's position unit is known
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
                    if keep["text"] is None and other["text"] is not None and keep["text_origin"] != "pending":
                        keep = {**keep, "text": other["text"], "text_origin": other["text_origin"]}
                    new = keep
                selections[sguid] = new
                for coding in _children(sel, "Coding"):
                    codings.append({"selection_guid": sguid, "code_guid": _code_ref(coding, where),
                                    "coder": coder(coding, sel)})
    codings_frame = pd.DataFrame(codings, columns=["selection_guid", "code_guid", "coder"])
    codings_frame = codings_frame.drop_duplicates(ignore_index=True)
    unknown = codings_frame[~codings_frame["code_guid"].isin(code_guids)]
    if len(unknown):
        bad = unknown.iloc[0]
        raise InputError(f"{path}: selection {bad['selection_guid']} is coded with code GUID {bad['code_guid']}, "
                         f"which is not in the CodeBook")
    return codes, sources, selections, codings_frame, texts


def _read_cases(root: ET.Element, path: Path, where: str):
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
    return cases, members, values, sets
