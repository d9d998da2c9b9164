"""The book's title page from ``study.yaml``'s ``thesis:`` block, written into ``_quarto.yml``'s ``book:`` metadata.

Quarto reads ``_quarto.yml`` (and, in its source, files named under ``metadata-files:``), while the fallback renderer
reads ``_quarto.yml`` alone; so the title, subtitle, author and date lines of ``book:`` are rewritten in place, and
``_quarto.yml`` stays the one place for chapter order. Only those four lines change: comments, key order and the
chapter list are kept byte for byte. Quarto's ``book:`` schema is closed (no ``institution`` key), so the
institution is part of the author line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from beyond_averages import config, paths
from beyond_averages.files import InputError, write_text

KEYS = ("title", "subtitle", "author", "date")
_BOOK = re.compile(r"^book:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.MULTILINE)


def book_metadata(thesis: config.Thesis) -> dict[str, str]:
    """The ``book:`` values of a thesis: the data cut is the book's date (ISO, so Quarto formats it)."""
    meta = {"title": thesis.title, "subtitle": thesis.subtitle or "",
            "author": f"{thesis.author}, {thesis.institution}", "date": thesis.data_cut.isoformat()}
    return {k: v for k, v in meta.items() if v}


def with_book_metadata(quarto_text: str, thesis: config.Thesis, where: str = "_quarto.yml") -> str:
    """``quarto_text`` with its ``book:`` title/subtitle/author/date lines set from ``thesis`` (added after
    ``book:`` when absent, removed when the thesis has no subtitle)."""
    match = _BOOK.search(quarto_text)
    if not match:
        raise InputError(f"{where}: no top-level 'book:' block to write the title page into")
    body = match.group(1)
    indent = re.match(r"[ \t]+", body).group(0) if body.strip() else "  "
    meta = book_metadata(thesis)
    keep = [line for line in body.splitlines(keepends=True)
            if not re.match(rf"{re.escape(indent)}({'|'.join(KEYS)}):", line)]
    # JSON strings are valid YAML double-quoted scalars: quotes and colons in a title stay safe.
    lines = [f"{indent}{k}: {json.dumps(meta[k], ensure_ascii=False)}\n" for k in KEYS if k in meta]
    return quarto_text[:match.start(1)] + "".join(lines) + "".join(keep) + quarto_text[match.end(1):]


def write_book_metadata(root: str | Path | None = None) -> bool:
    """Rewrite ``<root>/_quarto.yml``'s title page from ``<root>/study.yaml``; True when the file changed (it is
    written only then, so ``make`` sees no change when nothing changed)."""
    root = Path(root) if root else paths.ROOT
    study = config.load_study(root / "study.yaml")
    if study.thesis is None:
        raise InputError(f"{root / 'study.yaml'}: key 'thesis': required to write the book's title page")
    quarto = root / "_quarto.yml"
    old = quarto.read_text(encoding="utf-8")
    new = with_book_metadata(old, study.thesis, str(quarto))
    if new != old:
        write_text(quarto, new)
    return new != old
