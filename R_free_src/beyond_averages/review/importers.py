"""Importers for what screening tools write: the PRISMA2020 app's flow-data CSV, Rayyan, Covidence and labelled CSVs.

- :func:`read_prisma2020_csv` reads the flow-data CSV of the PRISMA2020 R package / Shiny app (columns
  ``data,node,box,description,boxtext,tooltips,url,n``; comma or semicolon delimited, BOM tolerated) into a
  :class:`~.screening_log.ScreeningLog`, so its arithmetic is checked like any log.
- :func:`read_log` reads either that format or the native ``step,detail,n`` CSV, deciding from the header.
- :func:`read_decisions` reads record-level screening exports (Rayyan CSV, Covidence CSV, or a labelled CSV with
  ``label_included`` as ASReview/SYNERGY write) into one tidy frame; :func:`decision_rows` turns finished
  decisions into log rows for one screening stage.

PRISMA2020 quirks handled (all seen in real files): placeholders such as ``"Reason1, xxx; Reason2, xxx"`` are read
as "not filled" (an error only where the count is needed, i.e. reports were assessed); a reports count of 0 next to
a positive studies count is the template's untouched default and is read as "not reported"; exclusion reasons are
``"reason, count; reason, count"`` with or without a space after the comma; the meta-analysis rows
(``total_studies_ma``, ``total_reports_ma``) and the phase labels are not part of the flow and are ignored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import pandas as pd

from ..files import InputError
from ..text_input import read_table
from .screening_log import BOX_NAMES, ScreeningLog, parse_count, read_screening_log

Decision = Literal["included", "excluded", "maybe", "conflict", "undecided"]
DECISION_COLUMNS = ["record_id", "title", "year", "doi", "decision", "reasons", "row"]

PRISMA_COLUMNS = ("data", "box", "boxtext", "n")
# PRISMA2020 `data` key -> native step.
PRISMA_STEPS: dict[str, str] = {
    "previous_studies": "previous_studies",
    "previous_reports": "previous_reports",
    "database_results": "identified_database",
    "register_results": "identified_register",
    "website_results": "identified_website",
    "organisation_results": "identified_organisation",
    "citations_results": "identified_citation",
    "duplicates": "duplicates_removed",
    "excluded_automatic": "automation_removed",
    "excluded_other": "other_removed",
    "records_screened": "records_screened",
    "records_excluded": "records_excluded",
    "dbr_sought_reports": "reports_sought",
    "dbr_notretrieved_reports": "reports_not_retrieved",
    "dbr_assessed": "reports_assessed",
    "dbr_excluded": "reports_excluded",
    "other_sought_reports": "other_reports_sought",
    "other_notretrieved_reports": "other_reports_not_retrieved",
    "other_assessed": "other_reports_assessed",
    "other_excluded": "other_reports_excluded",
    "new_studies": "new_studies",
    "new_reports": "new_reports",
    "total_studies": "total_studies",
    "total_reports": "total_reports",
}
BREAKDOWNS = {"database_specific_results": "database_results", "register_specific_results": "register_results"}
IGNORED_KEYS = {"NA", "", "identification", "screening", "included", "total_studies_ma", "total_reports_ma"}
_PLACEHOLDER = re.compile(r"^x+$", re.IGNORECASE)


def _split_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        label, sep, count = part.rpartition(",")
        pairs.append((label.strip(), count.strip()) if sep else (part, ""))
    return pairs


def parse_prisma2020_rows(path: str | os.PathLike) -> pd.DataFrame:
    """The PRISMA2020 flow CSV as native log rows ``row, step, detail, n`` (not yet checked for arithmetic)."""
    path = Path(path)
    frame = read_table(path)
    missing = [c for c in PRISMA_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))} of the PRISMA2020 flow-data "
                         f"CSV; found {', '.join(map(repr, frame.columns))}")
    by_key: dict[str, tuple[int, dict]] = {}
    for i, rec in enumerate(frame.to_dict("records")):
        key = rec["data"].strip()
        if key in IGNORED_KEYS:
            continue
        if key not in PRISMA_STEPS and key not in BREAKDOWNS:
            raise InputError(f"{path}: row {i + 2}, column 'data': unknown PRISMA2020 key {key!r}")
        if key in by_key:
            raise InputError(f"{path}: row {i + 2}, column 'data': {key!r} appears twice (also row {by_key[key][0]})")
        by_key[key] = (i + 2, rec)
    missing = [k for k in PRISMA_STEPS if k not in by_key]
    if missing:
        # The app writes one row per box, so a missing box means a cut or hand-trimmed file: name the boxes by the
        # file's own columns (data, box), not by the native log's step names.
        listed = ", ".join(f"{k} ({BOX_NAMES[PRISMA_STEPS[k]]!r})" for k in missing[:6])
        raise InputError(f"{path}: column 'data': {len(missing)} box(es) of the PRISMA2020 flow CSV have no row — "
                         f"{listed}{', …' if len(missing) > 6 else ''}; the file's last row is row {len(frame) + 1} "
                         f"(data {frame['data'].iloc[-1].strip()!r}, box {frame['box'].iloc[-1].strip()!r}): is it "
                         "cut short? The app writes one row per box")

    def count(key: str) -> int | None:
        row, rec = by_key[key]
        if rec["n"].strip() in ("", "NA"):
            return None
        return parse_count(rec["n"], str(path), f"row {row} (data '{key}'), column 'n'")

    def pairs(key: str) -> list[tuple[str, int]] | None:
        """Reason/source pairs; ``None`` when the cell still holds the template's placeholders."""
        row, rec = by_key[key]
        text = rec["n"].strip()
        if text in ("", "NA", "0"):
            return []
        out = []
        for label, value in _split_pairs(text):
            if _PLACEHOLDER.match(value):
                return None
            if not value:
                raise InputError(f"{path}: row {row} (data '{key}'), column 'n': {label!r} has no count; write "
                                 "'label, count; label, count'")
            out.append((label, parse_count(value, str(path), f"row {row} (data '{key}'), column 'n', entry {label!r}")))
        return out

    rows = []
    for key, step in PRISMA_STEPS.items():
        if key not in by_key:
            continue
        row, rec = by_key[key]
        if step.startswith("identified_"):
            total = count(key) or 0
            breakdown_key = next((b for b, t in BREAKDOWNS.items() if t == key), None)
            breakdown = pairs(breakdown_key) if breakdown_key in by_key else None
            if breakdown and total:
                b_row = by_key[breakdown_key][0]
                if sum(n for _, n in breakdown) != total:
                    raise InputError(
                        f"{path}: row {row} (data '{key}'), column 'n': box '{rec['boxtext']}' is {total:,}, but the "
                        f"sources listed in row {b_row} (data '{breakdown_key}') sum to "
                        f"{sum(n for _, n in breakdown):,}")
                rows += [{"row": b_row, "step": step, "detail": name, "n": n} for name, n in breakdown]
            elif total:
                rows.append({"row": row, "step": step, "detail": rec["boxtext"].strip(), "n": total})
        elif step.endswith("_excluded") and step != "records_excluded":
            reasons = pairs(key)
            assessed_key = "dbr_assessed" if key == "dbr_excluded" else "other_assessed"
            if reasons is None:
                if assessed_key in by_key and (count(assessed_key) or 0) > 0:
                    raise InputError(
                        f"{path}: row {row} (data '{key}'), column 'n': the exclusion reasons still hold the template "
                        f"placeholder 'xxx' although reports were assessed; write 'reason, count; reason, count'")
                reasons = []
            rows += [{"row": row, "step": step, "detail": label, "n": n} for label, n in reasons]
        else:
            n = count(key)
            if n is not None:
                rows.append({"row": row, "step": step, "detail": "", "n": n})
    frame = pd.DataFrame(rows, columns=["row", "step", "detail", "n"])
    is_previous = (frame["step"] == "previous_studies") & (frame["n"] > 0)
    identified = frame["step"].str.startswith("identified_") | is_previous
    if not identified.any():
        keys = [k for k in ("previous_studies", "database_results", "register_results", "website_results",
                            "organisation_results", "citations_results") if k in by_key]
        listed = ", ".join(f"row {by_key[k][0]} ({k})" for k in keys)
        raise InputError(f"{path}: column 'n': no record was identified in any source — {listed} are all 0 or "
                         "NA; this looks like the unfilled PRISMA2020 template, fill in the counts")
    key_at_row = {row: key for key, (row, _) in by_key.items()}
    frame["label"] = [f"data '{key_at_row[r]}'" for r in frame["row"]]
    # The template ships 0 in every reports box; 0 reports beside >0 studies is that default, not a count.
    for reports, studies in (("previous_reports", "previous_studies"), ("new_reports", "new_studies"),
                             ("total_reports", "total_studies")):
        n_studies = frame.loc[frame["step"] == studies, "n"]
        is_default = (frame["step"] == reports) & (frame["n"] == 0)
        if len(n_studies) and n_studies.iloc[0] > 0:
            frame = frame.loc[~is_default]
    return frame.reset_index(drop=True)


