"""Pandoc and its JSON AST: running the ``pypandoc-binary`` pandoc, walking and reading ASTs, building inlines.

Also :func:`front_matter`, which splits the YAML metadata block off a Pandoc markdown document (a prose chapter or
a notebook's front-matter cell).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from beyond_averages.files import InputError


def pandoc(args: list[str], text: str, *, where: str, cwd: Path | None = None) -> str:
    """Run the pandoc of the ``pypandoc-binary`` wheel; any ``[WARNING]`` is an error naming ``where``."""
    import pypandoc

    proc = subprocess.run([pypandoc.get_pandoc_path(), *args], input=text, capture_output=True, text=True,
                          encoding="utf-8", cwd=cwd)
    if proc.returncode != 0 or "[WARNING]" in proc.stderr:
        raise InputError(f"{where}: pandoc reported: {proc.stderr.strip()}")
    return proc.stdout


def markdown_ast(text: str, where: str) -> dict:
    # Heading ids are added by the renderer, so every id in the AST is one an author wrote (a label or an anchor).
    return json.loads(pandoc(["-f", "markdown-auto_identifiers", "-t", "json"], text, where=where))


def walk(node: Any, fn) -> Any:
    """Bottom-up rewrite of a pandoc JSON AST: ``fn(element)`` returns None (keep), an element or a list (splice)."""
    if isinstance(node, list):
        out = []
        for item in node:
            item = walk(item, fn)
            result = fn(item) if isinstance(item, dict) and "t" in item else None
            if result is None:
                out.append(item)
            elif isinstance(result, list):
                out.extend(result)
            else:
                out.append(result)
        return out
    if isinstance(node, dict):
        return {k: walk(v, fn) for k, v in node.items()}
    return node


def elements(node: Any) -> Iterator[dict]:
    """Every element of an AST in document order (pre-order)."""
    if isinstance(node, list):
        for item in node:
            yield from elements(item)
    elif isinstance(node, dict):
        if "t" in node:
            yield node
        for value in node.values():
            yield from elements(value)


def stringify(node: Any) -> str:
    """The plain text of an AST node (spaces and line breaks as single spaces)."""
    parts: list[str] = []
    for el in elements(node):
        if el["t"] == "Str":
            parts.append(el["c"])
        elif el["t"] in ("Space", "SoftBreak", "LineBreak"):
            parts.append(" ")
        elif el["t"] in ("Code", "Math"):
            parts.append(el["c"][1])
    return "".join(parts)


# How to find the (id, classes, key-values) attribute of each element type that can carry a label.
ATTR_OF = {"Header": lambda c: c[1], "Div": lambda c: c[0], "Span": lambda c: c[0], "Figure": lambda c: c[0],
           "Table": lambda c: c[0], "CodeBlock": lambda c: c[0], "Image": lambda c: c[0], "Code": lambda c: c[0]}


def front_matter(text: str) -> tuple[dict, str, str | None]:
    """Split YAML front matter off a document: (metadata, body, YAML error or None)."""
    match = re.match(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", text, re.S)
    if not match:
        return {}, text, None
    try:
        meta = yaml.safe_load(match.group(1) or "") or {}
    except yaml.YAMLError as exc:
        return {}, text[match.end():], str(exc).replace("\n", " ")
    return (meta if isinstance(meta, dict) else {}), text[match.end():], None


def str_inline(text: str) -> dict:
    """A pandoc ``Str`` inline (text without spaces, or text whose spaces need not break)."""
    return {"t": "Str", "c": text}


SPACE = {"t": "Space"}


def word_inlines(text: str) -> list[dict]:
    """``text`` as ``Str`` inlines separated by ``Space``, as pandoc parses a run of words."""
    out: list[dict] = []
    for i, word in enumerate(text.split(" ")):
        out += ([SPACE] if i else []) + [str_inline(word)]
    return out
