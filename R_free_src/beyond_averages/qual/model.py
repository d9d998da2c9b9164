"""The validated coded data set of the qualitative strand: codebook, participants, segments and codings.

Every importer (CSV, REFI-QDA) ends in :func:`build_qual_data`, so every route is checked by the same rules and
every error is an :class:`~beyond_averages.files.InputError` naming the file, the row (data rows count from 1; the
CSV line is the row + 1 because of the header) and the column.

Tables held by :class:`QualData` (tidy column names, one row per thing):

- ``codebook``: ``theme, theme_definition, code, definition`` (one row per code; a code belongs to one theme).
- ``participants``: ``participant_id, role, setting, imd_quintile, method, collection_order``. ``imd_quintile`` is
  the national IMD quintile of the participant's practice or area (1 = most deprived, as in
  :mod:`beyond_averages.deprivation`); missing for national roles. ``collection_order`` numbers the data-collection
  events: participants of one focus group or one case study share it; an interview has one participant.
- ``segments``: ``segment_id, participant_id, source, start, end, text``. Positions count Unicode code points, as
  REFI-QDA does and as Python slices do, and are half-open: the text is ``document[start:end]``. They may be missing
  (exports such as Taguette's CSV carry no positions).
- ``codings``: ``segment_id, code`` (one row per code applied to a segment; a repeated pair counts once).
- ``coder_codings``: ``segment_id, code, coder, memo``: the codings as recorded, one per coder (``coder`` empty when
  the source does not say), for inter-coder agreement and for the count of codings beside that of passages.
- ``double_coding`` (optional): a second :class:`QualData` holding a second coder's independent coding of some
  sources together with the first coder's coding of those sources (a CSV project's ``segments_second_coder.csv``),
  used for agreement between coders only, so the findings rest on one coding.

A segment is a *passage*: importers merge the selections of one source with the same span into one segment that
carries all their codes, so counts, co-occurrence and saturation are per passage.

No real name reaches these tables: see :mod:`beyond_averages.qual.pseudonymity`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import pandas as pd

from ..deprivation import QUINTILES
from ..files import InputError, require_columns
from .pseudonymity import Redactor

Role = Literal["gp", "practice_nurse", "practice_manager", "pharmacist", "commissioner", "policy_maker", "other",
               "unknown"]
Method = Literal["interview", "focus_group", "case_study"]
ROLES: tuple[str, ...] = get_args(Role)
METHODS: tuple[str, ...] = get_args(Method)


CODEBOOK_COLUMNS = ("theme", "theme_definition", "code", "definition")
PARTICIPANT_COLUMNS = ("participant_id", "role", "setting", "imd_quintile", "method", "collection_order")
SEGMENT_COLUMNS = ("segment_id", "participant_id", "source", "start", "end", "text")
CODING_COLUMNS = ("segment_id", "code")
CODER_CODING_COLUMNS = ("segment_id", "code", "coder", "memo")

# A pseudonym is short, starts with a letter and holds a digit ("P01", "FG1-03"): a bare name such as "Simon" is
# refused, because an ID is printed beside every quote.
_PSEUDONYM = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,11}$")


def _where(source: str, i: int, column: str) -> str:
    return f"{source}: row {i + 1} (line {i + 2}), column {column!r}"


def _text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()


def _normalise_choice(value, allowed: tuple[str, ...], source: str, i: int, column: str) -> str:
    key = re.sub(r"[\s\-]+", "_", _text(value).lower())
    if key not in allowed:
        raise InputError(
            f"{_where(source, i, column)}: {value!r} is not one of {', '.join(allowed)} "
            f"(spaces and hyphens are read as '_', case is ignored)"
        )
    return key


def _optional_int(value, source: str, i: int, column: str, *, minimum: int | None = None):
    if _text(value) == "":
        return pd.NA
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{_where(source, i, column)}: {value!r} is not a whole number") from None
    if number != int(number) or (minimum is not None and number < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise InputError(f"{_where(source, i, column)}: {value!r} is not a whole number{bound}")
    return int(number)


def validate_codebook(frame: pd.DataFrame, source: str = "codebook", require_definitions: bool = True
                      ) -> pd.DataFrame:
    """Check and normalise a codebook: every code unique, in exactly one theme, with a definition (unless
    ``require_definitions`` is false: the REFI-QDA route warns about codes without a description instead)."""
    require_columns(frame, ("theme", "code", "definition"), source)
    rows, seen = [], {}
    for i, row in enumerate(frame.to_dict("records")):
        theme, code, definition = _text(row["theme"]), _text(row["code"]), _text(row["definition"])
        for column, value in (("theme", theme), ("code", code), ("definition", definition)):
            if not value and (column != "definition" or require_definitions):
                raise InputError(
                    f"{_where(source, i, column)}: empty; every code needs a theme, a name and a definition")
        if ";" in code:
            raise InputError(f"{_where(source, i, 'code')}: {code!r} contains ';', which separates codes in exports")
        if code in seen:
            raise InputError(
                f"{_where(source, i, 'code')}: code {code!r} is listed twice (first at row {seen[code] + 1})")
        seen[code] = i
        rows.append({"theme": theme, "theme_definition": _text(row.get("theme_definition")), "code": code,
                     "definition": definition})
    if not rows:
        raise InputError(f"{source}: the codebook has no codes")
    out = pd.DataFrame(rows, columns=list(CODEBOOK_COLUMNS))
    # One definition per theme: take the first non-empty one and say so if rows disagree.
    for theme, group in out.groupby("theme", sort=False):
        defs = [d for d in group["theme_definition"] if d]
        if len(set(defs)) > 1:
            raise InputError(f"{source}: theme {theme!r} has {len(set(defs))} different theme_definition values")
        out.loc[group.index, "theme_definition"] = defs[0] if defs else ""
    return out


def validate_participants(frame: pd.DataFrame, source: str = "participants") -> pd.DataFrame:
    """Check and normalise participants (real-name columns must already be removed)."""
    require_columns(frame, ("participant_id", "role", "method", "collection_order"), source)
    rows, seen = [], {}
    for i, row in enumerate(frame.to_dict("records")):
        pid = _text(row["participant_id"])
        if not pid:
            raise InputError(f"{_where(source, i, 'participant_id')}: empty")
        if not _PSEUDONYM.match(pid) or not any(ch.isdigit() for ch in pid):
            raise InputError(
                f"{_where(source, i, 'participant_id')}: {pid!r} does not look like a pseudonym; use a short ID "
                f"with a digit such as 'P01', and keep real names in a 'real_name' column"
            )
        if pid in seen:
            raise InputError(
                f"{_where(source, i, 'participant_id')}: {pid!r} is listed twice (first at row {seen[pid] + 1})")
        seen[pid] = i
        quintile = _optional_int(row.get("imd_quintile"), source, i, "imd_quintile")
        if quintile is not pd.NA and quintile not in QUINTILES:
            raise InputError(f"{_where(source, i, 'imd_quintile')}: {quintile} is not an IMD quintile 1-5 "
                             f"(1 = most deprived); leave it empty for national roles")
        order = _optional_int(row["collection_order"], source, i, "collection_order", minimum=1)
        if order is pd.NA:
            raise InputError(
                f"{_where(source, i, 'collection_order')}: empty; number the data-collection events 1, 2, ...")
        rows.append({
            "participant_id": pid,
            "role": _normalise_choice(row["role"], ROLES, source, i, "role"),
            "setting": _text(row.get("setting")),
            "imd_quintile": quintile,
            "method": _normalise_choice(row["method"], METHODS, source, i, "method"),
            "collection_order": order,
        })
    if not rows:
        raise InputError(f"{source}: no participants")
    out = pd.DataFrame(rows, columns=list(PARTICIPANT_COLUMNS))
    out["imd_quintile"] = out["imd_quintile"].astype("Int64")
    out["collection_order"] = out["collection_order"].astype("int64")
    for order, group in out.groupby("collection_order"):
        methods = set(group["method"])
        if len(methods) > 1 or (len(group) > 1 and "interview" in methods):
            raise InputError(
                f"{source}: participants {', '.join(group['participant_id'])} share collection_order {order} but "
                f"their methods are {', '.join(sorted(methods))}; only one focus group or case study may share an "
                f"event, and an interview has one participant"
            )
    return out


@dataclass(frozen=True)
class QualData:
    """A validated coded data set. Build with :func:`build_qual_data`, never directly."""

    codebook: pd.DataFrame
    participants: pd.DataFrame
    segments: pd.DataFrame
    codings: pd.DataFrame
    documents: Mapping[str, str] = field(default_factory=dict)
    label: str = "coded data"
    coder_codings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(CODER_CODING_COLUMNS)))
    participants_from: str = "table"  # "table", "cases", "mapping" or "per_source" (one participant per source)
    # A second coder's independent coding of some sources, with the first coder's coding of the same sources: for
    # agreement between coders only (qual.agreement uses it when present); the findings use the coding above.
    double_coding: QualData | None = None

    @property
    def coders(self) -> list[str]:
        """The named coders, sorted (empty when the codings do not say who coded)."""
        return sorted(c for c in set(self.coder_codings["coder"]) if c)

    @property
    def themes(self) -> list[str]:
        """Themes in codebook order."""
        return list(dict.fromkeys(self.codebook["theme"]))

    def coded_segments(self) -> pd.DataFrame:
        """One row per (segment, code) with the segment, its participant's attributes and the code's theme."""
        out = (self.codings.merge(self.segments, on="segment_id", how="inner")
               .merge(self.participants, on="participant_id", how="left")
               .merge(self.codebook[["theme", "code"]], on="code", how="left"))
        return out


def build_qual_data(
    codebook: pd.DataFrame,
    participants: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    *,
    documents: Mapping[str, str] | None = None,
    redactor: Redactor | None = None,
    sources: Mapping[str, str] | None = None,
    label: str = "coded data",
    allow_uncoded: bool = False,
    require_definitions: bool = True,
    participants_from: str = "table",
) -> QualData:
    """Validate the four tables against each other and return a :class:`QualData`.

    ``sources`` names the file each table came from (keys ``codebook``, ``participants``, ``segments``,
    ``codings``), for error messages. When ``documents`` holds a segment's source, the segment's text must equal
    ``document[start:end]``. ``codings`` may carry ``coder`` and ``memo`` columns (kept in ``coder_codings``);
    ``allow_uncoded`` accepts a project with no coded segment (a codebook-only export early in a study).
    ``redactor`` (built from the real names) is applied after validation to documents,
    segment text, source names and settings; positions are moved to the redacted documents.
    """
    names = {"codebook": "codebook", "participants": "participants", "segments": "segments", "codings": "codings"}
    names.update(sources or {})
    documents = dict(documents or {})
    book = validate_codebook(codebook, names["codebook"], require_definitions)
    people = validate_participants(participants, names["participants"])
    known_people = set(people["participant_id"])

    require_columns(segments, ("segment_id", "participant_id", "source", "text"), names["segments"])
    seg_rows, seg_ids = [], {}
    for j, row in enumerate(segments.to_dict("records")):
        i = int(row.get("_row", j))  # the row of the file the segment came from
        sid = _text(row["segment_id"])
        if not sid:
            raise InputError(f"{_where(names['segments'], i, 'segment_id')}: empty")
        if sid in seg_ids:
            raise InputError(f"{_where(names['segments'], i, 'segment_id')}: {sid!r} is listed twice "
                             f"(first at row {seg_ids[sid] + 1})")
        seg_ids[sid] = i
        pid = _text(row["participant_id"])
        if pid not in known_people:
            raise InputError(f"{_where(names['segments'], i, 'participant_id')}: unknown participant {pid!r} "
                             f"(not in {names['participants']})")
        source = _text(row["source"])
        if not source:
            raise InputError(f"{_where(names['segments'], i, 'source')}: empty; name the transcript or document")
        text = row["text"] if isinstance(row["text"], str) else _text(row["text"])
        if not text.strip():
            raise InputError(f"{_where(names['segments'], i, 'text')}: empty segment text")
        start = _optional_int(row.get("start"), names["segments"], i, "start", minimum=0)
        end = _optional_int(row.get("end"), names["segments"], i, "end", minimum=0)
        if (start is pd.NA) != (end is pd.NA):
            raise InputError(f"{_where(names['segments'], i, 'start')}: give both start and end, or neither")
        if start is not pd.NA and end <= start:
            raise InputError(f"{_where(names['segments'], i, 'end')}: end {end} is not after start {start}")
        if start is not pd.NA and source in documents:
            doc = documents[source]
            if end > len(doc):
                raise InputError(f"{_where(names['segments'], i, 'end')}: end {end} is past the end of {source!r} "
                                 f"({len(doc)} characters)")
            if doc[start:end] != text:
                raise InputError(
                    f"{_where(names['segments'], i, 'text')}: the text does not match {source!r}[{start}:{end}] "
                    f"(positions count Unicode code points): segment starts {text[:40]!r}, document has "
                    f"{doc[start:start + 40]!r}"
                )
        if start is not pd.NA and source not in documents and end - start != len(text):
            raise InputError(f"{_where(names['segments'], i, 'end')}: end - start = {end - start} but the text has "
                             f"{len(text)} code points (positions count Unicode code points)")
        seg_rows.append({"segment_id": sid, "participant_id": pid, "source": source, "start": start, "end": end,
                         "text": text})
    if not seg_rows and not allow_uncoded:
        raise InputError(f"{names['segments']}: no rows (no segments); a chapter needs coded segments")
    _check_overlaps(seg_rows, documents, seg_ids, names["segments"])
    segs = pd.DataFrame(seg_rows, columns=list(SEGMENT_COLUMNS))
    segs["start"] = segs["start"].astype("Int64")
    segs["end"] = segs["end"].astype("Int64")

    require_columns(codings, ("segment_id", "code"), names["codings"])
    known_codes = set(book["code"])
    cod_rows = []
    for j, row in enumerate(codings.to_dict("records")):
        i = int(row.get("_row", j))  # the row of the file the coding came from
        sid, code = _text(row["segment_id"]), _text(row["code"])
        if sid not in seg_ids:
            raise InputError(f"{_where(names['codings'], i, 'segment_id')}: unknown segment {sid!r}")
        if code not in known_codes:
            raise InputError(
                f"{_where(names['codings'], i, 'code')}: segment {sid!r} is coded {code!r}, which is not in the "
                f"codebook ({names['codebook']}); add it there or correct the coding"
            )
        cod_rows.append({"segment_id": sid, "code": code, "coder": _text(row.get("coder")),
                         "memo": row.get("memo") if isinstance(row.get("memo"), str) else ""})
    if not cod_rows and not allow_uncoded:
        raise InputError(f"{names['codings']}: no rows (no segment is coded with a code of the codebook)")
    recorded = pd.DataFrame(cod_rows, columns=list(CODER_CODING_COLUMNS)).drop_duplicates(
        ["segment_id", "code", "coder"], ignore_index=True)
    cods = recorded[list(CODING_COLUMNS)].drop_duplicates(ignore_index=True)

    if redactor is not None and redactor.active:
        _refuse_names_in_ids(people, segs, seg_ids, names, redactor)
        segs, documents, people = _redact(segs, documents, people, redactor)
        # Code names and definitions are the memos a REFI-QDA export carries; codings follow the renamed codes.
        book = book.assign(**{c: book[c].map(redactor.redact) for c in CODEBOOK_COLUMNS})
        cods = cods.assign(code=cods["code"].map(redactor.redact))
        recorded = recorded.assign(code=recorded["code"].map(redactor.redact),
                                   memo=recorded["memo"].map(redactor.redact))
        label = redactor.redact(label)
    return QualData(codebook=book, participants=people, segments=segs, codings=cods, documents=documents,
                    label=label, coder_codings=recorded, participants_from=participants_from)


def _refuse_names_in_ids(people, segs, seg_ids, names, redactor: Redactor) -> None:
    """IDs are keys printed beside quotes and written into exports, so one holding a real name is refused rather
    than rewritten (two IDs could redact to the same key). The message names the row, never the name."""
    for i, pid in enumerate(people["participant_id"]):
        if redactor.names_found(pid):
            raise InputError(f"{_where(names['participants'], i, 'participant_id')}: the ID contains a participant's "
                             "real name; use a neutral pseudonym such as 'P01'")
    for sid in segs["segment_id"]:
        if redactor.names_found(sid):
            raise InputError(f"{_where(names['segments'], seg_ids[sid], 'segment_id')}: the ID contains a "
                             "participant's real name; use a neutral ID such as 'S001'")


def _check_overlaps(rows: list[dict], documents: Mapping[str, str], file_rows: Mapping[str, int], source: str):
    """Without a transcript, a source's text is rebuilt from its positioned segments (REFI-QDA export), so two
    segments that overlap must agree on every shared code point; this says which two do not, and where."""
    by_source: dict[str, list[dict]] = {}
    for row in rows:
        if row["start"] is not pd.NA and row["source"] not in documents:
            by_source.setdefault(row["source"], []).append(row)
    for name, segs in by_source.items():
        segs = sorted(segs, key=lambda r: (r["start"], r["segment_id"]))
        for k, a in enumerate(segs):
            for b in segs[k + 1:]:
                if b["start"] >= a["end"]:
                    break
                for pos in range(b["start"], min(a["end"], b["end"])):
                    ca, cb = a["text"][pos - a["start"]], b["text"][pos - b["start"]]
                    if ca != cb:
                        ra, rb = file_rows[a["segment_id"]] + 1, file_rows[b["segment_id"]] + 1
                        raise InputError(
                            f"{source}: rows {ra} and {rb} (lines {ra + 1} and {rb + 1}), columns 'start', 'end', "
                            f"'text': segments {a['segment_id']!r} [{a['start']}:{a['end']}] and {b['segment_id']!r} "
                            f"[{b['start']}:{b['end']}] of {name!r} overlap but differ at position {pos} ({ca!r} vs "
                            f"{cb!r}); correct the positions, or give the transcript {name}.txt")


def _redact(segs: pd.DataFrame, documents: dict, people: pd.DataFrame, redactor: Redactor):
    """Redact names everywhere; a segment inside a known document is re-cut from the redacted document."""
    redacted = {source: redactor.redact_with_offsets(text) for source, text in documents.items()}
    texts, starts, ends = [], [], []
    for row in segs.to_dict("records"):
        if row["source"] in redacted and row["start"] is not pd.NA:
            new_text, move = redacted[row["source"]]
            start, end = move(int(row["start"]), "start"), move(int(row["end"]), "end")
            texts.append(new_text[start:end])
            starts.append(start)
            ends.append(end)
        else:
            texts.append(redactor.redact(row["text"]))
            starts.append(row["start"])
            ends.append(row["end"])
    segs = segs.copy()
    segs["text"] = texts
    segs["start"] = pd.array(starts, dtype="Int64")
    segs["end"] = pd.array(ends, dtype="Int64")
    segs["source"] = segs["source"].map(redactor.redact)
    people = people.copy()
    people["setting"] = people["setting"].map(redactor.redact)
    new_documents = {redactor.redact(source): text for source, (text, _) in redacted.items()}
    return segs, new_documents, people
