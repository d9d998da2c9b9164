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

Transcripts are read without newline translation (a ``\\r\\n`` stays two code points, as tools count it) and with
a leading byte-order mark dropped (it is an encoding marker, not text).
"""

from __future__ import annotations

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
    return build_qual_data(
        book, people, segs, cods,
        documents=documents,
        redactor=Redactor.from_names(names),
        sources={"codebook": str(files["codebook"]), "participants": str(files["participants"]),
                 "segments": str(files["segments"]), "codings": str(files["segments"])},
        label=str(folder.name),
    )
