"""QualCoder's coding-report CSV (Reports -> Coding reports -> export CSV) read into a :class:`~.model.QualData`.

The layout follows QualCoder's writer, ``DialogReportCodes.export_csv_file`` in ``src/qualcoder/report_codes.py``
(github.com/ccbogel/QualCoder, read at commit 06db5fabd264bff558245c9596a054e279d7a668): ``open(..., 'w',
encoding='utf-8-sig', newline='')`` and ``csv.writer(..., quoting=csv.QUOTE_ALL)``, so UTF-8 with a byte-order
mark, every cell quoted, CRLF row ends (the csv module's default) and memos or coded text with embedded newlines.
Header: ``File, Coder, Coded, Id, Codename, Coded_Memo`` (by case: ``Case, Filename, Coder, ...``), then as many
``Category`` columns as the deepest code has ancestors, then, when variables are exported, ``FileVar_<name>`` and
``CaseVar_<name>`` columns. Two details of that writer shape the reader:

- a row's ``Category`` cells come from ``categories_of_code``, **leaf to root**: the code's parent codes, then its
  category, then that category's parents up to the top; a row holds only as many as its code has, and the variable
  cells follow them directly, so a row may be shorter than the header and its variables sit further left. The
  reader counts each row's categories as its cells minus the fixed and variable columns.
- ``Id`` is ``ctid:<n>`` for coded text, ``imid:<n>`` for an image area (``Coded`` = ``image``) and ``avid:<n>``
  for an audio/video segment (``Coded`` = ``a/v``). Only text codings become passages; the others are left out
  with one warning giving their number.

Mapping: the theme is the root (the last category cell) and the code is the deeper levels, root side first, and
the code name, joined by ``::`` (a code without a category goes under the theme ``(no category)``, with a warning).
The participant is the case (report by case) or the file (``P01``, ``P02``, ... in order of first appearance, since
a file name is rarely a pseudonym); role, method, setting, imd_quintile and collection_order come from ``CaseVar_``
(then ``FileVar_``) columns of those names, else role ``unknown``, method ``interview`` and the order of first
appearance. The report holds no positions: rows of one file with the same coded text are one passage, carrying all
their codes and coders. Memos are kept, whole, in ``coder_codings``.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path

import pandas as pd

from .. import paths
from ..files import InputError
from ..text_input import read_text
from .model import PARTICIPANT_COLUMNS, QualData, build_qual_data

REQUIRED = ("Coder", "Coded", "Id", "Codename")
NO_CATEGORY = "(no category)"
ATTRIBUTES = tuple(c for c in PARTICIPANT_COLUMNS if c != "participant_id")


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = read_text(path, "export the coding report again as CSV", encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, line = [], 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{path}: line {line}: not readable as CSV ({exc})") from None
    if not rows:
        raise InputError(f"{path}: empty file; expected QualCoder's coding report with File, Coder, Coded, Id, "
                         f"Codename columns")
    (_, header), body = rows[0], rows[1:]
    return [h.strip() for h in header], body


def load_qualcoder_csv(path: str | os.PathLike) -> QualData:
    """Read a QualCoder coding-report CSV (module docstring) and validate it like every other route."""
    path = paths.resolve(path)
    header, body = _rows(path)
    by_case = len(header) > 1 and header[1].lower() == "filename" and header[0].lower() != "file"
    file_col = 1 if by_case else (header.index("File") if "File" in header else None)
    missing = [c for c in REQUIRED if c not in header] + (["File"] if file_col is None else [])
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; is this QualCoder's coding "
                         f"report (File, Coder, Coded, Id, Codename, Coded_Memo, Category...)?")
    col = {name: header.index(name) for name in (*REQUIRED, "Coded_Memo") if name in header}
    categories = [i for i, h in enumerate(header) if h.lower().startswith("category")]
    variables = [h for h in header if h.startswith(("CaseVar_", "FileVar_"))]
    fixed = min(categories) if categories else len(header) - len(variables)
    book, people, segs, cods, uncategorised, files, media = {}, {}, {}, [], set(), {}, 0
    for k, (line, cells) in enumerate(body):
        where = f"{path}: line {line}"
        n_levels = len(cells) - fixed - len(variables)  # QualCoder writes only the code's own categories
        if not 0 <= n_levels <= len(categories):
            raise InputError(f"{where}: {len(cells)} cells, but the header has {fixed} columns before the "
                             f"categories, {len(categories)} Category and {len(variables)} variable column(s)")
        if not cells[col["Id"]].strip().lower().startswith("ctid:") and cells[col["Id"]].strip():
            media += 1  # an image area or an audio/video segment: no text passage
            continue
        source = cells[file_col].strip()
        # A file name is rarely a pseudonym ('Interview Ann.docx'): files become P01, P02, ... in order of appearance.
        pid = cells[0].strip() if by_case else files.setdefault(source, f"P{len(files) + 1:02d}")
        levels = [c.strip() for c in cells[fixed:fixed + n_levels] if c.strip()][::-1]  # root first
        name = cells[col["Codename"]].strip()
        if not name or not source:
            raise InputError(f"{where}: empty {'Codename' if not name else header[file_col]}")
        if not levels:
            uncategorised.add(name)
        theme, code = (levels[0], "::".join([*levels[1:], name])) if levels else (NO_CATEGORY, name)
        if book.setdefault(code, theme) != theme:
            raise InputError(f"{where}: code {code!r} is under category {theme!r} here and {book[code]!r} before")
        person = people.setdefault(pid, {"participant_id": pid, "_row": len(people)})
        for variable, value in zip(variables, cells[fixed + n_levels:]):
            attr = variable.split("_", 1)[1].strip().lower()
            if attr in ATTRIBUTES and value.strip() and (variable.startswith("CaseVar_") or attr not in person):
                person[attr] = value.strip()
        text = cells[col["Coded"]]
        sid = segs.setdefault((source, text), {"segment_id": cells[col["Id"]].strip() or f"row{k + 1}",
                                               "participant_id": pid, "source": source, "text": text,
                                               "_row": k})["segment_id"]
        cods.append({"segment_id": sid, "code": code, "coder": cells[col["Coder"]].strip(), "_row": k,
                     "memo": cells[col["Coded_Memo"]] if "Coded_Memo" in col else ""})
    if media:
        warnings.warn(f"{path}: {media} coding(s) of images or audio/video (Id imid:/avid:) left out; only coded "
                      f"text becomes passages", UserWarning, stacklevel=2)
    if uncategorised:
        warnings.warn(f"{path}: {len(uncategorised)} code(s) have no category and go under the theme "
                      f"{NO_CATEGORY!r}: {', '.join(map(repr, sorted(uncategorised)))}", UserWarning, stacklevel=2)
    codebook = pd.DataFrame([{"theme": t, "theme_definition": "", "code": c, "definition": ""}
                             for c, t in sorted(book.items(), key=lambda ct: (ct[1], ct[0]))])
    participants = pd.DataFrame([{"role": "unknown", "method": "interview", "collection_order": p["_row"] + 1,
                                  **{k: v for k, v in p.items() if k != "_row"}} for p in people.values()])
    named = {"codebook": str(path), "participants": str(path), "segments": str(path), "codings": str(path)}
    return build_qual_data(codebook, participants, pd.DataFrame(list(segs.values())), pd.DataFrame(cods),
                           sources=named, label=path.stem, require_definitions=False,
                           participants_from="cases" if by_case else "per_source")
