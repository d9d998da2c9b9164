"""The thesis book: render it with Quarto or, where Quarto is absent, with pandoc.

Reading the book (``_quarto.yml``, chapters, notebooks, embeds, labels) lives in ``book_source``; its public names
are re-exported here, so ``from beyond_averages.book import load_book, read_page, scan`` keeps working.

``render_fallback`` numbers chapters, sections, figures and tables as a Quarto book does (``Figure 2.1``, appendix
``A``), resolves ``@fig-``/``@tbl-``/``@sec-`` references into links across pages, runs citeproc once per page with
the citation links pointing at the page holding ``::: {#refs}``, and writes every page into one HTML shell with a
sidebar and previous/next links. Output is byte-stable: no timestamps, no machine paths, and pages written into a
temporary folder that then replaces ``reports/_book`` whole (Quarto also wipes its output folder).

CLI: ``python -m beyond_averages.book render|check [--root DIR]``.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import posixpath
import re
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from beyond_averages.book_source import (  # noqa: F401  (re-exported: the public API of beyond_averages.book)
    ATTR_OF, CHAPTER_SUFFIXES, CROSSREF_TYPES, IMAGE_SUFFIX, LABEL_PATTERN, MIME_ORDER, PREFIXES, SHORTCODE,
    SKIPPED_TAGS, SPACE, TAG_OPTIONS, Book, Entry, InputError, Page, Part, Role, Scan, _str, _words,
    bibliography_keys, cell_markdown, cell_options, cell_source, crossref_type, elements, embed_path,
    expand_data_qmd, expand_shortcodes, find_cell, front_matter, load_book, markdown_ast, notebook_front_matter,
    notebook_markdown, output_markdown, output_mime, pandoc, qmd_pieces, read_config, read_notebook, read_page, scan,
    stable_styler_ids, stringify, walk,
)

TEMPLATES = Path(__file__).with_name("templates")


# ------------------------------------------------------------------------------------------- the fallback renderer
@dataclass(frozen=True)
class Target:
    """Where a label points and how a reference to it reads."""

    kind: str
    number: str | None   # "2.1", "A", None for unnumbered sections
    text: str            # heading text, used when a section has no number
    page: str            # html path relative to the output root
    word: str            # "Figure", "Table", "Chapter", "Appendix", "Section"


def chapter_numbers(pages: list[Page]) -> list[str | None]:
    """Chapter numbers as Quarto books print them: 1, 2, ... for chapters, A, B, ... for appendices.

    A page is unnumbered when its H1 is ``{.unnumbered}``, when it has no H1 (a home page then shows the book title)
    and when it is a part page.
    """
    numbers: list[str | None] = []
    chapter = appendix = 0
    for page in pages:
        h1s = scan(page.ast).h1s
        if page.entry.role == "part" or not h1s or h1s[0][1]:
            numbers.append(None)
        elif page.entry.role == "appendix":
            appendix += 1
            numbers.append(string.ascii_uppercase[(appendix - 1) % 26])
        else:
            chapter += 1
            numbers.append(str(chapter))
    return numbers


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    base = re.sub(r"\s+", "-", base) or "section"
    slug, n = base, 1
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _caption_split(blocks: list[dict]) -> tuple[list[dict], list[dict]]:
    """(body, caption inlines): a float div's caption is its last paragraph, unless that is a lone image."""
    last = blocks[-1] if len(blocks) > 1 else None
    if last and last["t"] in ("Para", "Plain") and not (len(last["c"]) == 1 and last["c"][0]["t"] == "Image"):
        return blocks[:-1], last["c"]
    return blocks, []


