"""Read coded data from plain CSV files (hand-made, or exported by a qualitative analysis tool).

A project folder holds ``codebook.csv``, ``participants.csv``, ``segments.csv`` and, optionally, a ``transcripts/``
folder of UTF-8 ``.txt`` files (one per source, named ``<source>.txt``) and a ``sources.csv`` mapping each source
document to its participant (``source, participant_id``) for exports that do not name the participant.

``segments.csv`` may take three shapes, recognised from its header:

- **one row per segment**: ``segment_id, participant_id, source, start, end, text, codes`` with the codes joined by
  ``;`` (``start``/``end`` optional);
- **one row per coding**: the same columns with ``code`` instead of ``codes``, a segment repeated once per code
  (and optionally ``coder`` and ``memo``: who applied it, for agreement between coders);
- **Taguette's highlights export**: ``id, document, tag, content`` (one row per highlight and tag, an empty tag for
  an uncoded highlight), read as ``segment_id, source, code, text``; participants come from ``sources.csv``.

CSV files are read by :func:`beyond_averages.text_input.read_table` (UTF-8 with or without BOM; comma,
semicolon or tab): a row with more or fewer cells than the header, an unclosed quote, a column named twice or a header
without rows is an :class:`~beyond_averages.files.InputError` naming the file and the line.

**Double coding** (optional): ``segments_second_coder.csv`` holds a second coder's independent coding of some
sources, one row per coding: ``segment_id, participant_id, source, start, end, text, code, coder`` (``coder``
required on every row; ``segments.csv`` then needs a ``coder`` column too, naming the first coder). A passage of the
second coder with the same source and span (or, without positions, the same text) as one of ``segments.csv`` is
the same passage, whatever its ID; other passages are new. It is validated like ``segments.csv`` and kept apart, in
:attr:`~.model.QualData.double_coding`, for agreement between coders: the findings use ``segments.csv`` alone.

Transcripts are read without newline translation (a ``\\r\\n`` stays two code points, as tools count it) and with
a leading byte-order mark dropped (it is an encoding marker, not text).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd

from .. import paths
from ..files import InputError, require_columns
from ..text_input import read_table  # one strict CSV reader for both strands
from .model import QualData, build_qual_data
from .pseudonymity import Redactor, split_real_names

CODE_SEPARATOR = ";"
TAGUETTE_COLUMNS = {"id": "segment_id", "document": "source", "tag": "code", "content": "text"}


def read_transcripts(folder: str | os.PathLike) -> dict[str, str]:
    """``{source: text}`` for every ``*.txt`` in ``folder`` (the source is the file name without ``.txt``)."""
    folder = Path(folder)
    documents = {}
    for path in sorted(folder.glob("*.txt")):
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                documents[path.stem] = handle.read()
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return documents


def split_segments(frame: pd.DataFrame, source: str, document_participants: dict[str, str] | None = None):
    """Split a segments table of any accepted shape into ``(segments, codings)`` tables."""
    frame = frame.copy()
    if set(TAGUETTE_COLUMNS) <= set(frame.columns) and "segment_id" not in frame.columns:
        frame = frame.rename(columns=TAGUETTE_COLUMNS)
    if "participant_id" not in frame.columns:
        require_columns(frame, ("source",), source)
        if not document_participants:
            raise InputError(f"{source}: no 'participant_id' column; add one, or give a sources.csv mapping each "
                             f"source document to its participant")
        unknown = sorted(set(frame["source"]) - set(document_participants))
        if unknown:
            raise InputError(f"{source}: source document(s) {', '.join(map(repr, unknown))} are not in sources.csv")
        frame["participant_id"] = frame["source"].map(document_participants)
    require_columns(frame, ("segment_id", "participant_id", "source", "text"), source)
    frame["_row"] = range(len(frame))  # keeps error messages pointing at the file's own rows
    if "codes" in frame.columns:
        long = frame.assign(code=frame["codes"].str.split(CODE_SEPARATOR)).explode("code")
    elif "code" in frame.columns:
        long = frame
    else:
        raise InputError(f"{source}: no 'codes' (';'-separated) or 'code' (one row per coding) column")
    long = long.assign(code=long["code"].fillna("").str.strip())
    attributes = [c for c in ("participant_id", "source", "start", "end", "text") if c in frame.columns]
    segments = frame.drop_duplicates("segment_id")[["segment_id", *attributes, "_row"]].reset_index(drop=True)
    # One row per coding repeats the segment: its attributes must agree on every repeat.
    conflicts = frame.groupby("segment_id", sort=False)[attributes].nunique()
    bad = conflicts[(conflicts > 1).any(axis=1)]
    if len(bad):
        sid = bad.index[0]
        columns = [c for c in attributes if bad.loc[sid, c] > 1]
        raise InputError(f"{source}: segment {sid!r} appears on several rows with different {', '.join(columns)}")
    extra = [c for c in ("coder", "memo") if c in long.columns]  # who applied the code (agreement), its memo
    codings = long.loc[long["code"] != "", ["segment_id", "code", *extra, "_row"]].reset_index(drop=True)
    return segments, codings


def load_csv_project(
    folder: str | os.PathLike,
    *,
    codebook: str = "codebook.csv",
    participants: str = "participants.csv",
    segments: str = "segments.csv",
    transcripts: str = "transcripts",
    sources: str = "sources.csv",
    second_coder: str = "segments_second_coder.csv",
) -> QualData:
    """Read and validate a CSV project folder. Real-name columns in ``participants`` are dropped and redacted.

    A relative ``folder`` is taken from the repository root (:func:`beyond_averages.paths.resolve`), so a notebook's parameter
    ``data_synthetic/qualitative`` means the same wherever the kernel starts.
    """
    folder = paths.resolve(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such project folder (expected codebook.csv, participants.csv, segments.csv)")
    files = {"codebook": folder / codebook, "participants": folder / participants, "segments": folder / segments}
    book = read_table(files["codebook"])
    people, names = split_real_names(read_table(files["participants"]))
    mapping = None
    if (folder / sources).exists():
        table = read_table(folder / sources)
        require_columns(table, ("source", "participant_id"), str(folder / sources))
        mapping = dict(zip(table["source"].str.strip(), table["participant_id"].str.strip()))
    segs, cods = split_segments(read_table(files["segments"]), str(files["segments"]), mapping)
    documents = read_transcripts(folder / transcripts) if (folder / transcripts).is_dir() else {}
    named = {"codebook": str(files["codebook"]), "participants": str(files["participants"]),
             "segments": str(files["segments"]), "codings": str(files["segments"])}
    data = build_qual_data(book, people, segs, cods, documents=documents, redactor=Redactor.from_names(names),
                           sources=named, label=str(folder.name))
    if not (folder / second_coder).exists():
        return data
    path = folder / second_coder
    segs2, cods2 = split_segments(read_table(path), str(path), mapping)
    both_segs, both_cods = _double_coded(segs, cods, segs2, cods2, named["segments"], str(path))
    double = build_qual_data(book, people, both_segs, both_cods, documents=documents,
                             redactor=Redactor.from_names(names),
                             sources={**named, "segments": str(path), "codings": str(path)},
                             label=f"{folder.name} (double coding)")
    return dataclasses.replace(data, double_coding=double)


def _double_coded(segs: pd.DataFrame, cods: pd.DataFrame, segs2: pd.DataFrame, cods2: pd.DataFrame,
                  first: str, second: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first coder's passages and codings on the sources of the second coding, and the second coder's, with
    a second-coder passage on the same span (or, unpositioned, the same text) as a first-coder one given its ID."""
    for name, frame in ((first, cods), (second, cods2)):
        advice = f"name the coder of every coding, so {Path(second).name} can be compared with {Path(first).name}"
        if "coder" not in frame.columns:
            raise InputError(f"{name}: no 'coder' column; {advice}")
        empty = frame[frame["coder"].fillna("").astype(str).str.strip() == ""]
        if len(empty):
            i = int(empty["_row"].iloc[0])
            raise InputError(f"{name}: row {i + 1} (line {i + 2}), column 'coder': empty; {advice}")
    shared = set(segs2["source"].astype(str).str.strip())
    mine = segs[segs["source"].astype(str).str.strip().isin(shared)]

    def key(row) -> tuple:
        source, start, end = str(row["source"]).strip(), str(row.get("start", "")).strip(), \
            str(row.get("end", "")).strip()
        try:
            return source, int(float(start)), int(float(end))
        except ValueError:  # no positions (or bad ones, refused later by build_qual_data): match on the text
            return source, row["text"]

    first_id = {key(r): r["segment_id"] for r in mine.to_dict("records")}
    same = {r["segment_id"]: first_id[key(r)] for r in segs2.to_dict("records") if key(r) in first_id}
    clash = sorted((set(segs2["segment_id"]) - set(same)) & set(segs["segment_id"]))
    if clash:
        raise InputError(f"{second}: segment_id {clash[0]!r} names another passage in {Path(first).name}; give the "
                         f"second coder's new passages IDs of their own")
    new = segs2[~segs2["segment_id"].isin(same)]
    both_segs = pd.concat([mine.assign(_row=-1), new], ignore_index=True)
    both_cods = pd.concat([cods[cods["segment_id"].isin(set(mine["segment_id"]))].assign(_row=-1),
                           cods2.assign(segment_id=cods2["segment_id"].map(lambda s: same.get(s, s)))],
                          ignore_index=True)
    return both_segs, both_cods
