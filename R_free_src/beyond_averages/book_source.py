"""Reading the thesis book: ``_quarto.yml`` into a :class:`Book`, and each chapter into a pandoc AST.

``load_book`` reads the book's structure (chapters, parts, references, appendices, bibliography) into a frozen
:class:`Book`. ``read_page`` turns one chapter into a pandoc AST: prose ``.qmd`` loses its YAML front matter; an
executed notebook becomes Pandoc markdown with code hidden, ``parameters``/``injected-parameters`` cells and stderr
dropped, figures written as image files, tables and computed ``text/markdown`` sentences kept, and the markdown of
``data-qmd`` attributes in HTML tables parsed (as Quarto does); ``{{< embed >}}`` shortcodes are expanded.
``scan`` reads the labels, cross-references and citations off an AST; the renderer (``book``) and the checks
(``book_checks``) both use it, so they agree on what a label is.
"""

from __future__ import annotations

import base64
import html
import json
import os
import posixpath
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from beyond_averages.files import InputError, read_yaml_mapping

Role = Literal["chapter", "part", "references", "appendix"]

# Quarto's cross-reference types: an id whose letters before the first '-' are one of these is a label.
CROSSREF_TYPES = frozenset(
    "fig tbl sec eq lst nte tip wrn imp cau thm lem cor prp cnj def exm exr sol rem alg".split()
)
LABEL_PATTERN = re.compile(r"^(fig|tbl|sec|eq|lst|nte|tip|wrn|imp|cau)-[a-z0-9]+(-[a-z0-9]+)*$")
PREFIXES = {"fig": "Figure", "tbl": "Table", "sec": "Section", "eq": "Equation", "lst": "Listing",
            "nte": "Note", "tip": "Tip", "wrn": "Warning", "imp": "Important", "cau": "Caution"}
CHAPTER_SUFFIXES = (".qmd", ".md", ".ipynb")
SHORTCODE = re.compile(r"\{\{<\s*(\w+)\s*([^>]*?)\s*>\}\}")


def crossref_type(identifier: str) -> str | None:
    """The cross-reference type of an id (``fig`` for ``fig-x``, also for ``Fig-x`` and ``fig_x``), else None."""
    match = re.match(r"^([A-Za-z]+)[-_]", identifier)
    if match and match.group(1).lower() in CROSSREF_TYPES:
        return match.group(1).lower()
    return None


# --------------------------------------------------------------------------------------------- the book structure
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


# ------------------------------------------------------------------------------------------------ pandoc and ASTs
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
    parts: list[str] = []
    for el in elements(node):
        if el["t"] == "Str":
            parts.append(el["c"])
        elif el["t"] in ("Space", "SoftBreak", "LineBreak"):
            parts.append(" ")
        elif el["t"] in ("Code", "Math"):
            parts.append(el["c"][1])
    return "".join(parts)


ATTR_OF = {"Header": lambda c: c[1], "Div": lambda c: c[0], "Span": lambda c: c[0], "Figure": lambda c: c[0],
           "Table": lambda c: c[0], "CodeBlock": lambda c: c[0], "Image": lambda c: c[0], "Code": lambda c: c[0]}


@dataclass(frozen=True)
class Scan:
    """What the checks and the renderer need to know about one page, read off its AST."""

    labels: tuple[str, ...]         # ids with a cross-reference type, in document order
    crossrefs: tuple[str, ...]      # @fig-x and friends (as written, e.g. Fig-x)
    citations: tuple[str, ...]      # every other @key
    refs_divs: int                  # how many ::: {#refs}
    h1s: tuple[tuple[str, bool], ...]  # (title text, unnumbered) of each level-1 heading