def number_page(page: Page, number: str | None, depth: int) -> dict[str, Target]:
    """Number this page's headings, figures, tables and callouts in place; return its labels' targets."""
    targets: dict[str, Target] = {}
    counters: dict[str, int] = {}
    sections = [0] * 8
    taken = {ident for el in elements(page.ast["blocks"]) if el["t"] in ATTR_OF
             for ident in [ATTR_OF[el["t"]](el["c"])[0]] if ident}
    seen_h1 = False

    def float_number(kind: str) -> str:
        counters[kind] = counters.get(kind, 0) + 1
        return f"{number}.{counters[kind]}" if number else str(counters[kind])

    def caption(kind: str, ident: str, inlines: list[dict]) -> list[dict]:
        num = float_number(kind)
        targets[ident] = Target(kind, num, "", page.entry.html_path, PREFIXES[kind])
        head = [_str(PREFIXES[kind]), SPACE, _str(num + (":" if inlines else ""))]
        return [{"t": "Span", "c": [["", ["float-number"], []], head]}] + ([SPACE] + inlines if inlines else [])

    def fn(el: dict):
        nonlocal seen_h1
        kind = el["t"]
        if kind == "Header":
            level, (ident, classes, kv), inlines = el["c"]
            text = stringify(inlines)
            num = None
            if level == 1 and not seen_h1:
                seen_h1 = True
                num = number if "unnumbered" not in classes else None
            elif number and level > 1 and level <= depth and "unnumbered" not in classes:
                sections[level] += 1
                sections[level + 1:] = [0] * (len(sections) - level - 1)
                num = ".".join([number, *(str(n) for n in sections[2:level + 1])])
            ident = ident or _slug(text, taken)
            if crossref_type(ident) == "sec":
                word = ("Appendix" if page.entry.role == "appendix" else "Chapter") if level == 1 else "Section"
                targets[ident] = Target("sec", num, text, page.entry.html_path, word)
            if num:
                inlines = [{"t": "Span", "c": [["", ["header-section-number"], []], [_str(num)]]}, SPACE, *inlines]
            return {"t": "Header", "c": [level, [ident, classes, kv], inlines]}
        if kind == "Figure" and crossref_type(el["c"][0][0]) == "fig":
            attr, (short, blocks), body = el["c"]
            inlines = blocks[0]["c"] if blocks else []
            return {"t": "Figure", "c": [attr, [short, [{"t": "Plain", "c": caption("fig", attr[0], inlines)}]], body]}
        if kind == "Table" and crossref_type(el["c"][0][0]) == "tbl":
            attr, (short, blocks), *rest = el["c"]
            inlines = blocks[0]["c"] if blocks else []
            return {"t": "Table", "c": [attr, [short, [{"t": "Plain", "c": caption("tbl", attr[0], inlines)}]], *rest]}
        if kind == "Div":
            (ident, classes, kv), blocks = el["c"]
            ref = crossref_type(ident)
            if ref == "fig":
                body, inlines = _caption_split(blocks)
                cap = [{"t": "Plain", "c": caption("fig", ident, inlines)}]
                return {"t": "Figure", "c": [[ident, [*classes, "quarto-float"], kv], [None, cap], body]}
            if ref == "tbl":
                body, inlines = _caption_split(blocks)
                head = {"t": "Div", "c": [["", ["table-caption"], []], [{"t": "Plain",
                                                                        "c": caption("tbl", ident, inlines)}]]}
                return {"t": "Div", "c": [[ident, [*classes, "quarto-float", "table-float"], kv], [head, *body]]}
        if kind == "Image":
            attr, inlines, target = el["c"]
            kv = [[k, v] for k, v in attr[2] if k != "fig-alt"]
            alt = dict(attr[2]).get("fig-alt")
            if alt and "alt" not in dict(kv):
                kv.append(["alt", alt])
            return {"t": "Image", "c": [[attr[0], attr[1], kv], inlines, target]}
        return None

    # Callouts first: a heading that titles a callout is not a section and must not take a number.
    page.ast["blocks"] = walk(walk(page.ast["blocks"], _callout), fn)
    return targets


