"""Executed notebooks as Pandoc markdown, the way a Quarto book shows them.

Code is hidden unless ``echo`` says otherwise (``_quarto.yml``'s ``execute`` defaults, the notebook's front matter,
``hide-*``/``show-*`` tags, then ``#|`` cell options), ``parameters``/``injected-parameters`` cells and (while
``warning: false``) stderr are dropped, images become files beside the page, and HTML tables and computed
``text/markdown`` sentences are kept. A labelled or captioned cell becomes a ``::: {#label .cell}`` div, so the
renderer numbers it like any prose figure or table.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from beyond_averages.book.pandoc import front_matter
from beyond_averages.files import InputError

TAG_OPTIONS = {"remove-cell": ("include", False), "hide-cell": ("include", False), "hide-code": ("echo", False),
               "hide-input": ("echo", False), "hide-output": ("output", False), "hide-warnings": ("warning", False),
               "show-code": ("echo", True), "show-output": ("output", True), "show-warnings": ("warning", True)}
SKIPPED_TAGS = {"parameters", "injected-parameters"}
MIME_ORDER = ("text/markdown", "text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif",
              "text/latex", "text/plain")
IMAGE_SUFFIX = {"image/svg+xml": ".svg", "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif"}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def cell_source(cell: Mapping) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def cell_options(source: str) -> tuple[dict, list[str], str | None]:
    """``#|`` options of a cell: (options, stray option lines after the header, YAML error or None)."""
    lines = source.splitlines()
    head = 0
    while head < len(lines) and lines[head].lstrip().startswith("#|"):
        head += 1
    stray = [ln.strip() for ln in lines[head:] if ln.lstrip().startswith("#|")]
    text = "\n".join(ln.lstrip()[2:].removeprefix(" ") for ln in lines[:head])
    try:
        options = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        return {}, stray, str(exc).replace("\n", " ")
    if not isinstance(options, dict):
        return {}, stray, f"'#|' lines are not a YAML mapping: {text!r}"
    return options, stray, None


def notebook_front_matter(nb: Mapping) -> tuple[dict, int | None, str | None]:
    """Front matter of a notebook (first raw/markdown cell opening with ``---``): (meta, cell index, error)."""
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") in ("raw", "markdown") and cell_source(cell).startswith("---"):
            meta, _, error = front_matter(cell_source(cell))
            return meta, i, error
        if cell.get("cell_type") != "raw":
            break
    return {}, None, None


def read_notebook(path: Path) -> dict:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path.name}: not a readable notebook: {exc}") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InputError(f"{path.name}: not a notebook (no 'cells' list)")
    return nb


def find_cell(nb: Mapping, ident: str) -> int | None:
    """Cell index for an embed id: the cell ``id``, then ``#| label``, then a tag (Quarto's order)."""
    cells = nb.get("cells", [])
    for test in (lambda c: c.get("id") == ident,
                 lambda c: str(cell_options(cell_source(c))[0].get("label", "")) == ident,
                 lambda c: ident in c.get("metadata", {}).get("tags", [])):
        for i, cell in enumerate(cells):
            if cell.get("cell_type") == "code" and test(cell):
                return i
    return None


def _fence(text: str, info: str) -> str:
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return f"{ticks}{info}\n{text.rstrip(chr(10))}\n{ticks}"


