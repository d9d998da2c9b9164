"""The fallback book's navigation, added once every page is written: a contents list per chapter and a search index.

Both need the pages as they will be read: the contents list shows the section numbers the renderer gave the headings,
and the index holds the text of every page of the book. So :func:`add_navigation` runs on the finished HTML folder
(the renderer's temporary folder, which then replaces the output whole: the book is still written atomically, and
its files are written as the renderer writes them, readable by a web server, not with a temporary file's mode 0600):

- **Contents ("on this page").** As Quarto does with ``toc: true`` (under ``format: html:`` in ``_quarto.yml``, or in
  a chapter's front matter, which wins): the headings of levels 2 to ``toc-depth`` (pandoc's default 3; the H1 is
  the chapter's title) with their numbers, linked to their anchors, under ``toc-title`` (default "Table of
  contents", Quarto's ``toc-title-document``, which it uses for books: quarto-cli ``src/command/render/pandoc.ts``).
  Headings with the class ``unlisted`` are left out, as pandoc does. Setting ``toc-location`` turns the contents on.
- **Search.** ``search.json``: every page (path, title) with its sections (anchor, heading, text). The same index is
  written as ``search-index.js`` (``window.bookSearchIndex = {...};``) because a page opened from disk (``file://``)
  may not ``fetch`` a JSON file but may load a script; the search box and its plain JavaScript are in
  ``templates/book.html``. ``book: search: false`` in ``_quarto.yml`` removes the box and writes no index.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from beyond_averages.book.model import Book
from beyond_averages.book.pages import Page
from beyond_averages.files import InputError

TOC_TITLE = "Table of contents"  # Quarto's `toc-title-document` (en), its default title for a book's contents
TOC_DEPTH = 3                    # pandoc's default --toc-depth
SEARCH_JSON, SEARCH_SCRIPT = "search.json", "search-index.js"
SEARCH_BLOCK = re.compile(r"<!-- search -->.*?<!-- /search -->\n?", re.DOTALL)
SKIPPED = frozenset({"nav", "script", "style", "noscript"})  # navigation and code are neither contents nor text
# Text runs on across inline tags ("(2013)", not "( 2013 )") and breaks at these.
BLOCKS = frozenset({"address", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure", "footer", "header",
                    "hr", "li", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


@dataclass
class Heading:
    level: int
    ident: str
    classes: tuple[str, ...]
    number: str = ""
    text: str = ""


@dataclass
class Section:
    anchor: str  # "" for the top of the page
    title: str
    words: list[str] = field(default_factory=list)

    def text(self) -> str:
        return " ".join("".join(self.words).split())


class _MainReader(HTMLParser):
    """The headings and the text, section by section, of a page's ``<main>`` (navigation and scripts left out)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headings: list[Heading] = []
        self.sections: list[Section] = [Section("", "")]
        self._in_main = False
        self._skip = 0
        self._heading: Heading | None = None
        self._in_number = False

    def handle_starttag(self, tag, attrs):
        attr = dict(attrs)
        if tag == "main":
            self._in_main = True
        if tag in BLOCKS and self._in_main and not self._skip:
            self.sections[-1].words.append(" ")
        if not self._in_main or tag in VOID:
            return
        if self._skip or tag in SKIPPED:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = Heading(int(tag[1]), attr.get("id") or "", tuple((attr.get("class") or "").split()))
        elif tag == "span" and self._heading and "header-section-number" in (attr.get("class") or "").split():
            self._in_number = True

    def handle_endtag(self, tag):
        if tag == "main":
            self._in_main = False
        if tag in BLOCKS and self._in_main and not self._skip:
            self.sections[-1].words.append(" ")
        if not self._in_main or tag in VOID:
            return
        if self._skip:
            self._skip -= 1
        elif self._heading and tag == f"h{self._heading.level}":
            heading, self._heading = self._heading, None
            heading.number, heading.text = " ".join(heading.number.split()), " ".join(heading.text.split())
            self.headings.append(heading)
            title = f"{heading.number} {heading.text}".strip()
            if heading.level == 1:
                self.sections[0].title = self.sections[0].title or title
            else:
                self.sections.append(Section(heading.ident, title))
        elif tag == "span":
            self._in_number = False

    def handle_data(self, data):
        if not self._in_main or self._skip:
            return
        if self._heading and self._in_number:
            self._heading.number += data
        elif self._heading:
            self._heading.text += data
        else:
            self.sections[-1].words.append(data)