def _callout(el: dict) -> dict | None:
    """``::: {.callout-note}`` as a titled box: the title is ``title="…"`` or the first heading inside."""
    if el["t"] != "Div":
        return None
    (ident, classes, kv), blocks = el["c"]
    kind = next((c.removeprefix("callout-") for c in classes if c.startswith("callout-")), None)
    if kind is None:
        return None
    title = [_str(dict(kv).get("title", ""))] if dict(kv).get("title") else []
    if not title and blocks and blocks[0]["t"] == "Header":
        title, blocks = blocks[0]["c"][2], blocks[1:]
    title = title or [_str(kind.capitalize())]
    header = {"t": "Div", "c": [["", ["callout-header"], []], [{"t": "Plain", "c": title}]]}
    body = {"t": "Div", "c": [["", ["callout-body"], []], blocks]}
    return {"t": "Div", "c": [[ident, ["callout", *classes], [[k, v] for k, v in kv if k != "title"]],
                              [header, body]]}


def _href(from_page: str, to_page: str, anchor: str = "") -> str:
    if from_page == to_page:
        return f"#{anchor}" if anchor else posixpath.basename(to_page)
    rel = posixpath.relpath(to_page, posixpath.dirname(from_page) or ".")
    return f"{rel}#{anchor}" if anchor else rel


def resolve_crossrefs(page: Page, targets: Mapping[str, Target]) -> list[str]:
    """Replace ``@fig-x``-style citations by links ("Figure 2.1"); return the labels that match nothing."""
    unresolved: list[str] = []

    def link(cite: dict) -> list[dict]:
        ident = cite["citationId"]
        label = ident[0].lower() + ident[1:]
        target = targets.get(label)
        if target is None:
            unresolved.append(ident)
            return [_str("@" + ident)]
        number = target.number or target.text
        if cite["citationMode"]["t"] == "SuppressAuthor":
            text = _words(number)
        elif cite["citationPrefix"]:
            text = [*cite["citationPrefix"], SPACE, *_words(number)]
        else:
            text = _words(f"{target.word} {number}" if target.number else number)
        return [{"t": "Link", "c": [["", ["quarto-xref"], []], text,
                                    [_href(page.entry.html_path, target.page, label), ""]]},
                *cite["citationSuffix"]]

    def fn(el: dict):
        if el["t"] != "Cite":
            return None
        refs = [c for c in el["c"][0] if crossref_type(c["citationId"])]
        if not refs:
            return None
        out: list[dict] = []
        for i, cite in enumerate(refs):
            out += ([_str(","), SPACE] if i else []) + link(cite)
        others = [c for c in el["c"][0] if not crossref_type(c["citationId"])]
        if others:
            out = [{"t": "Cite", "c": [others, [_str("@" + others[0]["citationId"])]]}, _str(";"), SPACE, *out]
        return out

    page.ast["blocks"] = walk(page.ast["blocks"], fn)
    return unresolved


def _meta_cites(keys: Iterable[str]) -> dict:
    cites = [{"citationId": k, "citationPrefix": [], "citationSuffix": [], "citationMode": {"t": "NormalCitation"},
              "citationNoteNum": 0, "citationHash": 0} for k in keys]
    return {"t": "MetaInlines", "c": [{"t": "Cite", "c": [cites, [_str("@*")]]}]} if cites else {}


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
                url = _href(page.entry.html_path, refs_page, el["c"][2][0][1:])
                attr = [el["c"][0][0], el["c"][0][1], [*el["c"][0][2], ["role", "doc-biblioref"]]]
                return {"t": "Link", "c": [attr, el["c"][1], [url, el["c"][2][1]]]}
            return None

        page.ast["blocks"] = walk(page.ast["blocks"], relink)


def local_files(page: Page, root: Path, chapters: Mapping[str, str]) -> dict[str, Path]:
    """Rewrite links to chapter sources as links to their pages; return prose images to copy (out path -> file)."""
    copies: dict[str, Path] = {}
    page_dir = posixpath.dirname(page.entry.path)

    def fn(el: dict):
        if el["t"] not in ("Image", "Link"):
            return None
        url = el["c"][2][0]
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", url, re.I):
            return None
        path, _, anchor = url.partition("#")
        out_path = posixpath.normpath(posixpath.join(page_dir, path))
        if el["t"] == "Link":
            if out_path in chapters:
                new = _href(page.entry.html_path, chapters[out_path], anchor)
                return {"t": "Link", "c": [el["c"][0], el["c"][1], [new, el["c"][2][1]]]}
            return None
        if out_path in page.assets:
            return None
        source = (root / out_path).resolve()
        if out_path.startswith("..") or not source.is_file():
            raise InputError(f"{page.entry.path}: image '{url}' not found (paths are relative to the chapter file)")
        copies[out_path] = source
        return None

    page.ast["blocks"] = walk(page.ast["blocks"], fn)
    return copies


