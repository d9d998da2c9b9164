"""Quarto shortcodes in a chapter's markdown: ``{{< embed nb.ipynb#id >}}`` becomes that cell's outputs.

``pagebreak`` becomes nothing (HTML has no pages); any other shortcode stops the fallback render.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beyond_averages.book.notebook import find_cell, notebook_markdown, read_notebook
from beyond_averages.files import InputError

SHORTCODE = re.compile(r"\{\{<\s*(\w+)\s*([^>]*?)\s*>\}\}")


def expand_shortcodes(text: str, *, root: Path, page_path: str, defaults: Mapping[str, Any],
                      assets: dict[str, bytes], embeds: list[tuple[str, str]]) -> str:
    """Replace ``{{< embed nb.ipynb#id >}}`` by that cell's outputs; ``pagebreak`` by nothing; others are errors."""

    def replace(match: re.Match) -> str:
        name, args = match.group(1), match.group(2).split()
        if name == "pagebreak":
            return ""
        if name != "embed" or not args:
            raise InputError(f"{page_path}: shortcode {match.group(0)!r} is not supported by the fallback renderer")
        target, _, ident = args[0].partition("#")
        embeds.append((target, ident))
        nb_path = embed_path(root, page_path, target)
        if not nb_path.exists() or nb_path.suffix != ".ipynb":
            raise InputError(f"{page_path}: embed {args[0]!r}: notebook {target} not found")
        nb = read_notebook(nb_path)
        cells = [find_cell(nb, ident)] if ident else [
            i for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"]
        if None in cells:
            raise InputError(f"{page_path}: embed {args[0]!r}: the cell {ident} does not exist in notebook {target}")
        parts = []
        for i in cells:
            text, cell_assets = notebook_markdown(nb, defaults={**defaults, "echo": False}, page_path=page_path, only=i)
            parts.append(text)
            assets.update(cell_assets)
        return "\n\n" + "\n\n".join(parts) + "\n\n"

    return SHORTCODE.sub(replace, text)


def embed_path(root: Path, page_path: str, target: str) -> Path:
    """Embed paths are relative to the embedding file; a leading '/' makes them project-relative (Quarto)."""
    if target.startswith("/"):
        return root / target.lstrip("/")
    return root / posixpath.dirname(page_path) / target