def read_main(page_html: str) -> _MainReader:
    reader = _MainReader()
    reader.feed(page_html)
    reader.close()
    return reader


def toc_settings(book: Book, meta: Mapping[str, Any], where: str) -> tuple[bool, int, str]:
    """(on, depth, title) of a page's contents: the chapter's front matter over ``format: html:`` of _quarto.yml."""
    fmt = book.config.get("format")
    html_opts = fmt.get("html") if isinstance(fmt, dict) else None
    opts = {**(html_opts if isinstance(html_opts, dict) else {}), **meta}
    on = bool(opts.get("toc", "toc-location" in opts))
    depth = opts.get("toc-depth", TOC_DEPTH)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 6:
        raise InputError(f"{where}: toc-depth must be a whole number from 1 to 6, got {depth!r}")
    return on, depth, str(opts.get("toc-title") or TOC_TITLE)


def toc_html(headings: Sequence[Heading], depth: int, title: str) -> str:
    """The nested contents list of headings of levels 2 to ``depth`` (empty when there are none)."""
    listed = [h for h in headings if 2 <= h.level <= depth and h.ident and "unlisted" not in h.classes]
    if not listed:
        return ""
    lines = ['<nav class="page-toc" id="TOC" role="doc-toc" aria-labelledby="toc-title">',
             f'<p class="page-toc-title" id="toc-title">{html.escape(title)}</p>']
    levels: list[int] = []
    for h in listed:
        while levels and levels[-1] > h.level:
            lines.append("</li></ul>")
            levels.pop()
        if levels and levels[-1] == h.level:
            lines.append("</li>")
        else:
            lines.append("<ul>")
            levels.append(h.level)
        number = f'<span class="header-section-number">{html.escape(h.number)}</span> ' if h.number else ""
        lines.append(f'<li><a href="#{html.escape(h.ident)}">{number}{html.escape(h.text)}</a>')
    lines.extend("</li></ul>" for _ in levels)
    return "\n".join([*lines, "</nav>"])


def insert_toc(page_html: str, toc: str) -> str:
    """The contents list placed after the chapter's H1 (or at the top of ``<main>`` on a page without one)."""
    if not toc:
        return page_html
    main = page_html.find('<main class="content">')
    if main < 0:
        raise InputError("book template: no <main class=\"content\"> to hold the page's contents list")
    end_h1 = page_html.find("</h1>", main)
    at = end_h1 + len("</h1>") if end_h1 >= 0 else page_html.find(">", main) + 1
    return f"{page_html[:at]}\n{toc}{page_html[at:]}"


def search_entry(href: str, reader: _MainReader, fallback_title: str) -> dict:
    """A page's entry in the index: its top (kept even without text, so that its title is found) and its sections."""
    page_title = reader.sections[0].title or fallback_title
    return {"href": href, "title": page_title,
            "sections": [{"anchor": s.anchor, "title": s.title or page_title, "text": s.text()} for s in reader.sections]}


def add_navigation(out_dir: Path, book: Book, pages: Sequence[Page]) -> None:
    """Add the contents list to every page written in ``out_dir`` and write the search index beside them."""
    search_cfg = (book.config.get("book") or {}).get("search", True)
    index = []
    for page in pages:
        path = out_dir / page.entry.html_path
        text = path.read_text(encoding="utf-8")
        reader = read_main(text)
        on, depth, title = toc_settings(book, page.meta, page.entry.path)
        if on:
            text = insert_toc(text, toc_html(reader.headings, depth, title))
        if search_cfg is False:
            text = SEARCH_BLOCK.sub("", text)
        path.write_text(text, encoding="utf-8")
        index.append(search_entry(page.entry.html_path, reader, book.title))
    if search_cfg is False:
        return
    data = json.dumps({"book": book.title, "pages": index}, ensure_ascii=False, separators=(",", ":"))
    (out_dir / SEARCH_JSON).write_text(data + "\n", encoding="utf-8")
    (out_dir / SEARCH_SCRIPT).write_text(f"window.bookSearchIndex = {data};\n", encoding="utf-8")
