"""Where each figure and table of the book came from: notebook, settings, data hash, commit.

A chapter declares its inputs through its parameters, so nothing in the notebook has to change: every parameter
whose value names an existing file or folder (from the repository root) is an input, and a chapter with an
``area`` parameter also read ``study.yaml``, ``areas/<area>.yaml`` and the area's measures and programme files
(the files ``make`` writes; ``measures_path``/``programme_path`` override them). A chapter with an ``extract_dir``
parameter (the data chapter) also read the extract's patients, practices and the area's events, and the measures by
age band and the extract check beside the measures file. The parameters are the ``parameters`` cell's defaults
overridden by papermill's injected values (``metadata.papermill.parameters``); papermill's ``default_parameters`` is
empty for our notebooks, so the cell is read with :mod:`ast`.

Every record is a function of the inputs' bytes, the notebook and the commit, so rerunning with the same inputs
gives the same provenance; only the render time (appendix and ``provenance.json``) changes.
"""

from __future__ import annotations

import ast
import hashlib
import html
import json
import posixpath
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from beyond_averages import config, paths
from beyond_averages.book.model import Book
from beyond_averages.book.notebook import cell_options, cell_source, read_notebook
from beyond_averages.files import InputError, write_text

# The pinned libraries that shape a number or a page (requirements.in); their versions go in the appendix.
CORE_PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "linearmodels", "matplotlib", "pyarrow", "papermill",
                 "pypandoc-binary", "krippendorff")
FOOTER_TAG = "provenance-footer"  # markdown cells inserted after each output (removed before a re-insertion)
CHUNK = 1 << 20


@dataclass(frozen=True)
class OutputRecord:
    """The provenance of one labelled figure or table."""

    label: str
    kind: str                              # "Figure" or "Table"
    page: str                              # the chapter file as listed in _quarto.yml
    notebook: str                          # the source notebook papermill ran (notebooks/<stem>.ipynb)
    settings: tuple[tuple[str, str], ...]  # name, value as written in Python
    inputs: tuple[tuple[str, str], ...]    # root-relative path, sha256 (a folder: of its files' paths and hashes)
    data_hash: str                         # sha256 over every input's path and hash
    commit: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["settings"] = dict(self.settings)
        out["inputs"] = [{"path": p, "sha256": h} for p, h in self.inputs]
        return out


def notebook_settings(nb: Mapping) -> dict[str, Any]:
    """The notebook's parameter values: the ``parameters`` cell's defaults, then papermill's injected values."""
    values: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell_source(cell))
            except SyntaxError:
                raise InputError("notebook: the 'parameters' cell is not valid Python") from None
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        values[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        values[node.targets[0].id] = ast.unparse(node.value)
            break
    values.update(((nb.get("metadata") or {}).get("papermill") or {}).get("parameters") or {})
    return values


def chapter_inputs(root: Path, settings: Mapping[str, Any]) -> list[Path]:
    """The files a chapter read, from its settings (see the module docstring), sorted and without duplicates."""
    found: set[Path] = set()
    for value in settings.values():
        # a path names a folder or has a suffix, so a setting such as "quality" is never taken for a file
        if isinstance(value, str) and ("/" in value or "." in value) and "\n" not in value:
            path = (root / value) if not Path(value).is_absolute() else Path(value)
            if path.exists() and path.resolve() != root.resolve():
                found.add(path.resolve())
    area = settings.get("area")
    settings_file = study_file(root, settings)
    if isinstance(area, str) and area and settings_file.exists():
        study = config.load_study(settings_file)
        default_measures = root / "outputs" / "measures" / f"{area}.parquet"
        measures = _resolve(root, settings.get("measures_path")) or default_measures
        extract = _resolve(root, settings.get("extract_dir")) or study.resolved_extract_dir(settings_file.parent)
        programme = _resolve(root, settings.get("programme_path")) or extract / f"programme_{area}.parquet"
        area_file = root / "areas" / f"{area}.yaml"
        files = [settings_file, area_file if area_file.exists() else paths.area_file(area), measures,
                 programme]
        if "extract_dir" in settings:  # the data chapter: patient-level tables and the measures by age band
            files += [measures.with_name(f"{measures.stem}_by_age.parquet"),
                      measures.with_name(f"{measures.stem}_extract_check.json"),
                      *(extract / f for f in ("patients.parquet", "practices.parquet", f"events_{area}.parquet"))]
        found.update(p.resolve() for p in files if p.exists())
    return sorted(found)


def study_file(root: Path, settings: Mapping[str, Any]) -> Path:
    """The study settings a chapter read: its ``study_config``, else the book's ``study.yaml``, else the package's
    (what ``config.load_study()`` reads when a notebook runs outside the repository's root)."""
    own = _resolve(root, settings.get("study_config"))
    if own:
        return own
    return root / "study.yaml" if (root / "study.yaml").exists() else paths.ROOT / "study.yaml"


def _resolve(root: Path, value: Any) -> Path | None:
    if not isinstance(value, str) or not value:
        return None
    return Path(value) if Path(value).is_absolute() else root / value


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes; of a folder, over its files' relative paths and hashes (sorted)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
        return digest.hexdigest()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def display_path(root: Path, path: Path) -> str:
    """Root-relative where possible; a file outside the repository shows by name only (no machine paths)."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else f"(outside the repository)/{path.name}"


def git_state(root: Path) -> str:
    """The commit, with " (modified)" when tracked files differ from it; "not a git checkout" without git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        if Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True,
                               check=True).stdout.strip()).resolve() != root.resolve():
            return "not a git checkout"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return head.stdout.strip() + (" (modified)" if dirty else "")


