"""The extraction table: one row per included study, validated against the vocabularies and the references.

CSV columns (UTF-8; comma or semicolon delimited; multi-valued cells separated by ``;`` inside a comma CSV or ``|``):

``key`` citation key (links to the references), ``year``, ``country``, ``setting``, ``design``, ``qi_approach``
(one or more), ``clinical_area``, ``progress_plus`` (PROGRESS-Plus dimensions considered, zero or more),
``equity_measure`` (how inequality was measured), ``effect_direction`` (narrowed, no_change, widened,
not_assessed), ``effect_outcome`` (the outcome the direction rests on; required unless not assessed),
``sample_size`` (blank or a whole number > 0) and ``sample_unit``, ``rob_tool`` (rob2, robins_i, or blank when risk
of bias was not assessed), ``rob_d1`` … ``rob_d7`` (one judgement per domain of the tool, blank beyond its domains),
``rob_overall``. Codes or labels from :mod:`.vocabulary` are accepted; the returned frame holds codes.

Every error names the file, the spreadsheet row (header = row 1), the study key and the column.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from ..files import InputError
from ..text_input import read_table
from .references import Reference, check_key
from .vocabulary import (DESIGNS, DIRECTIONS, JUDGEMENTS, MAX_ROB_DOMAINS, PROGRESS_PLUS, QI_APPROACHES,
                         ROB_TOOLS, allowed, normalise)

ROB_COLUMNS = [f"rob_d{i}" for i in range(1, MAX_ROB_DOMAINS + 1)]
COLUMNS = [
    "key", "year", "country", "setting", "design", "qi_approach", "clinical_area", "progress_plus",
    "equity_measure", "effect_direction", "effect_outcome", "sample_size", "sample_unit", "rob_tool",
    *ROB_COLUMNS, "rob_overall",
]
MULTI = {"qi_approach": QI_APPROACHES, "progress_plus": PROGRESS_PLUS}
SINGLE = {"design": DESIGNS, "effect_direction": DIRECTIONS}
ROB_TOOL_NAMES = {code: str(spec["label"]) for code, spec in ROB_TOOLS.items()}


def split_multi(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;|]", str(value)) if part.strip()]


def validate_extraction(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check and normalise an extraction frame of text cells; return it with codes and typed numbers."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(map(repr, missing))}; found "
                         f"{', '.join(map(repr, frame.columns))}")
    if frame.empty:
        raise InputError(f"{source}: no studies (the table has a header but no rows)")
    out = []
    first_row: dict[str, int] = {}
    for i, rec in enumerate(frame[COLUMNS].astype(str).to_dict("records")):
        row = i + 2
        rec = {k: v.strip() for k, v in rec.items()}
        key = rec["key"]

        def fail(column: str, problem: str) -> InputError:
            return InputError(f"{source}: row {row} (key {key!r}), column {column!r}: {problem}")

        if not key:
            raise fail("key", "empty citation key")
        check_key(key, f"{source}: row {row}, column 'key'")
        if key in first_row:
            raise fail("key", f"key already used in row {first_row[key]}; one row per included study")
        first_row[key] = row
        if not re.fullmatch(r"\d{4}", rec["year"]) or not 1900 <= int(rec["year"]) <= 2100:
            raise fail("year", f"{rec['year']!r} is not a four-digit year")
        for column in ("country", "setting", "clinical_area"):
            if not rec[column]:
                raise fail(column, "empty; every included study needs one")
        clean = {"key": key, "year": int(rec["year"]), "country": rec["country"], "setting": rec["setting"],
                 "clinical_area": rec["clinical_area"], "equity_measure": rec["equity_measure"],
                 "effect_outcome": rec["effect_outcome"], "sample_unit": rec["sample_unit"], "row": row}
        for column, vocab in SINGLE.items():
            code = normalise(rec[column], vocab)
            if code is None:
                raise fail(column, f"{rec[column]!r} is not one of: {allowed(vocab)}")
            clean[column] = code
        for column, vocab in MULTI.items():
            codes = []
            for part in split_multi(rec[column]):
                code = normalise(part, vocab)
                if code is None:
                    raise fail(column, f"{part!r} is not one of: {allowed(vocab)}")
                if code not in codes:
                    codes.append(code)
            clean[column] = ";".join(sorted(codes, key=list(vocab).index))
        if not clean["qi_approach"]:
            raise fail("qi_approach", "empty; name at least one QI approach")
        if clean["effect_direction"] != "not_assessed":
            if not clean["progress_plus"]:
                raise fail("progress_plus", "empty, but an effect on inequalities is reported: name the "
                                            "PROGRESS-Plus dimension(s) it was assessed across")
            if not clean["effect_outcome"]:
                raise fail("effect_outcome", "empty: name the outcome the direction of effect rests on")
        size = rec["sample_size"].replace(",", "")
        if size:
            if not size.isdigit() or int(size) <= 0:
                raise fail("sample_size", f"{rec['sample_size']!r} is not a whole number > 0 (or blank)")
            clean["sample_size"] = int(size)
        else:
            clean["sample_size"] = pd.NA
        clean.update(_risk_of_bias(rec, fail))
        out.append(clean)
    result = pd.DataFrame(out)
    result["sample_size"] = result["sample_size"].astype("Int64")
    return result[["key", "year", "country", "setting", "design", "qi_approach", "clinical_area", "progress_plus",
                   "equity_measure", "effect_direction", "effect_outcome", "sample_size", "sample_unit", "rob_tool",
                   *ROB_COLUMNS, "rob_overall", "row"]]


def _risk_of_bias(rec: dict[str, str], fail) -> dict[str, str]:
    tool_text = rec["rob_tool"]
    cells = [rec[c] for c in ROB_COLUMNS] + [rec["rob_overall"]]
    if not tool_text:
        filled = [c for c, v in zip(ROB_COLUMNS + ["rob_overall"], cells) if v]
        if filled:
            raise fail(filled[0], "a judgement is given but 'rob_tool' is empty; name the tool (rob2, robins_i)")
        return {"rob_tool": "", **{c: "" for c in ROB_COLUMNS}, "rob_overall": ""}
    tool = normalise(tool_text, ROB_TOOL_NAMES)
    if tool is None:
        raise fail("rob_tool", f"{tool_text!r} is not one of: {allowed(ROB_TOOL_NAMES)}")
    spec = ROB_TOOLS[tool]
    n_domains = len(spec["domains"])
    tool_judgements = {j: JUDGEMENTS[j] for j in spec["judgements"]}
    out = {"rob_tool": tool}
    for i, column in enumerate(ROB_COLUMNS + ["rob_overall"]):
        value = rec[column]
        in_tool = i < n_domains or column == "rob_overall"
        if not in_tool:
            if value:
                raise fail(column, f"{spec['label']} has {n_domains} domains; leave this column blank")
            out[column] = ""
            continue
        code = normalise(value, tool_judgements)
        if code is None:
            raise fail(column, f"{value!r} is not a {spec['label']} judgement; allowed: {allowed(tool_judgements)}")
        out[column] = code
    return out


def read_extraction(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    return validate_extraction(read_table(path), str(path))


def check_links(extraction: pd.DataFrame, references: tuple[Reference, ...], extraction_source: str,
                references_source: str) -> None:
    """Every extraction key must be in the references and every reference in the extraction; years must agree."""
    by_key = {r.key: r for r in references}
    missing = extraction.loc[~extraction["key"].isin(by_key)]
    if len(missing):
        listed = ", ".join(f"row {r} ({k!r})" for r, k in zip(missing["row"], missing["key"]))
        raise InputError(f"{extraction_source}: column 'key': {listed} not found in {references_source}; "
                         f"add the reference or correct the key")
    unused = [r for r in references if r.key not in set(extraction["key"])]
    if unused:
        listed = ", ".join(f"line {r.line} ({r.key!r})" for r in unused)
        raise InputError(f"{references_source}: {listed} not in {extraction_source} (column 'key'); the reference "
                         f"file should hold exactly the included studies")
    for row, key, year in zip(extraction["row"], extraction["key"], extraction["year"]):
        ref_year = by_key[key].year
        if ref_year is not None and ref_year != year:
            raise InputError(f"{extraction_source}: row {row} (key {key!r}), column 'year': {year} but "
                             f"{references_source} line {by_key[key].line} gives {ref_year}")


def explode(extraction: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per study and value of a multi-valued column (``qi_approach`` or ``progress_plus``)."""
    long = extraction.assign(**{column: extraction[column].str.split(";")}).explode(column)
    return long.loc[long[column].fillna("") != ""].reset_index(drop=True)
