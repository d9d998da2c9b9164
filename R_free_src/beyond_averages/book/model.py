"""The book's structure: ``_quarto.yml`` read into a frozen :class:`Book` of parts, chapters and appendices.

``load_book`` keeps paths as written (project-relative, posix); ``Book.entries()`` lists the pages in Quarto's render
order, each an :class:`Entry` that knows its HTML path, and ``page_href`` links one page to another.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from beyond_averages.files import InputError, read_yaml_mapping

Role = Literal["chapter", "part", "references", "appendix"]
CHAPTER_SUFFIXES = (".qmd", ".md", ".ipynb")


@dataclass(frozen=True)
class Entry:
    """One page of the book, in render order. ``path`` is posix and relative to the root."""

    path: str
    role: Role
    part: str | None = None  # the navigation group (part title or "Appendices") the page sits under

    @property
    def html_path(self) -> str:
        return posixpath.splitext(self.path)[0] + ".html"


@dataclass(frozen=True)
class Part:
    title: str
    file: str | None  # a part given as a .qmd file is a page of its own
    chapters: tuple[str, ...]


@dataclass(frozen=True)
class Book:
    root: Path
    title: str
    subtitle: str | None
    author: tuple[str, ...]
    date: str | None
    chapters: tuple[str | Part, ...]
    appendices: tuple[str, ...]
    references: str | None
    bibliography: tuple[str, ...]
    csl: str | None
    output_dir: str
    lang: str
    number_depth: int
    execute: Mapping[str, Any] = field(compare=False, repr=False)
    config: Mapping[str, Any] = field(compare=False, repr=False)

    def entries(self) -> tuple[Entry, ...]:
        """Pages in Quarto's render order: chapters (with part files), the references file, then appendices."""
        out: list[Entry] = []
        for item in self.chapters:
            if isinstance(item, Part):
                if item.file:
                    out.append(Entry(item.file, "part", item.title))
                out.extend(Entry(p, "chapter", item.title) for p in item.chapters)
            else:
                out.append(Entry(item, "references" if item == self.references else "chapter"))
        if self.references and all(e.path != self.references for e in out):
            out.append(Entry(self.references, "references"))
        out.extend(Entry(p, "appendix", "Appendices") for p in self.appendices)
        return tuple(out)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"_quarto.yml: {where} must be a path or a list of paths, got {value!r}")


def _authors(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value] if value else []
    return tuple(str(a["name"] if isinstance(a, dict) and "name" in a else a) for a in items)


def _chapter_items(items: Any, where: str) -> tuple[str | Part, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InputError(f"_quarto.yml: {where} must be a list, got {items!r}")
    out: list[str | Part] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and "part" in item:
            nested = _chapter_items(item.get("chapters", []), f"{where} part {item['part']!r} chapters")
            if any(isinstance(c, Part) for c in nested):
                raise InputError(f"_quarto.yml: part {item['part']!r} nests another part; parts hold chapters only")
            part = str(item["part"])
            out.append(Part(part, part if part.endswith((".qmd", ".md")) else None, tuple(nested)))  # type: ignore[arg-type]
        else:
            raise InputError(f"_quarto.yml: {where} item {item!r} is neither a path nor {{part:, chapters:}}")
    return tuple(out)


def read_config(root: str | os.PathLike) -> dict[str, Any]:
    """``_quarto.yml`` as a dict; InputError if it is missing, is not YAML or is not a mapping."""
    return read_yaml_mapping(Path(root) / "_quarto.yml", InputError,
                             " (the book's chapter list lives in _quarto.yml at the repository root)")


def load_book(root: str | os.PathLike) -> Book:
    """Parse ``<root>/_quarto.yml`` into a :class:`Book`; paths stay as written (project-relative, posix)."""
    root = Path(root).resolve()
    config = read_config(root)
    book = config.get("book") or {}
    if not isinstance(book, dict):
        raise InputError("_quarto.yml: book: must be a mapping")
    html_format = ((config.get("format") or {}).get("html") or {}) if isinstance(config.get("format"), dict) else {}
    csl = config.get("csl")
    references = book.get("references")
    return Book(
        root=root,
        title=str(book.get("title", "")),
        subtitle=None if book.get("subtitle") is None else str(book.get("subtitle")),
        author=_authors(book.get("author")),
        date=None if book.get("date") is None else str(book.get("date")),
        chapters=_chapter_items(book.get("chapters"), "book.chapters"),
        appendices=tuple(c for c in _chapter_items(book.get("appendices"), "book.appendices") if isinstance(c, str)),
        references=str(references) if references else None,
        bibliography=_strings(config.get("bibliography"), "bibliography"),
        csl=str(csl) if csl else None,
        output_dir=str((config.get("project") or {}).get("output-dir", "_book")).strip("/"),
        lang=str(config.get("lang", "en")),
        number_depth=int(config.get("number-depth", html_format.get("number-depth", 6))),
        execute=dict(config.get("execute") or {}),
        config=config,
    )


def page_href(from_page: str, to_page: str, anchor: str = "") -> str:
    if from_page == to_page:
        return f"#{anchor}" if anchor else posixpath.basename(to_page)
    rel = posixpath.relpath(to_page, posixpath.dirname(from_page) or ".")
    return f"{rel}#{anchor}" if anchor else rel
