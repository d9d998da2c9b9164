"""The disclosure appendix: every figure and table of the book, the rule applied to it and what it suppressed.

Which outputs release counts built from patient records is stated once, per output label, in
``reports/checklists/disclosure.yaml`` (with the policy for practice, study and participant counts); the rule is
``study.yaml``'s ``disclosure:``. For a table, the suppressed and rounded cells are counted in the released table
itself (the cells of its patient-count columns shown as ``[REDACTED]`` or as a count), so the appendix reports what
the reader sees; a figure draws rates and estimates computed from released counts and shows no count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

from beyond_averages import config
from beyond_averages.book.appendices import CHECKLISTS_DIR, cell
from beyond_averages.book.notebook import cell_options, cell_source, read_notebook
from beyond_averages.book.provenance import OutputRecord, study_file
from beyond_averages.files import InputError, read_yaml_mapping

REDACTED = "[REDACTED]"
COUNT = re.compile(r"^\d{1,3}(,\d{3})*(\s*\(.*\))?$")  # "82,570" or "489,520 (31.2%)"
SCOPES = ("patient", "not patient-level")
UNREGISTERED = "not stated: this output is missing from the disclosure register"


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(table_html: str) -> list[list[str]]:
    """The text of each cell of an HTML table, row by row, header row first (whitespace collapsed)."""
    parser = _Cells()
    parser.feed(table_html)
    return [r for r in parser.rows if r]


def count_cells(table_html: str, columns: Sequence[str]) -> tuple[int, int]:
    """(suppressed, rounded) cells of the named columns (header text) of an HTML table."""
    rows = table_rows(table_html)
    if not rows:
        return 0, 0
    wanted = [i for i, name in enumerate(rows[0]) if name in columns]
    missing = set(columns) - set(rows[0])
    if missing:
        raise InputError(f"{CHECKLISTS_DIR}/disclosure.yaml: count column(s) {sorted(missing)} not in the table "
                         f"(headers: {rows[0]})")
    values = [row[i] for row in rows[1:] for i in wanted if i < len(row)]
    return sum(v == REDACTED for v in values), sum(bool(COUNT.match(v)) for v in values)


def load_register(root: Path) -> dict:
    data = read_yaml_mapping(root / CHECKLISTS_DIR / "disclosure.yaml", InputError, " (the disclosure register)")
    outputs = data.get("outputs")
    if not isinstance(outputs, dict):
        raise InputError(f"{CHECKLISTS_DIR}/disclosure.yaml: outputs: must map each output label to its scope")
    for label, entry in outputs.items():
        if not isinstance(entry, dict) or entry.get("scope") not in SCOPES:
            raise InputError(f"{CHECKLISTS_DIR}/disclosure.yaml: {label}: scope must be one of {list(SCOPES)}")
        if entry["scope"] != "patient" and not entry.get("reason"):
            raise InputError(f"{CHECKLISTS_DIR}/disclosure.yaml: {label}: a non-patient output needs a reason")
    return data


def table_html(root: Path, record: OutputRecord) -> str:
    nb = read_notebook(root / record.page)
    for c in nb.get("cells", []):
        if c.get("cell_type") == "code" and cell_options(cell_source(c))[0].get("label") == record.label:
            for output in c.get("outputs", []):
                html = output.get("data", {}).get("text/html")
                if html:
                    return "".join(html) if isinstance(html, list) else html
    return ""


def disclosure_rows(root: Path, records: Sequence[OutputRecord]) -> list[dict]:
    """One row per output: label, released counts, rule, suppressed and rounded cells (None: no count shown)."""
    register = load_register(root)
    rules = config.load_study(study_file(root, {})).disclosure_rules
    rule = f"counts of {rules.redact_at_or_below} or fewer redacted, others rounded to the nearest {rules.round_to}"
    rows = []
    for r in records:
        entry = register["outputs"].get(r.label)
        suppressed = rounded = None
        if entry is None:  # shown, not hidden, so a new chapter renders while its scope is settled (a test fails)
            rows.append({"label": r.label, "released": "", "rule": UNREGISTERED, "suppressed": None, "rounded": None})
            continue
        if entry["scope"] == "patient":
            applied = rule
            if r.kind == "Table" and entry.get("count_columns"):
                suppressed, rounded = count_cells(table_html(root, r), entry["count_columns"])
        else:
            applied = f"not patient-level: rule does not apply ({entry['reason']})"
        rows.append({"label": r.label, "released": entry.get("released", ""), "rule": applied,
                     "suppressed": suppressed, "rounded": rounded})
    return rows


def disclosure_blocks(root: Path, records: Sequence[OutputRecord]) -> tuple[str, list[str]]:
    register = load_register(root)
    table = ["| Output | What it releases | Rule applied | Suppressed cells | Rounded cells |", "|---|---|---|---|---|"]
    for row in disclosure_rows(root, records):
        shown = ("–", "–") if row["suppressed"] is None else (row["suppressed"], row["rounded"])
        table.append(f"| @{row['label']} | {cell(row['released'])} | {cell(row['rule'])} | {shown[0]} | {shown[1]} |")
    note = ("A dash: the output shows no count (a figure or an estimate drawn from released counts). Rounded cells are "
            "the patient counts shown, each at a multiple of the rounding base.")
    return str(register.get("title", "Disclosure control")), [str(register.get("policy", "")).strip(),
                                                              "\n".join(table), note]
