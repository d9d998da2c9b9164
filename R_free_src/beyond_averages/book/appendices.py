"""The appendices the book layer writes at render time, as notebooks of markdown beside the executed chapters.

Each generated appendix is an ``.ipynb`` in ``outputs/appendices/`` (a git-ignored build folder, apart from the
executed chapters so nothing mistakes it for a chapter notebook to run) that ``_quarto.yml`` lists under
``appendices:``; Quarto renders it like any executed chapter and the fallback renderer reads it the same way, so
neither needs anything else. Only the appendices ``_quarto.yml`` lists are written:

- ``provenance.ipynb``: every figure and table with its notebook, settings, data hash and commit, the input
  files, the pinned package versions and the render time (:mod:`beyond_averages.book.provenance`);
- ``disclosure.ipynb``: every figure and table with the disclosure rule applied to it (or why none applies)
  and its suppressed and rounded cells (:mod:`beyond_averages.book.disclosure_appendix`);
- ``<name>.ipynb`` for each ``reports/checklists/<name>.yaml`` reporting checklist: every item mapped to the
  section that reports it, or marked not reported with the reason.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from beyond_averages.book.model import Book
from beyond_averages.book.notebook import cell_source, read_notebook
from beyond_averages.book.provenance import OutputRecord, package_versions
from beyond_averages.files import InputError, read_yaml_mapping, write_text

GENERATED_DIR = "outputs/appendices"  # a build folder (git-ignored), apart from the executed chapters
CHECKLISTS_DIR = "reports/checklists"
CROSSREF = re.compile(r"^(sec|fig|tbl)-")


def generated_name(path: str) -> str | None:
    """``provenance``, ``disclosure`` or a checklist name for a generated appendix path, else None."""
    if posixpath.dirname(path) != GENERATED_DIR:
        return None
    match = re.fullmatch(r"([a-z0-9_]+)\.ipynb", posixpath.basename(path))
    return match.group(1) if match else None


def appendix_notebook(title: str, ident: str, blocks: Sequence[str], css: str | None = None) -> dict:
    """A notebook Quarto and the fallback both render as a page: a heading, an empty parameters cell (the book's
    checks expect one per executed notebook), then one markdown cell per block (other than a heading, in a div of
    class ``css`` when given)."""
    cells: list[dict[str, Any]] = [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": f"# {title} {{#{ident}}}"},
        {"cell_type": "code", "id": "parameters", "metadata": {"tags": ["parameters"]}, "execution_count": None,
         "outputs": [],
         "source": "# written by beyond_averages.book.appendices at render time; no parameters"},
    ]
    cells += [{"cell_type": "markdown", "id": f"block-{i}", "metadata": {},
               "source": b if b.startswith("#") or not css else f"::: {{.{css}}}\n{b}\n:::"}
              for i, b in enumerate(blocks, 1)]
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}}


def cell(text: Any) -> str:
    """Text safe inside a pipe-table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def provenance_blocks(records: Sequence[OutputRecord], render_time: str, commit: str) -> list[str]:
    versions = package_versions()
    intro = (f"The book was rendered at {render_time} from commit `{commit}`. Each figure and table below was drawn "
             "by the notebook named, run with its settings, from the input files whose combined content hash is given "
             "(its first 16 hexadecimal digits here; in full, with each file's hash, in `provenance.json` beside the "
             "book's pages); the same fields sit under each figure and table, in \"Provenance\".")
    rows = ["| Output | Notebook | Data (sha256) | Commit |", "|---|---|---|---|"]
    rows += [f"| @{r.label} | `{r.notebook}` | `{r.data_hash[:16]}` | `{r.commit}` |" for r in records]
    by_notebook = {r.notebook: r.settings for r in records}
    settings = ["| Notebook | Settings |", "|---|---|",
                *(f"| `{nb}` | {cell('; '.join(f'`{k}: {v}`' for k, v in s) or 'none')} |"
                  for nb, s in by_notebook.items())]
    files = sorted({p: h for r in records for p, h in r.inputs}.items())
    inputs = ["| Input file | sha256 |", "|---|---|", *(f"| `{cell(p)}` | `{h}` |" for p, h in files)]
    packages = ["| Package | Version |", "|---|---|", *(f"| {k} | {v} |" for k, v in versions.items())]
    # Each block sits in a `.provenance` div, as the footers do: its file and notebook names are the record itself,
    # which a scan for text addressing the developer can tell apart by that class.
    return [intro, "## Outputs", "\n".join(rows), "## Settings", "\n".join(settings), "## Input files",
            "\n".join(inputs) if files else "No input files.", "## Package versions", "\n".join(packages)]