def read_prisma2020_csv(path: str | os.PathLike) -> ScreeningLog:
    """Read and check a PRISMA2020 flow-data CSV; inconsistent counts raise :class:`InputError` naming the box."""
    rows = parse_prisma2020_rows(path)
    return ScreeningLog.from_rows(rows, str(path))


def read_log(path: str | os.PathLike) -> ScreeningLog:
    """Read a screening log in the native ``step,detail,n`` format or the PRISMA2020 flow-data format."""
    path = Path(path)
    columns = set(read_table(path).columns)
    if {"step", "n"} <= columns:
        return read_screening_log(path)
    if set(PRISMA_COLUMNS) <= columns:
        return read_prisma2020_csv(path)
    if {"key", "notes"} <= columns or "Covidence #" in columns or "label_included" in columns:
        raise InputError(f"{path}: this is a record-level screening export (one row per record), not a flow log; "
                         "read it with read_decisions() and add its counts with decision_rows()")
    raise InputError(f"{path}: not a screening log: expected columns step, detail, n (native) or data, box, "
                     f"boxtext, n (PRISMA2020 flow CSV); found {', '.join(sorted(columns))}")


# -- record-level screening exports --------------------------------------------------------------------------------
_RAYYAN_DECISION = re.compile(r'"([^"]*)"\s*=>\s*"([^"]*)"')


