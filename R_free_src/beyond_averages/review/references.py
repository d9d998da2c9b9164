"""References: read RIS and BibTeX exports of reference managers, write one BibTeX file for the book.

Both readers return a tuple of :class:`Reference` with a citation ``key``. BibTeX keys are kept as written. RIS has
no citation key, so one is built the way Zotero's BibTeX export builds it — first author's family name, first title
word that is not a stop word, year (``hartman_war_2017``), ASCII, lower case, ``-1``, ``-2``… on repeats — so a
library exported both ways yields the same keys. The extraction table links to references by these keys.

RIS quirks handled (all in real exports): a UTF-8 byte-order mark, CRLF or LF line endings, EndNote's continuation
lines (a multi-valued ``KW``/``AD``/``N1``/``SN`` written as one tag followed by untagged lines; untagged lines after
other tags continue that value), ``ER`` with or without a trailing space, ``DA  - 2017///`` dates.

Run ``python -m beyond_averages.review IN.ris|IN.bib OUT.bib`` to convert a library for Quarto.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..files import InputError, write_text
from ..text_input import read_text

MULTI_VALUED = {"AU", "A1", "A2", "A3", "KW", "AD", "N1", "SN", "UR", "L1", "L2", "L4", "DB", "C2"}
RIS_TYPES = {
    "JOUR": "article", "JFULL": "article", "MGZN": "article", "NEWS": "article", "EJOUR": "article",
    "BOOK": "book", "EBOOK": "book", "CHAP": "incollection", "ECHAP": "incollection",
    "CONF": "inproceedings", "CPAPER": "inproceedings", "THES": "phdthesis", "RPRT": "techreport",
    "GOVDOC": "techreport", "ELEC": "misc", "WEB": "misc", "GEN": "misc", "UNPB": "unpublished",
}
BIB_FIELDS = ("author", "title", "journal", "booktitle", "year", "volume", "number", "pages", "doi", "url",
              "publisher", "school", "institution", "address", "type", "note")
# Zotero's stop words for the title part of a generated key.
_STOP = ("a an the some from on in to of do with der die das ein eine einer eines einem einen un une la le l' el "
         "las los al uno una unos unas de des del d'").split()
_STOP_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in _STOP) + r")(\s+|\b)")
_KEY_CLEAN = re.compile(r"[^a-z0-9_-]+")
_CITEKEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:.#$%&\-+?<>~/]*$")
_CROSSREF = re.compile(r"^(fig|tbl|sec|eq|lst|nte|tip|wrn|imp|cau|thm|lem|cor|prp|cnj|def|exm|exr)-")


@dataclass(frozen=True)
class Reference:
    key: str
    entry_type: str
    title: str
    authors: tuple[str, ...]            # "Family, Given" as written by the manager
    year: int | None
    fields: dict[str, str] = field(default_factory=dict)   # other BibTeX fields (journal, doi, ...)
    line: int = 0                       # where the record starts in its file

    @property
    def first_author_family(self) -> str:
        return self.authors[0].split(",")[0].strip() if self.authors else ""


# -- keys ----------------------------------------------------------------------------------------------------------
def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def zotero_key(family: str, title: str, year: int | None) -> str:
    """The key Zotero's BibTeX export gives: ``family_titleword_year``, cleaned to ASCII."""
    a = family.lower().replace(" ", "_").replace(",", "") if family else "noauthor"
    t = _STOP_RE.sub("", title.lower()).split()
    t = t[0] if t else "notitle"
    y = str(year) if year else "nodate"
    return _KEY_CLEAN.sub("", _ascii(f"{a}_{t}_{y}").lower())


def check_key(key: str, where: str) -> None:
    if not _CITEKEY.match(key) or _CROSSREF.match(key.lower()):
        raise InputError(f"{where}: citation key {key!r} is not usable in Quarto: a key starts with a letter, digit "
                         "or '_', has no spaces, and may not start with a cross-reference prefix such as 'fig-'")