# --------------------------------------------------------------------------------------- reporting checklists
def load_checklist(root: Path, name: str) -> dict:
    """``reports/checklists/<name>.yaml``: title, source, items (id, topic, and ``where`` or ``not_reported``)."""
    path = root / CHECKLISTS_DIR / f"{name}.yaml"
    data = read_yaml_mapping(path, InputError, " (a reporting checklist's mapping)")
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise InputError(f"{CHECKLISTS_DIR}/{name}.yaml: items: must be a non-empty list")
    for i, item in enumerate(items):
        where = f"{CHECKLISTS_DIR}/{name}.yaml: item {item.get('id', i + 1) if isinstance(item, dict) else i + 1}"
        if not isinstance(item, dict) or not item.get("id") or not item.get("topic"):
            raise InputError(f"{where}: needs an id and a topic")
        if bool(item.get("where")) == bool(item.get("not_reported")):
            raise InputError(f"{where}: give either 'where' (a list of chapter#anchor) or 'not_reported' (a reason)")
    return data


def heading_ids(nb: Mapping) -> dict[str, str]:
    """Headings of a notebook's markdown cells and computed markdown outputs: id -> text (pandoc's auto ids)."""
    texts = [cell_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "markdown"]
    texts += ["".join(o.get("data", {}).get("text/markdown", "")) for c in nb.get("cells", [])
              for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    return headings("\n".join(texts))


def headings(text: str) -> dict[str, str]:
    out = {}
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE):
        title = match.group(1)
        explicit = re.search(r"\{#([\w:.-]+)[^}]*\}\s*$", title)
        title = re.sub(r"\s*\{[^}]*\}\s*$", "", title)
        out[explicit.group(1) if explicit else auto_id(title)] = title
    return out


def auto_id(title: str) -> str:
    """Pandoc's ``auto_identifiers``: keep letters, digits, ``_-.``; spaces to hyphens; lower case; from a letter."""
    text = re.sub(r"[^\w\s.-]", "", re.sub(r"[*_`]", "", title)).strip().lower()
    text = re.sub(r"\s+", "-", text)
    return re.sub(r"^[^a-z]+", "", text) or "section"


def anchor_link(root: Path, page_dir: str, target: str, cache: dict[str, dict[str, str]]) -> str:
    """``reports/executed/review.ipynb#methods`` as markdown: ``@sec-``/``@fig-``/``@tbl-`` labels become
    cross-references; other anchors become links whose text is the heading. An unknown anchor is an InputError."""
    path, _, anchor = target.partition("#")
    if CROSSREF.match(anchor):
        return f"@{anchor}"
    if path not in cache:
        file = root / path
        if not file.exists():
            raise InputError(f"checklist: '{target}': no such chapter file")
        cache[path] = (heading_ids(read_notebook(file)) if path.endswith(".ipynb")
                       else headings(file.read_text(encoding="utf-8")))
    if anchor not in cache[path]:
        raise InputError(f"checklist: '{target}': no heading with that anchor in {path}")
    return f"[{cache[path][anchor]}]({posixpath.relpath(path, page_dir)}#{anchor})"


def checklist_blocks(root: Path, name: str) -> tuple[str, list[str]]:
    data = load_checklist(root, name)
    cache: dict[str, dict[str, str]] = {}
    rows = ["| Item | Topic | Where reported |", "|---|---|---|"]
    for item in data["items"]:
        if item.get("where"):
            where = "; ".join(anchor_link(root, GENERATED_DIR, t, cache) for t in item["where"])
        else:
            where = f"Not reported: {item['not_reported']}"
        rows.append(f"| {cell(item['id'])} | {cell(item['topic'])} | {cell(where)} |")
    intro = str(data.get("intro", "")).strip()
    return str(data["title"]), [b for b in (intro, "\n".join(rows)) if b]


# ------------------------------------------------------------------------------------------------- writing
def write_appendices(book: Book, builders: Mapping[str, Callable[[], tuple[str, list[str]]]]) -> list[str]:
    """Write every generated appendix ``_quarto.yml`` lists; ``builders`` give (title, blocks) for ``provenance``
    and ``disclosure``; any other name is a checklist. Returns the paths written."""
    written = []
    for path in book.appendices:
        name = generated_name(path)
        if name is None:
            continue
        title, blocks = builders[name]() if name in builders else checklist_blocks(book.root, name)
        nb = appendix_notebook(title, f"sec-appendix-{name.replace('_', '-')}", blocks,
                               css="provenance" if name == "provenance" else None)
        write_text(book.root / path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    return written