def package_versions() -> dict[str, str]:
    out = {}
    for name in CORE_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def source_notebook(root: Path, page: str) -> str:
    """The committed notebook papermill ran for an executed chapter (same stem in notebooks/), else the page."""
    stem = posixpath.splitext(posixpath.basename(page))[0]
    return f"notebooks/{stem}.ipynb" if (root / "notebooks" / f"{stem}.ipynb").exists() else page


def collect(book: Book, pages: Sequence[str] | None = None) -> list[OutputRecord]:
    """A record for every labelled figure and table of the book's executed notebooks, in book order."""
    root, commit = book.root, git_state(book.root)
    hashes: dict[Path, str] = {}
    records = []
    for page in pages if pages is not None else [e.path for e in book.entries()]:
        path = root / page
        if not page.endswith(".ipynb") or not path.exists():
            continue
        nb = read_notebook(path)
        settings = notebook_settings(nb)
        inputs = []
        for file in chapter_inputs(root, settings):
            hashes.setdefault(file, file_sha256(file))
            inputs.append((display_path(root, file), hashes[file]))
        data_hash = hashlib.sha256("".join(f"{p}\0{h}\n" for p, h in inputs).encode()).hexdigest()
        shown = tuple((k, _value_text(root, v)) for k, v in settings.items())
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "code":
                continue
            label = str(cell_options(cell_source(cell))[0].get("label", ""))
            if label.startswith(("fig-", "tbl-")):
                records.append(OutputRecord(label, "Figure" if label.startswith("fig-") else "Table", page,
                                            source_notebook(root, page), shown, tuple(inputs), data_hash, commit))
    return records


def _value_text(root: Path, value: Any) -> str:
    """A setting as written in Python; an absolute path under the root is shown root-relative."""
    if isinstance(value, str) and Path(value).is_absolute():
        return repr(display_path(root, Path(value)))
    return repr(value)


def footer_html(record: OutputRecord) -> str:
    """The collapsed footer under a figure or table (raw HTML, which Quarto and pandoc both pass through)."""
    settings = "; ".join(f"{k}: {v}" for k, v in record.settings) or "none"
    inputs = "".join(f"<li><code>{html.escape(p)}</code> sha256 <code>{h[:12]}</code></li>"
                     for p, h in record.inputs) or "<li>none declared</li>"
    return (f'<details class="provenance" id="prov-{record.label}"><summary>Provenance</summary>\n'
            f"<dl><dt>Notebook</dt><dd><code>{html.escape(record.notebook)}</code></dd>"
            f"<dt>Settings</dt><dd>{html.escape(settings)}</dd>"
            f"<dt>Data</dt><dd>sha256 <code>{record.data_hash[:16]}</code><ul>{inputs}</ul></dd>"
            f"<dt>Commit</dt><dd><code>{html.escape(record.commit)}</code></dd></dl>\n</details>")


def annotate_notebook(nb: Mapping, records: Sequence[OutputRecord]) -> dict:
    """A copy of ``nb`` with a footer cell after each recorded output (earlier footer cells replaced)."""
    by_label = {r.label: r for r in records}
    cells = []
    for cell in nb.get("cells", []):
        if FOOTER_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cells.append(cell)
        label = str(cell_options(cell_source(cell))[0].get("label", "")) if cell.get("cell_type") == "code" else ""
        if label in by_label:
            cells.append({"cell_type": "markdown", "id": f"provenance-{label}", "metadata": {"tags": [FOOTER_TAG]},
                          "source": footer_html(by_label[label])})
    return {**nb, "cells": cells}


def annotate_in_place(book: Book, records: Sequence[OutputRecord]) -> None:
    """Write the footers into the executed notebooks themselves (for Quarto, which renders those files)."""
    for page in sorted({r.page for r in records}):
        nb = read_notebook(book.root / page)
        write_text(book.root / page, json.dumps(annotate_notebook(nb, records), indent=1, ensure_ascii=False) + "\n")


def book_provenance(records: Sequence[OutputRecord], render_time: str, commit: str) -> dict[str, Any]:
    """The machine-readable provenance of the book (``reports/_book/provenance.json``)."""
    return {"render_time": render_time, "commit": commit, "packages": package_versions(),
            "outputs": [r.as_dict() for r in records]}