def _shell() -> string.Template:
    return string.Template((TEMPLATES / "book.html").read_text(encoding="utf-8"))


def _navigation(pages: list[Page], numbers: list[str | None], titles: list[str], current: int) -> str:
    """The sidebar: every page with its number; a part (or "Appendices") is a heading over a nested list."""
    here = pages[current].entry.html_path
    lines, group = ['<ul class="chapters">'], None

    def item(i: int, css: str) -> str:
        number = f'<span class="chapter-number">{numbers[i]}</span> ' if numbers[i] else ""
        active = ' aria-current="page"' if i == current else ""
        return (f'<a class="{css}" href="{_href(here, pages[i].entry.html_path)}"{active}>'
                f'{number}{html.escape(titles[i])}</a>')

    for i, page in enumerate(pages):
        entry = page.entry
        if entry.part != group:
            if group is not None:
                lines.append("</ul></li>")
            group = entry.part
            if group is not None:
                head = item(i, "part-title") if entry.role == "part" else f'<span class="part-title">{html.escape(group)}</span>'
                lines.append(f'<li class="part">{head}<ul>')
                if entry.role == "part":
                    continue
        lines.append(f'<li class="chapter{" active" if i == current else ""}">{item(i, "chapter-link")}</li>')
    if group is not None:
        lines.append("</ul></li>")
    lines.append("</ul>")
    return "\n".join(lines)


def _pager(pages: list[Page], numbers: list[str | None], titles: list[str], current: int) -> str:
    here, out = pages[current].entry.html_path, []
    for j, rel, arrow in ((current - 1, "prev", "&larr; "), (current + 1, "next", "")):
        if 0 <= j < len(pages):
            label = f"{numbers[j]} {titles[j]}" if numbers[j] else titles[j]
            text = f"{arrow}{html.escape(label)}" + (" &rarr;" if rel == "next" else "")
            out.append(f'<a class="{rel}" rel="{rel}" href="{_href(here, pages[j].entry.html_path)}">{text}</a>')
    return "\n".join(out)


def _title_block(book: Book) -> str:
    lines = ['<header class="title-block">', f'<p class="book-title">{html.escape(book.title)}</p>']
    if book.subtitle:
        lines.append(f'<p class="subtitle">{html.escape(book.subtitle)}</p>')
    if book.author:
        lines.append(f'<p class="author">{html.escape(", ".join(book.author))}</p>')
    if book.date:
        lines.append(f'<p class="date">{html.escape(book.date)}</p>')
    return "\n".join([*lines, "</header>"])


