"""Write coded data as a REFI-QDA 1.0 project (``.qdpx``) that NVivo, ATLAS.ti, MAXQDA and QualCoder open.

The file is byte-stable: GUIDs are derived from the data (UUID5 in a fixed namespace) and zip members carry a fixed
timestamp, so the same data give the same bytes. :mod:`.refi_qda` reads such files back.

Positions are written in the unit the target tool counts in: Unicode code points by default, UTF-16 code units for
NVivo (``target="nvivo"`` or ``position_unit="utf16"``). The project's ``origin`` states the unit
(:data:`ORIGINS`), so :func:`~.refi_qda.read_qdpx` reads the file back without guessing. Text without characters
outside the Basic Multilingual Plane gives the same numbers in both units.

Codings on one passage: ``target="refi"`` writes one ``PlainTextSelection`` per passage holding all its codings;
``target="nvivo"`` writes one per code applied to the passage, each with one ``Coding``, as NVivo 12 exports. The
reader merges same-span selections back into one passage, so both read back to the same passages.

Coders: every named coder of :attr:`~.model.QualData.coder_codings` becomes a ``User`` (GUID from the name), and
each coding is written once per coder who applied it, with ``creatingUser`` pointing at that User, so a project
coded by two people reads back with its coders (and its agreement between them). A coding with no coder is
written without ``creatingUser``. Memos on codings are not written (REFI-QDA holds them as separate Notes).
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd

from ..files import InputError, atomic_path
from .model import QualData
from .positions import Unit, from_codepoints
from .refi_qda import NS, VARIABLES

TARGET_UNITS: dict[str, Unit] = {"refi": "codepoint", "nvivo": "utf16"}
ORIGINS: dict[str, str] = {"codepoint": "beyond_averages", "utf16": "beyond_averages; positions in UTF-16 code units"}

_GUID_NAMESPACE = uuid.UUID("5b0e2f0a-7c1d-4f7e-9d1a-3a5e6b8c9d10")  # fixed: same data, same GUIDs, same bytes
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _guid(kind: str, key: str) -> str:
    return str(uuid.uuid5(_GUID_NAMESPACE, f"{kind}:{key}")).upper()


def _source_texts(data: QualData) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """Each source's text: the transcript if known, else the coded passages laid out at their positions
    (spaces between) and, for segments without positions, appended in text order after a blank line."""
    texts, spans = {}, {}
    for source, segs in data.segments.groupby("source", sort=True):
        if source in data.documents:
            texts[source] = data.documents[source]
            spans.update({r["segment_id"]: (int(r["start"]), int(r["end"])) for r in segs.to_dict("records")})
            continue
        placed = segs[segs["start"].notna()]
        canvas = [" "] * int(placed["end"].max() if len(placed) else 0)
        owner: dict[int, str] = {}
        for r in placed.to_dict("records"):
            for k, ch in enumerate(r["text"][:int(r["end"]) - int(r["start"])]):
                slot = int(r["start"]) + k
                if canvas[slot] not in (" ", ch):
                    # build_qual_data refuses this on reading; a QualData made another way can still carry it.
                    raise InputError(f"{data.label}: segments {owner[slot]!r} and {r['segment_id']!r} of source "
                                     f"{source!r} overlap with different text at position {slot}; nothing written")
                canvas[slot] = ch
                owner.setdefault(slot, r["segment_id"])
            spans[r["segment_id"]] = (int(r["start"]), int(r["end"]))
        text = "".join(canvas)
        for r in segs[segs["start"].isna()].sort_values(["text", "segment_id"]).to_dict("records"):
            text += "\n\n" if text else ""
            spans[r["segment_id"]] = (len(text), len(text) + len(r["text"]))
            text += r["text"]
        texts[source] = text
    return texts, spans


def _coders_of(data: QualData) -> dict[tuple[str, str], list[str]]:
    """``{(segment_id, code): [coders, sorted]}`` for codings with named coders (others: written once, unnamed)."""
    named = data.coder_codings[data.coder_codings["coder"] != ""]
    return {key: sorted(set(group["coder"])) for key, group in named.groupby(["segment_id", "code"])}


def _selections(sid: str, codes: list[str], per_code: bool) -> list[tuple[str, list[str]]]:
    """The ``(guid, codes)`` of each selection written for passage ``sid``: one holding every code, or one per code
    (NVivo). The first keeps the passage's own GUID, which the reader takes as the passage's id, so the segment ids
    read back are the same in both conventions."""
    if not per_code or len(codes) < 2:
        return [(_guid("selection", sid), list(codes))]
    return [(_guid("selection", sid if k == 0 else f"{sid}/{code}"), [code]) for k, code in enumerate(codes)]


def to_qdpx(data: QualData, path: str | os.PathLike, *, project_name: str | None = None,
            target: str = "refi", position_unit: Unit | None = None) -> Path:
    """Write ``data`` as a REFI-QDA 1.0 ``.qdpx`` (atomically, byte-stable: fixed GUIDs, no timestamps).

    Themes become top-level codes (``isCodable="false"``) with their codes nested; participants become Cases with
    Text/Integer variables; each source becomes a TextSource whose text is stored in ``sources/<guid>.txt``; a
    source with one participant is linked by ``SourceRef``, the selections of a shared source (focus group, case
    study) by ``SelectionRef``. Real names never reach a QualData, so none reach the file. Positions count
    ``position_unit``, by default the unit of ``target`` (:data:`TARGET_UNITS`). A passage with several codes is
    one selection with several codings (``"refi"``) or one selection per code (``"nvivo"``).
    """
    if target not in TARGET_UNITS:
        raise ValueError(f"target must be one of {', '.join(TARGET_UNITS)}, not {target!r}")
    unit = position_unit or TARGET_UNITS[target]
    if unit not in ORIGINS:
        raise ValueError(f"position_unit must be 'codepoint' or 'utf16', not {unit!r}")
    path = Path(path)
    user = _guid("user", "beyond_averages")
    root = ET.Element("Project", {"xmlns": NS, "name": project_name or data.label, "origin": ORIGINS[unit],
                                  "creatingUserGUID": user})
    users = ET.SubElement(root, "Users")
    ET.SubElement(users, "User", {"guid": user, "name": "beyond_averages"})
    coder_guid = {name: _guid("user", f"coder/{name}") for name in data.coders}
    for name, guid in coder_guid.items():
        ET.SubElement(users, "User", {"guid": guid, "name": name})
    coders_of = _coders_of(data)
    codes_el = ET.SubElement(ET.SubElement(root, "CodeBook"), "Codes")
    code_guid = {}
    for theme, book in data.codebook.groupby("theme", sort=False):
        theme_el = ET.SubElement(codes_el, "Code", {"guid": _guid("theme", theme), "name": theme, "isCodable": "false"})
        if book["theme_definition"].iloc[0]:
            ET.SubElement(theme_el, "Description").text = book["theme_definition"].iloc[0]
        for code, definition in zip(book["code"], book["definition"]):
            code_guid[code] = _guid("code", f"{theme}/{code}")
            code_el = ET.SubElement(theme_el, "Code", {"guid": code_guid[code], "name": code, "isCodable": "true"})
            ET.SubElement(code_el, "Description").text = definition
    variables = ET.SubElement(root, "Variables")
    for name, kind in VARIABLES.items():
        ET.SubElement(variables, "Variable", {"guid": _guid("variable", name), "name": name, "typeOfVariable": kind})

    texts, spans = _source_texts(data)
    source_people = data.segments.groupby("source")["participant_id"].agg(lambda s: sorted(set(s)))
    codes_of = data.codings.groupby("segment_id")["code"].agg(lambda c: sorted(set(c), key=list(code_guid).index))
    selections = {sid: _selections(sid, codes_of.get(sid, []), per_code=target == "nvivo")
                  for sid in data.segments["segment_id"]}
    cases = ET.SubElement(root, "Cases")
    for person in data.participants.sort_values(["collection_order", "participant_id"]).to_dict("records"):
        case = ET.SubElement(cases, "Case", {"guid": _guid("case", person["participant_id"]),
                                             "name": person["participant_id"]})
        for name, kind in VARIABLES.items():
            value = person[name]
            if pd.isna(value) or value == "":
                continue
            vv = ET.SubElement(case, "VariableValue")
            ET.SubElement(vv, "VariableRef", {"targetGUID": _guid("variable", name)})
            ET.SubElement(vv, "IntegerValue" if kind == "Integer" else "TextValue").text = str(value)
        mine = data.segments[data.segments["participant_id"] == person["participant_id"]]
        shared = [s for s in sorted(set(mine["source"])) if len(source_people[s]) > 1]
        for source in sorted(set(mine["source"]) - set(shared)):
            ET.SubElement(case, "SourceRef", {"targetGUID": _guid("source", source)})
        for sid in mine.loc[mine["source"].isin(shared), "segment_id"]:
            for guid, _ in selections[sid]:  # every selection of the passage, or the others would have no case
                ET.SubElement(case, "SelectionRef", {"targetGUID": guid})

    sources_el = ET.SubElement(root, "Sources")
    for source in sorted(texts):
        sguid = _guid("source", source)
        src = ET.SubElement(sources_el, "TextSource", {"guid": sguid, "name": source,
                                                       "plainTextPath": f"internal://{sguid}.txt"})
        segs = data.segments[data.segments["source"] == source]
        for sid in sorted(segs["segment_id"], key=lambda s: (spans[s], s)):
            start, end = from_codepoints(texts[source], *spans[sid], unit)
            for guid, codes in selections[sid]:
                sel = ET.SubElement(src, "PlainTextSelection", {"guid": guid, "name": sid,
                                                                "startPosition": str(start), "endPosition": str(end)})
                for code in codes:
                    for k, coder in enumerate(coders_of.get((sid, code), [""])):
                        # The first coding keeps the GUID a coding without coders has always had.
                        attributes = {"guid": _guid("coding", f"{sid}/{code}" + (f"/{coder}" if k else ""))}
                        if coder:
                            attributes["creatingUser"] = coder_guid[coder]
                        coding = ET.SubElement(sel, "Coding", attributes)
                        ET.SubElement(coding, "CodeRef", {"targetGUID": code_guid[code]})
    ET.indent(root, space="  ")
    xml = ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(zipfile.ZipInfo("project.qde", _ZIP_TIME), xml, compress_type=zipfile.ZIP_DEFLATED)
            for source in sorted(texts):
                info = zipfile.ZipInfo(f"sources/{_guid('source', source)}.txt", _ZIP_TIME)
                archive.writestr(info, texts[source].encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
    return path
