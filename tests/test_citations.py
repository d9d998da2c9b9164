"""Citations in the book (issue 15 item 7): the bibliography's entries are complete, every cited key exists, and
every named method is cited where the chapters' prose names it.

"Prose" is what the author writes: the markdown cells of ``notebooks/*.ipynb`` and the ``reports/*.qmd`` pages.
Sentences computed by ``report/`` functions are not prose here (they are checked by their own tests).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from beyond_averages.book.citations import bibliography_keys

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "reports" / "references.bib"
CROSSREF = re.compile(r"(fig|tbl|sec|eq|lst|thm|lem|cor|prp|cnj|def|exm|exr|sol|rem|alg)-")
LABELS = re.compile(r"-?@(?=" + CROSSREF.pattern + r")[\w-]+|\{#[^}]*\}")  # @fig-x cross-references, {#sec-x} labels
# A Pandoc citation: @key inside [...] or in-text, key = letter/digit/_ then key characters; '-@key' suppresses the
# author. An e-mail address (a letter or digit before '@') is not a citation.
CITATION = re.compile(r"(?<![\w.])-?@([A-Za-z0-9_][\w:.#$%&+?<>~/-]*[A-Za-z0-9_])")

# Method named in the prose -> the key that must be cited in the same paragraph. A name appearing without its
# citation is the failure the issue describes ("Callaway and Sant'Anna appears as plain text").
METHOD_CITATIONS = {
    "Callaway": "callaway2021",
    "Sant'Anna": "callaway2021",
    "Newcombe": "newcombe1998",
    "Fingertips": "low2004",
    "European Standard Population": "eurostat2013esp",
    "Newey": "newey1987",
    "Ljung": "ljung1978",
    "Goodman-Bacon": "goodmanbacon2021",
    "Chaisemartin": "dechaisemartin2020",
    "Webb": "webb2013",
    "RoB 2": "sterne2019rob2",
    "ROBINS-I": "sterne2016robinsi",
    "harvest plot": "ogilvie2008harvest",
    "thematic analysis": "braun2006thematic",
    "Braun": "braun2006thematic",
    "framework method": "gale2013framework",
    "PRISMA": "page_prisma_2021",
    "PROGRESS-Plus framework": "oneill_applying_2014",
    "GRADE": "guyatt2008grade",
    "GRIPP2": "staniszewska2017gripp2",
    "restricted maximum likelihood": "patterson1971reml",
}


def bib_entries(path: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """key -> (entry type, {field: value}) of a BibTeX file; values keep their braces, fields lower-cased."""
    text = path.read_text(encoding="utf-8")
    entries = {}
    for m in re.finditer(r"^@(\w+)\s*\{\s*([^,\s]+)\s*,", text, flags=re.MULTILINE):
        start, depth, i = m.end(), 1, m.end()
        while depth:  # the entry ends at the brace that closes '@type{'
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[start:i - 1]
        fields = {f.lower(): v.strip() for f, v in re.findall(r"^\s*(\w+)\s*=\s*(.+?),?\s*$", body, flags=re.MULTILINE)}
        entries[m.group(2)] = (m.group(1).lower(), fields)
    return entries


def prose_paragraphs() -> list[tuple[str, str]]:
    """(where, paragraph) for every paragraph of the chapters' prose."""
    out = []
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                out += [(f"{nb_path.name} cell {i}", p) for p in re.split(r"\n\s*\n", text) if p.strip()]
    for qmd in sorted((ROOT / "reports").glob("*.qmd")):
        out += [(qmd.name, p) for p in re.split(r"\n\s*\n", qmd.read_text(encoding="utf-8")) if p.strip()]
    return out


def without_labels(paragraph: str) -> str:
    """The paragraph without cross-references and labels (``@fig-review-prisma`` names no method)."""
    return LABELS.sub("", paragraph)


def cited_keys(paragraph: str) -> set[str]:
    return {k for k in CITATION.findall(paragraph) if not CROSSREF.match(k)}


def test_bib_parser_and_citation_pattern_on_known_text():
    """The helpers on hand-written input, so the real checks below cannot pass by parsing nothing."""
    assert cited_keys("as shown [@a2020; @b_c-2]; see @fig-x, Smith [-@smith2020] and x@mail.org.") == {
        "a2020", "b_c-2", "smith2020"}
    assert without_labels("## M {#sec-m}\n@fig-review-prisma shows PRISMA [@p]") == "## M \n shows PRISMA [@p]"
    entries = bib_entries(BIB)
    assert entries["callaway2021"][0] == "article"
    assert entries["callaway2021"][1]["pages"] == "{200--230}"
    assert entries["eurostat2013esp"][0] == "techreport"
    assert set(entries) == bibliography_keys(ROOT, ["reports/references.bib"])  # same keys as the book's reader


@pytest.mark.parametrize("key", sorted(bib_entries(BIB)))
def test_every_entry_is_complete(key):
    kind, fields = bib_entries(BIB)[key]
    for field in ("author", "title", "year"):
        assert fields.get(field, "").strip("{} "), f"{key}: no {field}"
    assert re.fullmatch(r"\{?\d{4}\}?", fields["year"]), f"{key}: year {fields['year']}"
    if kind == "article":
        assert fields.get("journal"), f"{key}: an article needs its journal"
        assert fields.get("doi") or fields.get("pages"), f"{key}: an article needs a DOI or pages"
    if kind == "techreport":
        assert fields.get("institution"), f"{key}: a report needs its institution"
    if "doi" in fields:
        assert re.fullmatch(r"\{10\.\d{4,9}/\S+\}", fields["doi"]), f"{key}: DOI {fields['doi']}"


def test_every_method_entry_says_where_it_was_checked():
    """Entries added for issue 15 carry a '% checked:' comment naming the source their details were read from."""
    text = BIB.read_text(encoding="utf-8")
    for key in set(METHOD_CITATIONS.values()) - {"callaway2021", "gale2013framework", "page_prisma_2021",
                                                  "oneill_applying_2014"}:
        head = text[:text.index("{" + key + ",")]
        comment = head[head.rindex("\n\n"):]  # the block between the previous blank line and the entry
        assert "% checked:" in comment, key


def test_every_cited_key_is_in_a_listed_bibliography():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))
    bibs = config["bibliography"] if isinstance(config["bibliography"], list) else [config["bibliography"]]
    keys = bibliography_keys(ROOT, bibs)
    cited = {(where, k) for where, p in prose_paragraphs() for k in cited_keys(p)}
    assert {k for _, k in cited} >= set(METHOD_CITATIONS.values())  # the method citations are really made
    missing = sorted((where, k) for where, k in cited if k not in keys)
    assert not missing, missing


@pytest.mark.parametrize("name", sorted(METHOD_CITATIONS))
def test_a_named_method_is_cited_in_its_paragraph(name):
    key = METHOD_CITATIONS[name]
    named = [(where, p) for where, p in prose_paragraphs() if name.lower() in without_labels(p).lower()]
    uncited = [(where, p[:120]) for where, p in named if key not in cited_keys(p)]
    assert not uncited, f"'{name}' named without [@{key}]: {uncited}"