def clean_doi(value: str) -> str:
    """The bare DOI, lower-cased: URL prefixes and anything after the first whitespace (leaked RIS lines) dropped."""
    token = str(value).strip().split()[0] if str(value).strip() else ""
    token = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", token, flags=re.IGNORECASE)
    return token.lower()


def _rayyan(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = []
    for i, rec in enumerate(frame.to_dict("records")):
        notes = rec["notes"]
        fields = {}
        for part in notes.split("|"):
            name, _, value = part.partition(":")
            fields[name.strip().upper()] = value.strip()
        votes = {v.lower() for _, v in _RAYYAN_DECISION.findall(fields.get("RAYYAN-INCLUSION", ""))}
        if not votes:
            decision = "undecided"
        elif len(votes) > 1:
            decision = "conflict"
        else:
            decision = votes.pop()
            if decision not in ("included", "excluded", "maybe"):
                raise InputError(f"{path}: row {i + 2}, column 'notes': unknown Rayyan decision {decision!r}")
        out.append({"record_id": rec["key"], "title": rec.get("title", ""), "year": rec.get("year", ""),
                    "doi": clean_doi(rec.get("doi", "")), "decision": decision,
                    "reasons": fields.get("RAYYAN-EXCLUSION-REASONS", ""), "row": i + 2})
    frame = pd.DataFrame(out, columns=DECISION_COLUMNS)
    frame.attrs["decision_column"] = "notes"
    return frame


def _covidence(frame: pd.DataFrame, path: Path, decision: str | None) -> pd.DataFrame:
    if decision is None:
        raise InputError(
            f"{path}: this Covidence export has no decision column (columns: {', '.join(frame.columns)}); Covidence "
            "exports one list at a time, so pass decision='included' or 'excluded' for the list it came from")
    return pd.DataFrame({
        "record_id": frame["Covidence #"], "title": frame["Title"], "year": frame["Published Year"],
        "doi": frame["DOI"].map(clean_doi), "decision": decision, "reasons": frame.get("Notes", ""),
        "row": range(2, len(frame) + 2),
    }, columns=DECISION_COLUMNS)


def _labelled(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    labels = frame["label_included"].str.strip()
    bad = [i + 2 for i, v in enumerate(labels) if v not in ("0", "1", "")]
    if bad:
        raise InputError(f"{path}: row(s) {', '.join(map(str, bad[:10]))}, column 'label_included': expected 0, 1 "
                         "or empty")
    ident = next((c for c in ("record_id", "pmid", "openalex_id") if c in frame.columns), None)
    out = pd.DataFrame({
        "record_id": frame[ident] if ident else [str(i + 1) for i in range(len(frame))],
        "title": frame.get("title", ""), "year": frame.get("year", ""),
        "doi": frame["doi"].map(clean_doi) if "doi" in frame else "",
        "decision": labels.map({"1": "included", "0": "excluded", "": "undecided"}), "reasons": "",
        "row": range(2, len(frame) + 2),
    }, columns=DECISION_COLUMNS)
    out.attrs["decision_column"] = "label_included"
    return out


def read_decisions(path: str | os.PathLike, decision: Decision | None = None) -> pd.DataFrame:
    """Per-record screening decisions from a Rayyan CSV, a Covidence CSV or a ``label_included`` CSV.

    Returns ``record_id, title, year, doi, decision, reasons, row`` with ``decision`` one of included, excluded,
    maybe, conflict (reviewers disagree), undecided; ``row`` is the spreadsheet row. ``decision`` is required for a
    Covidence export (it carries none) and refused for the others.
    """
    path = Path(path)
    frame = read_table(path)
    columns = set(frame.columns)
    key_column = ("Covidence #" if "Covidence #" in columns else "key" if {"key", "notes"} <= columns
                  else next((c for c in ("record_id", "pmid", "openalex_id") if c in columns), None))
    _check_unique(frame, key_column, path)
    if "Covidence #" in columns:
        return _covidence(frame, path, decision)
    if decision is not None:
        raise InputError(f"{path}: decision={decision!r} is only for Covidence exports; this file carries its own")
    if {"key", "notes"} <= columns:
        return _rayyan(frame, path)
    if "label_included" in columns:
        return _labelled(frame, path)
    raise InputError(f"{path}: not a known screening export: expected Rayyan (key, notes), Covidence "
                     f"('Covidence #') or a labelled CSV (label_included); found {', '.join(frame.columns)}")


def _check_unique(frame: pd.DataFrame, column: str | None, path: Path) -> None:
    """A record listed twice would be counted twice (inflating 'Records screened'), so a repeated key is an error,
    never a silent de-duplication: which copy holds the final decision is for the reviewer to say."""
    if column is None:
        return
    keys = frame[column].str.strip()
    repeated = keys[(keys != "") & keys.duplicated(keep=False)]
    if repeated.empty:
        return
    rows = {key: [i + 2 for i in group.index] for key, group in repeated.groupby(repeated, sort=False)}
    listed = "; ".join(f"{key!r} on rows {' and '.join(map(str, r))}" for key, r in list(rows.items())[:3])
    raise InputError(f"{path}: column {column!r}: {len(rows)} key(s) appear more than once — {listed}; each record "
                     "must appear once (remove the duplicate rows or export again)")


def decision_rows(decisions: pd.DataFrame, stage: Literal["title_abstract", "full_text"], source: str,
                  ) -> pd.DataFrame:
    """Native log rows for one finished screening stage; unresolved records raise :class:`InputError`.

    Title/abstract: ``records_screened`` = all records, ``records_excluded`` = excluded, ``reports_sought`` =
    included. Full text: ``reports_assessed`` = all, ``reports_excluded`` per reason (records without a reason
    count under "Reason not recorded"), ``new_reports`` = included.
    """
    pending = decisions.loc[~decisions["decision"].isin(["included", "excluded"])]
    if len(pending):
        listed = "; ".join(f"row {r}: {d}" for r, d in zip(pending["row"].head(12), pending["decision"].head(12)))
        column = decisions.attrs.get("decision_column", "decision")
        raise InputError(f"{source}: column {column!r}: screening is not finished — {len(pending)} record(s) are "
                         f"not included or excluded ({listed}); resolve them in the screening tool and export again")
    n_all = len(decisions)
    included = int((decisions["decision"] == "included").sum())
    if stage == "title_abstract":
        rows = [("records_screened", "", n_all), ("records_excluded", "", n_all - included),
                ("reports_sought", "", included)]
    else:
        excluded = decisions.loc[decisions["decision"] == "excluded", "reasons"].replace("", "Reason not recorded")
        reasons = excluded.str.split(",").str[0].str.strip().value_counts().sort_index()
        rows = [("reports_assessed", "", n_all)] + [("reports_excluded", r, int(n)) for r, n in reasons.items()]
        rows.append(("new_reports", "", included))
    return pd.DataFrame(rows, columns=["step", "detail", "n"])