def render_fallback(root: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """Render every listed chapter to linked HTML pages in ``out_dir`` (default: the book's ``output-dir``).

    Raises InputError for a missing chapter (``Book chapter '<path>' not found``), a missing home page, an
    unresolved cross-reference, a citation missing from the bibliography (pandoc's warning) or a missing image.
    """
    root = Path(root).resolve()
    book = load_book(root)
    out_dir = Path(out_dir) if out_dir else root / book.output_dir
    entries = book.entries()
    if not any(posixpath.dirname(e.path) == "" and posixpath.basename(e.path).startswith("index.") for e in entries):
        raise InputError("_quarto.yml: Book contents must include a home page (e.g. index.qmd at the root)")
    pages = [read_page(root, e, execute=book.execute) for e in entries]
    numbers = chapter_numbers(pages)
    titles = [next(iter(scan(p.ast).h1s), (None,))[0] or p.meta.get("title")
              or (book.title if posixpath.basename(p.entry.path).startswith("index.") else None)
              or posixpath.splitext(posixpath.basename(p.entry.path))[0] for p in pages]
    targets: dict[str, Target] = {}
    for page, number in zip(pages, numbers):
        targets.update(number_page(page, number, book.number_depth))
    unresolved = [f"{p.entry.path}: @{label}" for p in pages for label in resolve_crossrefs(p, targets)]
    if unresolved:
        raise InputError("unresolved cross-reference(s), no such label in the book: " + "; ".join(unresolved))
    refs_page = next((p.entry.html_path for p in pages if scan(p.ast).refs_divs), None)
    cited = sorted({key for p in pages for key in scan(p.ast).citations})
    chapter_pages = {p.entry.path: p.entry.html_path for p in pages}
    bodies, copies = [], {}
    for page in pages:
        apply_citeproc(page, book, refs_page, cited)
        copies.update(local_files(page, root, chapter_pages))
        bodies.append(pandoc(["-f", "json", "-t", "html5", "--wrap=none", "--syntax-highlighting=none", "--mathml"],
                             json.dumps(page.ast), where=page.entry.path))
    shell = _shell()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for i, page in enumerate(pages):
            here = page.entry.html_path
            label = f"{numbers[i]} {titles[i]}" if numbers[i] else titles[i]
            text = shell.substitute(
                lang=html.escape(book.lang), page_title=html.escape(f"{label} – {book.title}" if book.title else label),
                css=_href(here, "book.css"), home=_href(here, "index.html"), book_title=html.escape(book.title),
                nav=_navigation(pages, numbers, titles, i), pager=_pager(pages, numbers, titles, i),
                title_block=_title_block(book) if here == "index.html" else "", body=bodies[i])
            for bad in ("?@", "{{<"):
                if bad in text:
                    raise InputError(f"{page.entry.path}: rendered page still contains {bad!r}")
            _write(tmp / here, text.encode("utf-8"))
            for rel, data in page.assets.items():
                _write(tmp / rel, data)
        for rel, source in copies.items():
            _write(tmp / rel, source.read_bytes())
        _write(tmp / "book.css", (TEMPLATES / "book.css").read_bytes())
        tmp.chmod(0o755)
        _replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _replace_dir(new: Path, target: Path) -> None:
    """Swap a finished folder into place: the old output exists until the new one is complete."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        os.rename(target, old / target.name)
        os.rename(new, target)
        shutil.rmtree(old)
    else:
        os.rename(new, target)


# ------------------------------------------------------------------------------------------------ render and CLI
def render(root: str | os.PathLike | None = None) -> Path:
    """Render the book with Quarto when it is on PATH, else with :func:`render_fallback`; return the output dir.

    Quarto only warns on unresolved cross-references and missing citations, so its log and HTML are checked and any
    ``WARNING``, ``?@`` or ``quarto-unresolved-ref`` is an error.
    """
    from beyond_averages import paths

    root = Path(root or paths.ROOT).resolve()
    quarto = shutil.which("quarto")
    if not quarto:
        return render_fallback(root)
    book = load_book(root)
    proc = subprocess.run([quarto, "render"], cwd=root, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or "WARNING" in log:
        raise RuntimeError(f"quarto render failed or warned (exit {proc.returncode}):\n{log}")
    out_dir = root / book.output_dir
    for page in sorted(out_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        if "?@" in text or "quarto-unresolved-ref" in text:
            raise RuntimeError(f"{page.relative_to(root)}: unresolved cross-reference in the rendered HTML")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    from beyond_averages import paths
    from beyond_averages.book_checks import check_book

    parser = argparse.ArgumentParser(prog="python -m beyond_averages.book", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["render", "check"])
    parser.add_argument("--root", type=Path, default=paths.ROOT, help="repository root holding _quarto.yml")
    parser.add_argument("--if-executed", action="store_true",
                        help="check: skip notebook-output checks for executed notebooks not yet made")
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            out = render(args.root)
            print(f"book written to {out}")
            return 0
        problems = check_book(args.root, require_executed=not args.if_executed)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in the book" if problems else "book structure OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
