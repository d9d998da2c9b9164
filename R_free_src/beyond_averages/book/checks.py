"""Structural checks of the thesis book that need no Quarto (QUARTO.md §9, checks 1–14).

``check_book(root)`` returns a list of problems, each naming the file (and the cell, label or key) at fault; an empty
list means the book is sound. Quarto itself only *warns* about most of these (an unresolved ``@fig-x`` prints
``?@fig-x`` and exits 0) or says nothing (duplicate labels), so these checks are what keeps the book honest.

Executed notebooks (``reports/executed/*.ipynb``) exist only after ``make``. With ``require_executed=False`` a
missing executed notebook is read from its committed source (``notebooks/<stem>.ipynb``, or the longest
``notebooks/`` stem its name starts with, e.g. ``its`` for ``its_hypertension``) for labels, cross-references
and citations, and the checks of stored outputs are skipped for it.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections import Counter
from pathlib import Path

from beyond_averages.book.citations import bibliography_keys
from beyond_averages.book.crossrefs import LABEL_PATTERN, crossref_type, scan
from beyond_averages.book.model import CHAPTER_SUFFIXES, Book, Entry, Part, load_book, read_config
from beyond_averages.book.notebook import (
    cell_options, cell_source, find_cell, notebook_front_matter, output_mime, read_notebook,
)
from beyond_averages.book.pages import Page, read_page
from beyond_averages.book.pandoc import elements, front_matter
from beyond_averages.book.shortcodes import embed_path
from beyond_averages.files import InputError

BOOK_KEYS = frozenset("""
title subtitle author date date-format abstract description chapters appendices references output-file cover-image
cover-image-alt sharing downloads tools doi site-url site-path repo-url repo-subdir repo-branch repo-actions repo-link-target
repo-link-rel issue-url reader-mode google-analytics cookie-consent favicon twitter-card open-graph comments
other-links code-links navbar sidebar page-navigation back-to-top-navigation bread-crumbs page-footer search image
image-alt announcement draft-mode drafts keyboard-shortcut body-header body-footer margin-header margin-footer
license copyright
""".split())
GITIGNORE_LINES = ("/.quarto/", "**/*.quarto_ipynb", "reports/executed/")
EXECUTABLE_CELL = re.compile(r"^\s*(`{3,}|~{3,})\s*\{[A-Za-z]", re.M)
MOVING_DATES = ("today", "now", "last-modified")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


def check_book(root: str | os.PathLike, *, require_executed: bool = True, check_output: bool = True) -> list[str]:
    """Every structural problem of the book at ``root``; ``[]`` when there is none.

    ``require_executed=False`` tolerates executed notebooks not yet made (see the module docstring).
    ``check_output`` also scans the rendered HTML in the output folder, when it exists, for ``?@``, ``{{<`` and
    ``quarto-unresolved-ref``.
    """
    root = Path(root).resolve()
    try:
        config = read_config(root)
        book = load_book(root)
    except InputError as exc:
        return [str(exc)]
    problems = check_config(config, book)
    entries = book.entries()
    problems += check_paths(book, entries, require_executed)
    pages, executed, complete = read_pages(book, entries, require_executed, problems)
    for path, nb in executed.items():
        problems += check_notebook(path, nb, executed=True)
    problems += check_committed_notebooks(book, entries)
    problems += check_labels(pages)
    problems += check_crossrefs(pages, complete)
    problems += check_embeds(book, pages, entries)
    problems += check_citations(book, pages)
    problems += check_prose(book, entries)
    problems += check_gitignore(book)
    if check_output:
        problems += check_rendered(book)
    return problems


# ---------------------------------------------------------------------------------------------- checks 1 to 5
def check_config(config: dict, book: Book) -> list[str]:
    """Checks 1 and 2: a book project with a dedicated output folder, known keys, and execution switched off."""
    problems = []
    project = config.get("project") or {}
    if project.get("type") != "book":
        problems.append(f"_quarto.yml: project.type is {project.get('type')!r}, expected 'book'")
    if not project.get("output-dir"):
        problems.append("_quarto.yml: project.output-dir is not set (use reports/_book; Quarto wipes it on render)")
    elif book.output_dir in ("", ".") or not (book.root / book.output_dir).resolve().is_relative_to(book.root):
        problems.append(f"_quarto.yml: output-dir {book.output_dir!r} must be a dedicated folder inside the repo")
    else:
        out = book.root / book.output_dir
        sources = [p for p in (out.rglob("*") if out.exists() else [])
                   if p.suffix in (".qmd", ".ipynb", ".bib", ".py", ".yml", ".yaml", ".csl")]
        if sources:
            problems.append(f"{book.output_dir}: output folder holds source file(s) "
                            f"{', '.join(sorted(str(p.relative_to(book.root)) for p in sources)[:3])}; "
                            "Quarto deletes this folder on every render")
    for key in sorted(set(config.get("book") or {}) - BOOK_KEYS):
        problems.append(f"_quarto.yml: book.{key} is not a Quarto book key (the render would stop)")
    if (config.get("execute") or {}).get("enabled") is not False:
        problems.append("_quarto.yml: execute.enabled must be false (papermill executes; Quarto renders stored outputs)")
    return problems


def check_paths(book: Book, entries: tuple[Entry, ...], require_executed: bool) -> list[str]:
    """Checks 3 to 5: a home page at the root, chapter paths that Quarto renders, no duplicates or stem clashes."""
    problems = []
    index = [e for e in entries if "/" not in e.path and e.path.startswith("index.")]
    if not index:
        problems.append("_quarto.yml: book.chapters does not list index.qmd (Quarto: 'Book contents must include "
                        "a home page'); it must sit at the repository root")
    for part in (c for c in book.chapters if isinstance(c, Part) and c.file):
        if not (book.root / part.file).exists():
            problems.append(f"_quarto.yml: part file '{part.file}' not found")
    out = posixpath.normpath(book.output_dir)
    for entry in entries:
        path = entry.path
        resolved = (book.root / path).resolve()
        if not path.endswith(CHAPTER_SUFFIXES):
            problems.append(f"{path}: a chapter must be .qmd, .md or .ipynb")
        if os.path.isabs(path) or not resolved.is_relative_to(book.root):
            problems.append(f"{path}: chapter lies outside the repository")
        if any(part.startswith(("_", ".")) for part in Path(path).parts):
            problems.append(f"{path}: a path part starts with '_' or '.', so Quarto would not render it")
        if (posixpath.normpath(path) + "/").startswith(out + "/"):
            problems.append(f"{path}: chapter lies inside the output folder {out}")
        if not resolved.exists() and (require_executed or not path.endswith(".ipynb")):
            problems.append(f"Book chapter '{path}' not found")
    for path, n in Counter(e.path for e in entries).items():
        if n > 1:
            problems.append(f"{path}: listed {n} times in _quarto.yml")
    stems = Counter(posixpath.splitext(e.path)[0] for e in set(entries))
    for stem, n in stems.items():
        if n > 1:
            problems.append(f"{stem}: {n} listed files share this folder and stem; they would render to one page")
    return problems


# ------------------------------------------------------------------------------------------- reading the pages
def stand_in(book: Book, path: str) -> Path | None:
    """The committed notebook an executed notebook was made from: same stem, else the longest stem prefix."""
    stem = Path(path).stem
    sources = sorted((book.root / "notebooks").glob("*.ipynb"))
    exact = [p for p in sources if p.stem == stem]
    prefixed = sorted((p for p in sources if stem.startswith(p.stem + "_")), key=lambda p: -len(p.stem))
    return (exact or prefixed or [None])[0]


def read_pages(book: Book, entries, require_executed: bool, problems: list[str]):
    """Pages that could be read, the executed notebooks among them, and whether every chapter was read."""
    pages: list[Page] = []
    executed: dict[str, dict] = {}
    complete = True
    for entry in entries:
        path = book.root / entry.path
        committed = None
        if not path.exists():
            committed = stand_in(book, entry.path) if entry.path.endswith(".ipynb") and not require_executed else None
            if committed is None:
                complete = False
                continue
        try:
            page = read_page(book.root, entry, execute=book.execute, stand_in=committed)
        except InputError as exc:
            problems.append(str(exc))
            complete = False
            continue
        pages.append(page)
        if committed is None and path.suffix == ".ipynb":
            executed[entry.path] = read_notebook(path)
    return pages, executed, complete


# ------------------------------------------------------------------------------------------- checks 2, 6 and 7
def check_notebook(path: str, nb: dict, *, executed: bool) -> list[str]:
    """Checks 2, 6, 7 for one notebook: format, language, front matter, cell options, outputs, parameters cell."""
    problems = []
    if nb.get("nbformat") != 4:
        problems.append(f"{path}: nbformat is {nb.get('nbformat')!r}, expected 4")
    meta = nb.get("metadata", {})
    kernel = meta.get("kernelspec") or {}
    if not (kernel.get("language") or (meta.get("language_info") or {}).get("name")
            or "python" in str(kernel.get("name", ""))):
        problems.append(f"{path}: no language set (kernelspec.language or language_info.name); "
                        "Quarto stops with 'No language set for Jupyter notebook'")
    fm, _, error = notebook_front_matter(nb)
    if error:
        problems.append(f"{path}: front matter is not valid YAML: {error}")
    if (fm.get("execute") or {}).get("enabled") is True:
        problems.append(f"{path}: front matter sets execute.enabled: true; Quarto would re-run the notebook")
    n_parameters = 0
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        n_parameters += "parameters" in tags
        options, stray, error = cell_options(cell_source(cell))
        label = str(options.get("label", ""))
        where = f"{path} cell {i}" + (f" ({label})" if label else "")
        if error:
            problems.append(f"{where}: '#|' options are not valid YAML: {error}")
        if stray:
            problems.append(f"{where}: '#|' line(s) {stray} do not open the cell, so Quarto ignores them")
        if label and not LABEL_PATTERN.match(label):
            problems.append(f"{where}: label '{label}' does not match {LABEL_PATTERN.pattern}")
        kind = crossref_type(label) if label else None
        if kind == "fig" and not options.get("fig-cap"):
            problems.append(f"{where}: fig- cell has no fig-cap")
        if kind == "tbl" and not options.get("tbl-cap"):
            problems.append(f"{where}: tbl- cell has no tbl-cap")
        outputs = cell.get("outputs", [])
        if not executed:
            if outputs or cell.get("execution_count") is not None:
                problems.append(f"{where}: committed notebook has stored outputs or execution counts; strip them")
            continue
        if kind in ("fig", "tbl") and not outputs:
            problems.append(f"{where}: {kind}- cell has no outputs (was the notebook executed?)")
            continue
        images = sum(1 for o in outputs if any(m in o.get("data", {}) for m in IMAGE_MIMES))
        if kind == "fig" and images != 1 and not options.get("fig-subcap"):
            problems.append(f"{where}: fig- cell has {images} image outputs, expected exactly one "
                            "(or set fig-subcap); Quarto would relabel them fig-…-1, fig-…-2")
        if kind == "tbl" and not any(output_mime(o) in ("text/html", "text/markdown") for o in outputs):
            problems.append(f"{where}: tbl- cell has no text/html or text/markdown output")
    if n_parameters != 1:
        problems.append(f"{path}: {n_parameters} cells tagged 'parameters', expected exactly one")
    return problems


def check_committed_notebooks(book: Book, entries) -> list[str]:
    """Check 6 and 7 for ``notebooks/*.ipynb``: output-free, one parameters cell, never listed as chapters."""
    problems = []
    listed = {e.path for e in entries}
    for path in sorted((book.root / "notebooks").glob("*.ipynb")):
        rel = path.relative_to(book.root).as_posix()
        if rel in listed:
            problems.append(f"{rel}: committed notebooks are not chapters; list reports/executed/{path.name}")
        try:
            problems += check_notebook(rel, read_notebook(path), executed=False)
        except InputError as exc:
            problems.append(f"{rel}: {exc}")
    return problems


# ------------------------------------------------------------------------------------------- checks 8 to 11
def check_labels(pages: list[Page]) -> list[str]:
    """Check 8: labels match the safe pattern and are unique across the book; figures and tables have captions."""
    problems, seen = [], {}
    for page in pages:
        for label in scan(page.ast).labels:
            if not LABEL_PATTERN.match(label):
                problems.append(f"{page.entry.path}: label '{label}' does not match {LABEL_PATTERN.pattern}")
            if label in seen:
                problems.append(f"{page.entry.path}: label '{label}' is already defined in {seen[label]} "
                                "(labels must be unique across the book)")
            seen.setdefault(label, page.entry.path)
        if page.entry.path.endswith(".ipynb"):
            continue  # notebook captions are checked cell by cell
        for el in elements(page.ast["blocks"]):
            if el["t"] in ("Figure", "Table") and crossref_type(el["c"][0][0]) in ("fig", "tbl") \
                    and not el["c"][1][1]:
                problems.append(f"{page.entry.path}: {el['c'][0][0]} has no caption")
    return problems


def check_crossrefs(pages: list[Page], complete: bool) -> list[str]:
    """Check 9: every @fig-/@tbl-/@sec- reference matches a label; no numbered labels in unnumbered chapters.

    With chapters unreadable (``complete`` false), unresolved references are not reported: their labels may sit in
    the missing chapters, and the missing chapters are reported already.
    """
    problems = []
    labels = {label for page in pages for label in scan(page.ast).labels}
    for page in pages:
        found = scan(page.ast)
        if complete:
            for ref in dict.fromkeys(found.crossrefs):
                if ref[0].lower() + ref[1:] not in labels:
                    problems.append(f"{page.entry.path}: cross-reference @{ref} matches no label in the book "
                                    "(Quarto would print ?@" + ref + ")")
        if len(found.h1s) != 1:
            problems.append(f"{page.entry.path}: {len(found.h1s)} level-1 headings, expected exactly one "
                            "(the chapter title)")
        if found.h1s and found.h1s[0][1]:
            for label in found.labels:
                if crossref_type(label) != "sec":
                    problems.append(f"{page.entry.path}: label '{label}' sits in an unnumbered chapter, "
                                    "so Quarto cannot number it")
    return problems


def check_embeds(book: Book, pages: list[Page], entries) -> list[str]:
    """Check 10: each embedded cell exists, has outputs, and comes from a notebook that is not a chapter."""
    problems, listed = [], {e.path for e in entries}
    for page in pages:
        for target, ident in page.embeds:
            nb_path = embed_path(book.root, page.entry.path, target)
            resolved = nb_path.resolve()
            rel = resolved.relative_to(book.root).as_posix() if resolved.is_relative_to(book.root) else target
            if rel in listed:
                problems.append(f"{page.entry.path}: embeds {target}, which is also a chapter; "
                                "its labels would be defined twice")
            nb = read_notebook(nb_path)
            index = find_cell(nb, ident) if ident else None
            if index is not None and not nb["cells"][index].get("outputs"):
                problems.append(f"{page.entry.path}: embedded cell {target}#{ident} has no outputs "
                                "(execute the notebook first)")
    return problems


def check_citations(book: Book, pages: list[Page]) -> list[str]:
    """Check 11: every cited key is in the bibliography; exactly one ``::: {#refs}`` in the book."""
    try:
        keys = bibliography_keys(book.root, book.bibliography)
    except InputError as exc:
        return [str(exc)]
    problems = [f"{book.bibliography[0]}: key '{k}' starts with a cross-reference prefix; Quarto would read "
                f"@{k} as a cross-reference" for k in sorted(keys) if crossref_type(k)]
    for page in pages:
        for key in dict.fromkeys(scan(page.ast).citations):
            if key not in keys:
                problems.append(f"{page.entry.path}: citation @{key} is not in "
                                f"{', '.join(book.bibliography) or 'any bibliography (none set)'}")
    refs = [page.entry.path for page in pages for _ in range(scan(page.ast).refs_divs)]
    if len(refs) != 1:
        problems.append(f"_quarto.yml: {len(refs)} '::: {{#refs}}' divs in the listed chapters "
                        f"({', '.join(refs) or 'none'}), expected exactly one (in reports/references.qmd)")
    return problems


# ------------------------------------------------------------------------------------------ checks 12 to 14
def check_prose(book: Book, entries) -> list[str]:
    """Check 12: prose chapters execute nothing and carry no moving date."""
    problems = []
    if str(book.date).strip().lower() in MOVING_DATES:
        problems.append(f"_quarto.yml: book.date is '{book.date}'; use a fixed date so the HTML is byte-stable")
    for entry in entries:
        path = book.root / entry.path
        if path.suffix not in (".qmd", ".md") or not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for match in EXECUTABLE_CELL.finditer(text):
            line = text[:match.start()].count("\n") + 1
            problems.append(f"{entry.path} line {line}: executable code cell in a prose chapter; "
                            "results reach prose as @fig-/@tbl- references or {{< embed >}}")
        meta, _, _ = front_matter(text)
        if str(meta.get("date", "")).strip().lower() in MOVING_DATES:
            problems.append(f"{entry.path}: front matter date: {meta['date']} changes the HTML on every render")
    return problems


def check_gitignore(book: Book) -> list[str]:
    """Check 13: Quarto's scratch, the executed notebooks and the output folder are git-ignored."""
    path = book.root / ".gitignore"
    lines = {ln.strip().strip("/") for ln in path.read_text(encoding="utf-8").splitlines()} if path.exists() else set()
    wanted = [*GITIGNORE_LINES, book.output_dir + "/"]
    return [f".gitignore: missing the line '{w}'" for w in wanted if w.strip("/") not in lines]


def check_rendered(book: Book) -> list[str]:
    """Check 14: no unresolved reference or unexpanded shortcode in the rendered HTML."""
    out = book.root / book.output_dir
    problems = []
    for page in sorted(out.rglob("*.html")) if out.exists() else []:
        text = page.read_text(encoding="utf-8", errors="replace")
        for bad in ("?@", "{{<", "quarto-unresolved-ref"):
            if bad in text:
                problems.append(f"{page.relative_to(book.root).as_posix()}: rendered HTML contains {bad!r}")
    return problems
