"""Rendering the thesis book: with Quarto when it is on PATH, else with the fallback renderer built on pandoc.

``render_fallback`` reads every chapter (:mod:`beyond_averages.book.pages`), numbers chapters, sections, figures and
tables and resolves ``@fig-``/``@tbl-``/``@sec-`` references across pages (:mod:`beyond_averages.book.crossrefs`),
runs citeproc per page (:mod:`beyond_averages.book.citations`), and writes every page into one HTML shell
(:mod:`beyond_averages.book.shell`). Before any page is read, every figure and table gets its provenance
(:mod:`beyond_averages.book.provenance`: a footer under it) and the appendices ``_quarto.yml`` lists are written
(:mod:`beyond_averages.book.appendices`). Output is byte-stable except the render time of the provenance appendix and
``provenance.json`` (fixed by ``SOURCE_DATE_EPOCH``): no machine paths, and pages written into a temporary folder
that then replaces ``reports/_book`` whole (Quarto also wipes its output folder).

CLI: ``python -m beyond_averages.book render|check [--root DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from beyond_averages import paths
from beyond_averages.book import provenance
from beyond_averages.book.appendices import generated_name, provenance_blocks, write_appendices
from beyond_averages.book.checks import check_book
from beyond_averages.book.citations import apply_citeproc
from beyond_averages.book.crossrefs import Target, chapter_numbers, number_page, resolve_crossrefs, scan
from beyond_averages.book.disclosure_appendix import disclosure_blocks
from beyond_averages.book.model import Book, load_book, page_href
from beyond_averages.book.navigation import add_navigation
from beyond_averages.book.notebook import read_notebook
from beyond_averages.book.pages import Page, read_page
from beyond_averages.book.pandoc import pandoc, walk
from beyond_averages.book.shell import TEMPLATES, page_html
from beyond_averages.files import InputError, write_text

PROVENANCE_JSON = "provenance.json"


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
    records, provenance_json = prepare_book(book)
    with tempfile.TemporaryDirectory() as annotated:
        pages = [read_page(root, e, execute=book.execute, stand_in=_annotated(root, e.path, records, annotated))
                 for e in entries]
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
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for i, page in enumerate(pages):
            here = page.entry.html_path
            text = page_html(book, pages, numbers, titles, i, bodies[i])
            for bad in ("?@", "{{<"):
                if bad in text:
                    raise InputError(f"{page.entry.path}: rendered page still contains {bad!r}")
            _write(tmp / here, text.encode("utf-8"))
            for rel, data in page.assets.items():
                _write(tmp / rel, data)
        for rel, source in copies.items():
            _write(tmp / rel, source.read_bytes())
        _write(tmp / "book.css", (TEMPLATES / "book.css").read_bytes())
        if provenance_json is not None:
            _write(tmp / PROVENANCE_JSON, provenance_json.encode("utf-8"))
        add_navigation(tmp, book, pages)   # needs every page written, the generated appendices included
        tmp.chmod(0o755)
        _replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


def prepare_book(book: Book) -> tuple[list[provenance.OutputRecord], str | None]:
    """Provenance records of every figure and table, and the appendices the book generates (those _quarto.yml
    lists), written before any page is read; with the provenance appendix listed, also ``provenance.json``."""
    chapters = [e.path for e in book.entries() if generated_name(e.path) is None]
    records = provenance.collect(book, chapters)
    commit = records[0].commit if records else provenance.git_state(book.root)
    stamp = render_time()
    write_appendices(book, {"provenance": lambda: ("Provenance of every figure and table",
                                                   provenance_blocks(records, stamp, commit)),
                            "disclosure": lambda: disclosure_blocks(book.root, records)})
    if not any(generated_name(p) == "provenance" for p in book.appendices):
        return records, None
    return records, json.dumps(provenance.book_provenance(records, stamp, commit), indent=1) + "\n"


def render_time() -> str:
    """Now in UTC, or ``SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention for a fixed build time)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch) if epoch else time.time(), tz=UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _annotated(root: Path, page: str, records, folder: str) -> Path | None:
    """An executed notebook with a provenance footer after each figure and table, in ``folder``; None if none."""
    mine = [r for r in records if r.page == page]
    if not mine:
        return None
    out = Path(folder) / page.replace("/", "__")
    out.write_text(json.dumps(provenance.annotate_notebook(read_notebook(root / page), mine)), encoding="utf-8")
    return out


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
                new = page_href(page.entry.html_path, chapters[out_path], anchor)
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


def render(root: str | os.PathLike | None = None) -> Path:
    """Render the book with Quarto when it is on PATH, else with :func:`render_fallback`; return the output dir.

    Quarto only warns on unresolved cross-references and missing citations, so its log and HTML are checked and any
    ``WARNING``, ``?@`` or ``quarto-unresolved-ref`` is an error.
    """
    root = Path(root or paths.ROOT).resolve()
    quarto = shutil.which("quarto")
    if not quarto:
        return render_fallback(root)
    book = load_book(root)
    records, provenance_json = prepare_book(book)
    provenance.annotate_in_place(book, records)  # Quarto renders the executed notebooks themselves
    proc = subprocess.run([quarto, "render"], cwd=root, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or "WARNING" in log:
        raise RuntimeError(f"quarto render failed or warned (exit {proc.returncode}):\n{log}")
    out_dir = root / book.output_dir
    for page in sorted(out_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        if "?@" in text or "quarto-unresolved-ref" in text:
            raise RuntimeError(f"{page.relative_to(root)}: unresolved cross-reference in the rendered HTML")
    if provenance_json is not None:
        write_text(out_dir / PROVENANCE_JSON, provenance_json)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m beyond_averages.book render|check``: 0 when the book rendered or has no problem, 1 when the check
    found problems (one per line), 2 on an input error (one line; the traceback only with ``--debug``)."""
    parser = argparse.ArgumentParser(prog="python -m beyond_averages.book", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["render", "check"])
    parser.add_argument("--root", type=Path, default=paths.ROOT, help="repository root holding _quarto.yml")
    parser.add_argument("--if-executed", action="store_true",
                        help="check: skip notebook-output checks for executed notebooks not yet made")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an input error")
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            out = render(args.root)
            print(f"book written to {out}")
            return 0
        problems = check_book(args.root, require_executed=not args.if_executed)
    except InputError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in the book" if problems else "book structure OK")
    return 1 if problems else 0