# -- RIS -----------------------------------------------------------------------------------------------------------
_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*)|)$")


def _year(text: str) -> int | None:
    m = re.search(r"(1[5-9]|20)\d\d", text or "")
    return int(m.group(0)) if m else None


def parse_ris(text: str, source: str = "<ris>") -> tuple[Reference, ...]:
    """Parse RIS text. Errors name the line: a tag outside a record, a record without ``ER``, no records."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    records: list[tuple[int, dict[str, list[str]]]] = []
    current: dict[str, list[str]] | None = None
    start = last = 0
    last_tag = ""
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip()
        m = _TAG.match(line)
        if m:
            tag, value = m.group(1), (m.group(2) or "").strip()
            if tag == "TY":
                if current is not None:
                    raise InputError(f"{source}: line {lineno}: a new record (TY) starts before the record opened at "
                                     f"line {start} was closed with 'ER  - '")
                current, start, last_tag = {"TY": [value]}, lineno, "TY"
            elif current is None:
                raise InputError(f"{source}: line {lineno}: tag {tag!r} outside a record (every record starts with "
                                 "'TY  - ')")
            elif tag == "ER":
                records.append((start, current))
                current = None
            else:
                current.setdefault(tag, []).append(value)
                last_tag = tag
            last = lineno
        elif line.strip():
            if current is None:
                raise InputError(f"{source}: line {lineno}: text outside a record: {line[:60]!r}")
            values = current.setdefault(last_tag, [""])
            if last_tag in MULTI_VALUED:
                values.append(line.strip())
            else:
                values[-1] = f"{values[-1]} {line.strip()}".strip()
    if current is not None:
        raise InputError(f"{source}: line {start}: the record opened here is never closed with 'ER  - ' "
                         f"(file ends at line {last})")
    if not records:
        raise InputError(f"{source}: no RIS records found (expected lines such as 'TY  - JOUR')")
    refs, seen = [], {}
    for start, rec in records:
        refs.append(_ris_reference(rec, start, seen))
    return tuple(refs)


def _ris_reference(rec: dict[str, list[str]], start: int, seen: dict[str, int]) -> Reference:
    def first(*tags: str) -> str:
        for tag in tags:
            for value in rec.get(tag, []):
                if value:
                    return value
        return ""

    title = first("TI", "T1", "CT", "BT")
    authors = tuple(a for a in rec.get("AU", []) + rec.get("A1", []) if a)
    year = _year(first("PY", "Y1", "DA"))
    ris_type = first("TY").upper()
    entry_type = RIS_TYPES.get(ris_type, "misc")
    thesis_type = first("M3")
    if entry_type == "phdthesis" and re.match(r"^(master'?s?|ma|msc)\b", thesis_type, re.IGNORECASE):
        entry_type = "mastersthesis"
    fields: dict[str, str] = {}
    container = first("T2", "JF", "JO", "J2", "JA")
    if container:
        fields["booktitle" if entry_type in ("incollection", "inproceedings") else "journal"] = container
    for tag, name in (("VL", "volume"), ("IS", "number"), ("DO", "doi"), ("UR", "url"), ("CY", "address")):
        if first(tag):
            fields[name] = first(tag)
    if "doi" in fields:
        fields["doi"] = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", fields["doi"].split()[0], flags=re.I)
    sp, ep = first("SP"), first("EP")
    if sp:
        fields["pages"] = f"{sp}--{ep}" if ep and ep != sp and "-" not in sp else sp
    if first("PB"):
        publisher_field = {"phdthesis": "school", "mastersthesis": "school", "techreport": "institution"}
        fields[publisher_field.get(entry_type, "publisher")] = first("PB")
    if entry_type in ("phdthesis", "mastersthesis") and thesis_type:
        fields["type"] = thesis_type
    base = zotero_key(authors[0].split(",")[0].strip() if authors else "", title, year)
    key, i = base, 0
    while key in seen:
        i += 1
        key = f"{base}-{i}"
    seen[key] = start
    return Reference(key, entry_type, title, authors, year, fields, start)


# -- BibTeX --------------------------------------------------------------------------------------------------------
_ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304", ".": "\u0307",
            "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b"}
_SPECIAL = {r"\&": "&", r"\%": "%", r"\_": "_", r"\$": "$", r"\#": "#", r"\ss": "ß", r"\o": "ø", r"\O": "Ø",
            r"\aa": "å", r"\AA": "Å", r"\ae": "æ", r"\l": "ł", "~": "\u00a0"}


def latex_to_text(value: str) -> str:
    """Plain text from a BibTeX value: accents to Unicode, escapes undone, protective braces and spaces removed."""
    def accent(m: re.Match) -> str:
        return unicodedata.normalize("NFC", m.group(2) + _ACCENTS[m.group(1)])

    value = re.sub(r"\\([\'`^\"~=.cvuH])\s*\{?\\?([A-Za-z])\}?", accent, value)
    for latex, char in _SPECIAL.items():
        value = re.sub(re.escape(latex) + r"(?![A-Za-z])", lambda _m, c=char: c, value)
    value = value.replace("{", "").replace("}", "")
    return " ".join(value.split())


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _read_value(text: str, pos: int, source: str, entry_line: int) -> tuple[str, int]:
    """Read one braced, quoted or bare value starting at ``pos``; return (raw value, position after it)."""
    if pos >= len(text):
        raise InputError(f"{source}: line {entry_line}: the file ends after 'field =' in this entry; is it cut short?")
    if text[pos] == "{":
        depth, i = 0, pos
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[pos + 1:i], i + 1
            i += 1
        raise InputError(f"{source}: line {entry_line}: a '{{' in this entry is never closed")
    if text[pos] == '"':
        depth, i = 0, pos + 1
        while i < len(text):
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == '"' and depth == 0:
                return text[pos + 1:i], i + 1
            i += 1
        raise InputError(f"{source}: line {entry_line}: a '\"' in this entry is never closed")
    m = re.compile(r"[A-Za-z0-9_.:+-]+").match(text, pos)
    if not m:
        raise InputError(f"{source}: line {_line_of(text, pos)}: expected a value ({{...}}, \"...\" or a number) "
                         f"but found {text[pos:pos + 20]!r}")
    return m.group(0), m.end()


def parse_bibtex(text: str, source: str = "<bib>") -> tuple[Reference, ...]:
    """Parse BibTeX (``@string`` macros expanded; ``@comment``/``@preamble`` skipped); duplicate keys are an error."""
    text = text.lstrip("\ufeff")
    macros: dict[str, str] = {}
    refs: list[Reference] = []
    lines: dict[str, int] = {}
    for m in re.finditer(r"@\s*([A-Za-z]+)\s*([{(])", text):
        entry_type, line = m.group(1).lower(), _line_of(text, m.start())
        if entry_type in ("comment", "preamble"):
            continue
        pos = m.end()
        if entry_type != "string":
            km = re.compile(r"\s*([^,\s{}()]+)\s*,").match(text, pos)
            if not km:
                raise InputError(f"{source}: line {line}: entry '@{entry_type}' has no citation key (expected "
                                 f"'@{entry_type}{{key,')")
            key, pos = km.group(1), km.end()
            check_key(key, f"{source}: line {line}")
            if key in lines:
                raise InputError(f"{source}: line {line}: citation key {key!r} is used twice (also line {lines[key]})")
        values: dict[str, str] = {}
        field_re = re.compile(r"\s*,?\s*([A-Za-z][A-Za-z0-9_:-]*)\s*=\s*")
        close = "}" if m.group(2) == "{" else ")"
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text):
                raise InputError(f"{source}: line {line}: entry is never closed with '{close}'")
            if text[pos] == close:
                break
            fm = field_re.match(text, pos)
            if not fm:
                raise InputError(f"{source}: line {_line_of(text, pos)}: expected 'field = value' in the entry "
                                 f"starting at line {line}, found {text[pos:pos + 30]!r}")
            name, pos = fm.group(1).lower(), fm.end()
            parts = []
            while True:
                raw, pos = _read_value(text, pos, source, line)
                parts.append(macros.get(raw.lower(), raw) if text[pos - 1] not in '}"' else raw)
                hm = re.compile(r"\s*#\s*").match(text, pos)
                if not hm:
                    break
                pos = hm.end()
            values[name] = "".join(parts)
        if entry_type == "string":
            macros.update({k: v for k, v in values.items()})
            continue
        lines[key] = line
        authors = tuple(latex_to_text(a) for a in re.split(r"\s+and\s+", values.get("author", "")) if a.strip())
        year = _year(values.get("year", "") or values.get("date", ""))
        fields = {k: latex_to_text(v) for k, v in values.items() if k not in ("author", "title", "year")}
        refs.append(Reference(key, entry_type, latex_to_text(values.get("title", "")), authors, year, fields, line))
    if not refs:
        raise InputError(f"{source}: no BibTeX entries found (expected '@article{{key, ...}}')")
    return tuple(refs)


def read_references(path: str | os.PathLike) -> tuple[Reference, ...]:
    """Read ``.ris``/``.txt`` (RIS) or ``.bib`` by extension; text must be UTF-8."""
    path = Path(path)
    text = read_text(path, "export the library as UTF-8")
    suffix = path.suffix.lower()
    if suffix == ".bib":
        return parse_bibtex(text, str(path))
    if suffix in (".ris", ".txt"):
        return parse_ris(text, str(path))
    raise InputError(f"{path}: unknown reference format {suffix!r}; use a .ris or .bib export")


# -- writing -------------------------------------------------------------------------------------------------------
def _escape(value: str) -> str:
    return re.sub(r"(?<!\\)([&%#$])", r"\\\1", value).replace("{", "").replace("}", "")


# A word with a capital after its first letter (PDSA, NHS, RoB, HbA1c, eGFR) is an acronym or a name whose case
# must survive: pandoc's citeproc sentence-cases BibTeX titles and CSL styles may title-case them again.
_WORD = re.compile(r"[^\W_]+")
CASE_PROTECTED = ("title", "booktitle")


def protect_case(value: str) -> str:
    """Wrap each word with a capital letter after its first character in braces: ``PDSA cycles`` ->
    ``{PDSA} cycles``. Single capitals (``A``, ``Type``) are left to the style; ``latex_to_text`` undoes it."""
    return _WORD.sub(lambda m: f"{{{m.group(0)}}}" if any(c.isupper() for c in m.group(0)[1:]) else m.group(0),
                     value)


def _value(name: str, value: str) -> str:
    if name in ("url", "doi"):
        return value
    return protect_case(_escape(value)) if name in CASE_PROTECTED else _escape(value)


def to_bibtex(references: tuple[Reference, ...] | list[Reference]) -> str:
    """BibTeX text, entries sorted by key and fields in a fixed order, so the output is byte-stable.

    Values are plain text (braces dropped, ``& % # $`` escaped); in titles, acronyms and mixed-case words are then
    protected with braces (:func:`protect_case`) so the bibliography shows ``PDSA``, not ``Pdsa``."""
    chunks = []
    for ref in sorted(references, key=lambda r: r.key):
        values = dict(ref.fields)
        values.update({"author": " and ".join(ref.authors), "title": ref.title,
                       "year": str(ref.year) if ref.year else ""})
        body = [f"  {name} = {{{_value(name, values[name])}}}," for name in BIB_FIELDS if values.get(name)]
        chunks.append(f"@{ref.entry_type}{{{ref.key},\n" + "\n".join(body) + "\n}\n")
    return "\n".join(chunks)


def write_bibtex(references, path: str | os.PathLike) -> Path:
    """Write :func:`to_bibtex` atomically to ``path`` (e.g. ``data_synthetic/review/references.bib``)."""
    write_text(path, to_bibtex(references))
    return Path(path)
