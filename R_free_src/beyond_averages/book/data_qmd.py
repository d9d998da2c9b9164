"""Quarto's ``data-qmd`` attributes in HTML table outputs: their markdown replaces the element's content.

A pandas Styler or gt table can carry markdown (``[@key]``, ``@tbl-x``) in ``<span data-qmd="…">``; Quarto parses it,
so the fallback renderer does too, and the citations and cross-references inside a table resolve like any others.
"""

from __future__ import annotations

import base64
import html
import re

from beyond_averages.book.pandoc import markdown_ast, stringify, walk, word_inlines
from beyond_averages.files import InputError

QMD_OPEN = re.compile(r"""<(span|div)\b([^>]*?)\s+data-qmd(-base64)?\s*=\s*(?:"([^"]*)"|'([^']*)')([^>]*)>""", re.I)


def qmd_pieces(raw: str, where: str) -> list[tuple[str, str]]:
    """Split raw HTML at ``<span data-qmd="…">`` (and ``data-qmd-base64``, ``div``) elements.

    Returns ``("html", text)`` and ``("md", markdown)`` pieces in order. As in Quarto's HTML-table processing, the
    attribute's markdown replaces the element's content (the fallback text a Styler or gt writes inside it); the
    element's tags stay, without the attribute. Nested elements of the same name are matched by depth.
    """
    pieces: list[tuple[str, str]] = []
    pos = 0
    for match in QMD_OPEN.finditer(raw):
        if match.start() < pos:  # inside an element already replaced
            continue
        tag = match.group(1)
        value = html.unescape(match.group(4) if match.group(4) is not None else match.group(5))
        if match.group(3):
            try:
                value = base64.b64decode(value).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise InputError(f"{where}: data-qmd-base64 value {value[:40]!r} is not base64-encoded UTF-8") from None
        depth, end = 1, None
        for close in re.finditer(rf"<(/?){tag}\b[^>]*>", raw[match.end():], re.I):
            depth += -1 if close.group(1) else 1
            if depth == 0:
                end = (match.end() + close.start(), match.end() + close.end())
                break
        if end is None:
            raise InputError(f"{where}: <{tag} data-qmd…> element is never closed in an HTML output")
        pieces += [("html", raw[pos:match.start()] + f"<{tag}{match.group(2)}{match.group(6)}>"), ("md", value),
                   ("html", raw[end[0]:end[1]])]
        pos = end[1]
    pieces.append(("html", raw[pos:]))
    return [p for p in pieces if p[1] or p[0] == "md"]


def expand_data_qmd(ast: dict, where: str) -> dict:
    """Render the markdown of ``data-qmd`` attributes in raw HTML blocks (table outputs) as pandoc inlines.

    A raw HTML block holding such elements becomes a ``Plain`` of raw HTML pieces and the parsed inlines, so
    citations (``[@key]``) and cross-references inside a table are resolved like any others. All values of a page are
    parsed in one pandoc call.
    """
    blocks_with_qmd: list[list[tuple[str, str]]] = []

    def collect(el: dict):
        if el["t"] == "RawBlock" and el["c"][0] == "html" and "data-qmd" in el["c"][1]:
            pieces = qmd_pieces(el["c"][1], where)
            if any(kind == "md" for kind, _ in pieces):
                blocks_with_qmd.append(pieces)
        return None

    walk(ast["blocks"], collect)
    if not blocks_with_qmd:
        return ast
    sources = [text for pieces in blocks_with_qmd for kind, text in pieces if kind == "md"]
    doc = "\n\n".join(f"::: {{#qmd-value-{i}}}\n{text}\n:::" for i, text in enumerate(sources))
    parsed = {el["c"][0][0]: el["c"][1] for el in markdown_ast(doc, where)["blocks"] if el["t"] == "Div"}
    values = iter(range(len(sources)))

    def inlines(blocks: list[dict]) -> list[dict]:
        out: list[dict] = []
        for i, block in enumerate(blocks):
            out += ([{"t": "LineBreak"}] if i else []) + (
                block["c"] if block["t"] in ("Para", "Plain") else word_inlines(stringify(block)))
        return out

    def replace(el: dict):
        if el["t"] != "RawBlock" or el["c"][0] != "html" or "data-qmd" not in el["c"][1]:
            return None
        pieces = qmd_pieces(el["c"][1], where)
        if not any(kind == "md" for kind, _ in pieces):
            return None
        content: list[dict] = []
        for kind, text in pieces:
            content += [{"t": "RawInline", "c": ["html", text]}] if kind == "html" else inlines(
                parsed.get(f"qmd-value-{next(values)}", []))
        return {"t": "Plain", "c": content}

    ast["blocks"] = walk(ast["blocks"], replace)
    return ast