def scan(ast: dict) -> Scan:
    labels, crossrefs, citations, h1s, refs = [], [], [], [], 0
    for el in elements(ast["blocks"]):
        kind = el["t"]
        if kind in ATTR_OF:
            ident = ATTR_OF[kind](el["c"])[0]
            if ident == "refs" and kind == "Div":
                refs += 1
            elif ident and crossref_type(ident):
                labels.append(ident)
        if kind == "Header" and el["c"][0] == 1:
            h1s.append((stringify(el["c"][2]), "unnumbered" in el["c"][1][1]))
        if kind == "Cite":
            for cite in el["c"][0]:
                (crossrefs if crossref_type(cite["citationId"]) else citations).append(cite["citationId"])
    for cite in _nocite_ids(ast.get("meta", {})):
        (crossrefs if crossref_type(cite) else citations).append(cite)
    return Scan(tuple(labels), tuple(crossrefs), tuple(citations), refs, tuple(h1s))


def _nocite_ids(meta: dict) -> list[str]:
    return [c["citationId"] for el in elements(meta.get("nocite", {})) if el["t"] == "Cite" for c in el["c"][0]]


# ------------------------------------------------------------------------------------------- notebooks as markdown
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


def notebook_front_matter(nb: Mapping) -> tuple[dict, int | None, str | None]:
    """Front matter of a notebook (first raw/markdown cell opening with ``---``): (meta, cell index, error)."""
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") in ("raw", "markdown") and cell_source(cell).startswith("---"):
            meta, _, error = front_matter(cell_source(cell))
            return meta, i, error
        if cell.get("cell_type") != "raw":
            break
    return {}, None, None


TAG_OPTIONS = {"remove-cell": ("include", False), "hide-cell": ("include", False), "hide-code": ("echo", False),
               "hide-input": ("echo", False), "hide-output": ("output", False), "hide-warnings": ("warning", False),
               "show-code": ("echo", True), "show-output": ("output", True), "show-warnings": ("warning", True)}
SKIPPED_TAGS = {"parameters", "injected-parameters"}
MIME_ORDER = ("text/markdown", "text/html", "image/svg+xml", "image/png", "image/jpeg", "image/gif",
              "text/latex", "text/plain")
IMAGE_SUFFIX = {"image/svg+xml": ".svg", "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif"}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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


# -------------------------------------------------------------------------------------------- reading one page
@dataclass
class Page:
    entry: Entry
    source: Path                   # the file actually read (an executed notebook, or its stand-in)
    ast: dict
    assets: dict[str, bytes]       # root-relative output path -> bytes
    meta: dict                     # front matter
    embeds: list[tuple[str, str]]  # (path as written, id) of every {{< embed >}}


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


def read_page(root: Path, entry: Entry, *, execute: Mapping[str, Any], source: Path | None = None) -> Page:
    """Read one chapter into a :class:`Page`; ``source`` overrides the file read (a notebook's stand-in)."""
    path = source or root / entry.path
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
                block["c"] if block["t"] in ("Para", "Plain") else _words(stringify(block)))
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


def bibliography_keys(root: Path, bibliographies: Iterable[str]) -> set[str]:
    """Entry keys of BibTeX/BibLaTeX files (``@type{key,``) and CSL-JSON files (``"id"``)."""
    keys: set[str] = set()
    for bib in bibliographies:
        path = root / bib
        if not path.exists():
            raise InputError(f"{bib}: bibliography not found (listed in _quarto.yml)")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            keys.update(str(item.get("id")) for item in json.loads(text))
        else:
            keys.update(m.group(2) for m in re.finditer(r"@(\w+)\s*[{(]\s*([^,\s]+)\s*,", text)
                        if m.group(1).lower() not in ("comment", "string", "preamble"))
    return keys


# ------------------------------------------------------------------------------------------- AST building blocks
def _str(text: str) -> dict:
    return {"t": "Str", "c": text}


SPACE = {"t": "Space"}


def _words(text: str) -> list[dict]:
    out: list[dict] = []
    for i, word in enumerate(text.split(" ")):
        out += ([SPACE] if i else []) + [_str(word)]
    return out