def _attr_value(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def output_markdown(output: Mapping, *, image: tuple[str, str] | None = None) -> str | None:
    """One stored output as Pandoc markdown. ``image`` = (path, alt) for an image output already written out."""
    kind = output.get("output_type")
    if kind == "stream":
        return _fence(ANSI.sub("", "".join(output.get("text", ""))), " {.cell-output .cell-output-stdout}")
    if kind == "error":
        return _fence(ANSI.sub("", "\n".join(output.get("traceback", []))), " {.cell-output .cell-output-error}")
    data = output.get("data", {})
    mime = next((m for m in MIME_ORDER if m in data), None)
    if mime is None:
        return None
    value = data[mime]
    value = "".join(value) if isinstance(value, list) else value
    if mime in IMAGE_SUFFIX:
        path, alt = image or ("", "")
        return f"![]({path}){{alt={_attr_value(alt)}}}"
    if mime == "text/html":
        return _fence(value, "{=html}")
    if mime == "text/plain":
        return _fence(ANSI.sub("", value), " {.cell-output .cell-output-display}")
    return value.strip("\n")  # text/markdown and text/latex are Pandoc markdown already


def output_mime(output: Mapping) -> str | None:
    if output.get("output_type") in ("stream", "error"):
        return output["output_type"]
    return next((m for m in MIME_ORDER if m in output.get("data", {})), None)


def cell_markdown(cell: Mapping, index: int, *, defaults: Mapping[str, Any], asset_dir: str,
                  page_dir: str) -> tuple[str, dict[str, bytes]]:
    """A code cell's visible part as markdown, plus image files keyed by root-relative path.

    ``defaults`` are the execute options in force (``echo``, ``warning``, ``output``, ``include``); tags then
    ``#|`` options override them. Images go to ``asset_dir`` (page-relative) and are linked relative to the page.
    """
    options, _, _ = cell_options(cell_source(cell))
    settings = {"echo": True, "warning": True, "output": True, "include": True, **defaults}
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag in TAG_OPTIONS:
            settings[TAG_OPTIONS[tag][0]] = TAG_OPTIONS[tag][1]
    settings.update({k: options[k] for k in settings if k in options})
    if not settings["include"]:
        return "", {}
    blocks: list[str] = []
    if settings["echo"]:
        code = "\n".join(ln for ln in cell_source(cell).splitlines() if not ln.lstrip().startswith("#|"))
        blocks.append(_fence(code, " {.python .cell-code}"))
    label = str(options.get("label", "")) or None
    name = label or f"cell-{index}"
    subcaps = options.get("fig-subcap") if isinstance(options.get("fig-subcap"), list) else []
    assets: dict[str, bytes] = {}
    outputs = [o for o in cell.get("outputs", []) if settings["output"]
               and not (o.get("output_type") == "stream" and o.get("name") == "stderr" and not settings["warning"])]
    n_image = 0
    for output in outputs:
        mime = output_mime(output)
        image = None
        if mime in IMAGE_SUFFIX:
            n_image += 1
            file = f"{asset_dir}/{name}-output-{n_image}{IMAGE_SUFFIX[mime]}"
            raw = output["data"][mime]
            raw = "".join(raw) if isinstance(raw, list) else raw
            assets[posixpath.normpath(posixpath.join(page_dir, file))] = (
                raw.encode("utf-8") if mime == "image/svg+xml" else base64.b64decode(raw))
            image = (file, options.get("fig-alt", options.get("fig-cap", "")))
        text = output_markdown(output, image=image)
        if text is not None and mime == "text/html":
            text = stable_styler_ids(text, name)
        if text is not None:
            if image and n_image <= len(subcaps):
                text = f"![{subcaps[n_image - 1]}]({file}){{alt={_attr_value(image[1])}}}"
            blocks.append(text)
    caption = options.get("fig-cap") if (label or "").startswith("fig-") or not label else options.get("tbl-cap")
    # `#| column: page` (Quarto's article layout) lets a wide table or figure use the width right of the text.
    column = options.get("column")
    layout = f" .column-{column}" if isinstance(column, str) and re.fullmatch(r"[a-z]+(-[a-z]+)*", column) else ""
    if label or caption or layout:
        ident = f"#{label} " if label else ""
        blocks = [f"::: {{{ident}.cell{layout}}}", *blocks, *([str(caption)] if caption else []), ":::"]
    return "\n\n".join(blocks), assets


def stable_styler_ids(text: str, name: str) -> str:
    """Replace a pandas Styler's random table uuid (``T_1a2b3``) by one named after the cell.

    A Styler draws a fresh uuid at every execution, so without this a re-executed notebook changes the page even
    when no number did.
    """
    for n, uuid in enumerate(dict.fromkeys(re.findall(r'<table id="T_([0-9a-f]+)"', text)), 1):
        text = re.sub(rf"\bT_{uuid}(?![0-9a-f])", f"T_{name}-{n}", text)
    return text


def notebook_markdown(nb: Mapping, *, defaults: Mapping[str, Any], page_path: str,
                      only: int | None = None) -> tuple[str, dict[str, bytes]]:
    """A notebook as one Pandoc markdown document (or just cell ``only``), with its image files."""
    page_dir = posixpath.dirname(page_path)
    asset_dir = posixpath.splitext(posixpath.basename(page_path))[0] + "_files/figure-html"
    meta, fm_index, _ = notebook_front_matter(nb)
    defaults = {**defaults, **{k: v for k, v in (meta.get("execute") or {}).items()
                               if k in ("echo", "warning", "output", "include")}}
    blocks, assets = [], {}
    for i, cell in enumerate(nb.get("cells", [])):
        if (only is not None and i != only) or i == fm_index:
            continue
        kind = cell.get("cell_type")
        if kind == "markdown":
            blocks.append(_attachments(cell, i, asset_dir, page_dir, assets))
        elif kind == "raw":
            fmt = cell.get("metadata", {}).get("format", cell.get("metadata", {}).get("raw_mimetype", ""))
            if fmt in ("text/html", "html"):
                blocks.append(_fence(cell_source(cell), "{=html}"))
            elif fmt in ("text/markdown", "markdown"):
                blocks.append(cell_source(cell))
        elif kind == "code" and not SKIPPED_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            text, cell_assets = cell_markdown(cell, i, defaults=defaults, asset_dir=asset_dir, page_dir=page_dir)
            blocks.append(text)
            assets.update(cell_assets)
    return "\n\n".join(b for b in blocks if b) + "\n", assets


def _attachments(cell: Mapping, index: int, asset_dir: str, page_dir: str, assets: dict[str, bytes]) -> str:
    text = cell_source(cell)
    for name, bundle in (cell.get("attachments") or {}).items():
        mime = next((m for m in IMAGE_SUFFIX if m in bundle), None)
        if mime:
            file = f"{asset_dir}/attachment-{index}-{re.sub(r'[^A-Za-z0-9._-]', '-', name)}"
            raw = bundle[mime]
            assets[posixpath.join(page_dir, file)] = (
                raw.encode("utf-8") if mime == "image/svg+xml" else base64.b64decode(raw))
            text = text.replace(f"attachment:{name}", file)
    return text
