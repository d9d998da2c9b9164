"""Citations: the bibliography's keys, and citeproc run on each page with links to the references page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from beyond_averages.book.crossrefs import scan
from beyond_averages.book.model import Book, page_href
from beyond_averages.book.pages import Page
from beyond_averages.book.pandoc import pandoc, str_inline, walk
from beyond_averages.files import InputError


def bibliography_keys(root: Path, bibliographies: Iterable[str]) -> set[str]:
    """Entry keys of BibTeX/BibLaTeX files (``@type{key,``) and CSL-JSON files (``"id"``)."""
    keys: set[str] = set()
    for bib in bibliographies:
        path = root / bib
        if not path.exists():
            raise InputError(f"{bib}: bibliography not found (listed in _quarto.yml)")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            keys.update(str(item.get("id")) for item in json.loads(text))
        else:
            keys.update(m.group(2) for m in re.finditer(r"@(\w+)\s*[{(]\s*([^,\s]+)\s*,", text)
                        if m.group(1).lower() not in ("comment", "string", "preamble"))
    return keys


def _meta_cites(keys: Iterable[str]) -> dict:
    cites = [{"citationId": k, "citationPrefix": [], "citationSuffix": [], "citationMode": {"t": "NormalCitation"},
              "citationNoteNum": 0, "citationHash": 0} for k in keys]
    return {"t": "MetaInlines", "c": [{"t": "Cite", "c": [cites, [str_inline("@*")]]}]} if cites else {}


def apply_citeproc(page: Page, book: Book, refs_page: str | None, cited: list[str]) -> None:
    """Run citeproc on one page; link citations to the references page and drop the page's own bibliography."""
    is_refs = page.entry.html_path == refs_page
    if not book.bibliography or not (scan(page.ast).citations or is_refs):
        return
    meta = page.ast.setdefault("meta", {})
    meta["link-citations"] = {"t": "MetaBool", "c": True}
    meta["lang"] = {"t": "MetaString", "c": book.lang}
    if is_refs and cited:
        meta["nocite"] = _meta_cites(cited)
    args = ["-f", "json", "-t", "json", "--citeproc"]
    for bib in book.bibliography:
        args += ["--bibliography", str(book.root / bib)]
    if book.csl:
        args += ["--csl", str(book.root / book.csl)]
    page.ast = json.loads(pandoc(args, json.dumps(page.ast), where=page.entry.path))
    if refs_page and not is_refs:
        page.ast["blocks"] = [b for b in page.ast["blocks"] if not (b["t"] == "Div" and b["c"][0][0] == "refs")]

        def relink(el: dict):
            if el["t"] == "Link" and el["c"][2][0].startswith("#ref-"):
                url = page_href(page.entry.html_path, refs_page, el["c"][2][0][1:])
                attr = [el["c"][0][0], el["c"][0][1], [*el["c"][0][2], ["role", "doc-biblioref"]]]
                return {"t": "Link", "c": [attr, el["c"][1], [url, el["c"][2][1]]]}
            return None

        page.ast["blocks"] = walk(page.ast["blocks"], relink)
