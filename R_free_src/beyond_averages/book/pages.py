"""One chapter read into a :class:`Page`: its pandoc AST, image files, front matter and embeds.

Prose ``.qmd`` loses its YAML front matter; an executed notebook becomes Pandoc markdown
(:mod:`beyond_averages.book.notebook`); ``{{< embed >}}`` shortcodes are expanded and the markdown of ``data-qmd``
attributes in HTML tables parsed, as Quarto does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beyond_averages.book.data_qmd import expand_data_qmd
from beyond_averages.book.model import Entry
from beyond_averages.book.notebook import notebook_front_matter, notebook_markdown, read_notebook
from beyond_averages.book.pandoc import front_matter, markdown_ast
from beyond_averages.book.shortcodes import expand_shortcodes
from beyond_averages.files import InputError


@dataclass
class Page:
    entry: Entry
    file: Path                     # the file actually read (the chapter, or a missing notebook's stand-in)
    ast: dict
    assets: dict[str, bytes]       # root-relative output path -> bytes
    meta: dict                     # front matter
    embeds: list[tuple[str, str]]  # (path as written, id) of every {{< embed >}}


def read_page(root: Path, entry: Entry, *, execute: Mapping[str, Any], stand_in: Path | None = None) -> Page:
    """Read one chapter into a :class:`Page`; ``stand_in`` is read instead of a missing executed notebook."""
    path = stand_in or root / entry.path
    if not path.exists():
        raise InputError(f"Book chapter '{entry.path}' not found")
    defaults = {k: v for k, v in execute.items() if k in ("echo", "warning", "output", "include")}
    assets: dict[str, bytes] = {}
    embeds: list[tuple[str, str]] = []
    if path.suffix == ".ipynb":
        nb = read_notebook(path)
        meta = notebook_front_matter(nb)[0]
        text, assets = notebook_markdown(nb, defaults=defaults, page_path=entry.path)
    else:
        meta, text, error = front_matter(path.read_text(encoding="utf-8"))
        if error:
            raise InputError(f"{entry.path}: front matter is not valid YAML: {error}")
    text = expand_shortcodes(text, root=root, page_path=entry.path, defaults=defaults, assets=assets, embeds=embeds)
    return Page(entry, path, expand_data_qmd(markdown_ast(text, entry.path), entry.path), assets, meta, embeds)
