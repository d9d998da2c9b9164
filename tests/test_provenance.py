"""Provenance of every figure and table (#15, item 1): footers, the appendix and ``provenance.json``.

A tiny synthetic book (no real person or result): one executed notebook whose parameters cell defaults are
overridden by papermill's injected values, reading one input file. The repository's own book, executed once by the
session fixture, is checked for a footer under every figure and table.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from beyond_averages.book import provenance, render_fallback
from beyond_averages.book.appendices import auto_id

# FIPS 180-2, appendix B.1: the SHA-256 of the three bytes "abc".
SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNg+A8AAAEBAABfm9c5AAAAAElFTkSuQmCC")
QUARTO_YML = """\
project: {type: book, output-dir: reports/_book}
book:
  title: "Tiny book"
  date: "2026-09-30"
  chapters: [index.qmd, reports/executed/trend.ipynb]
  appendices:
    - outputs/appendices/provenance.ipynb
execute: {enabled: false, echo: false, warning: false}
"""


def code(source, outputs=(), tags=()):
    return v4.new_code_cell(source, outputs=list(outputs), metadata={"tags": list(tags)} if tags else {})


def tiny_book(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "input.csv").write_bytes(b"abc")
    (root / "_quarto.yml").write_text(QUARTO_YML)
    (root / ".gitignore").write_text("/.quarto/\n**/*.quarto_ipynb\n/reports/_book/\n/reports/executed/\n")
    (root / "index.qmd").write_text("# Preface {.unnumbered}\n\nSee @fig-trend and @tbl-gap.\n")
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"}}
    # what papermill records in an executed notebook: the injected values (its default_parameters stays empty)
    metadata["papermill"] = {"parameters": {"window": 5}, "default_parameters": {}}
    nb = v4.new_notebook(metadata=metadata)
    nb.cells = [
        code('data = "data/input.csv"   # from the root\nwindow = 3\nmethod = "quality"', tags=["parameters"]),
        code("# Parameters\nwindow = 5\n", tags=["injected-parameters"]),
        v4.new_markdown_cell("# Trend {#sec-trend}"),
        code('#| label: fig-trend\n#| fig-cap: "A trend."\nplot()',
             [v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]),
        code('#| label: tbl-gap\n#| tbl-cap: "A gap."\ntable()',
             [v4.new_output("execute_result", execution_count=1,
                            data={"text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "1"})]),
    ]
    (root / "reports/executed").mkdir(parents=True)
    nbformat.write(nb, root / "reports/executed/trend.ipynb")
    return root


def without_render_time(folder: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "provenance.json":
                record = json.loads(data)
                record.pop("render_time")
                data = json.dumps(record).encode()
            out[p.relative_to(folder).as_posix()] = re.sub(rb"rendered at [^<]* UTC", b"rendered at T", data)
    return out


def test_settings_are_the_parameter_defaults_overridden_by_the_injected_values(tmp_path):
    nb = nbformat.read(tiny_book(tmp_path) / "reports/executed/trend.ipynb", as_version=4)
    assert provenance.notebook_settings(nb) == {"data": "data/input.csv", "window": 5, "method": "quality"}


def test_inputs_are_the_files_the_settings_name_with_their_sha256(tmp_path):
    root = tiny_book(tmp_path)
    (root / "quality").write_text("a file named like a setting value is not an input")
    settings = {"data": "data/input.csv", "window": 5, "method": "quality"}
    assert provenance.chapter_inputs(root, settings) == [(root / "data/input.csv").resolve()]
    assert provenance.file_sha256(root / "data/input.csv") == SHA256_ABC


def test_git_state_names_the_commit_and_a_dirty_tree(tmp_path):
    assert provenance.git_state(tmp_path) == "not a git checkout"
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = ["git", "-c", "user.name=Synthetic", "-c", "user.email=synthetic@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "a.txt").write_text("one")
    subprocess.run([*git, "add", "a.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", head) and provenance.git_state(tmp_path) == head
    (tmp_path / "a.txt").write_text("two")
    assert provenance.git_state(tmp_path) == f"{head} (modified)"
    (tmp_path / "sub").mkdir()  # a book in a folder of someone else's checkout is not that checkout
    assert provenance.git_state(tmp_path / "sub") == "not a git checkout"


def test_every_output_has_a_footer_and_the_appendix_lists_it(tmp_path):
    root = tiny_book(tmp_path)
    out = render_fallback(root)
    page = (out / "reports/executed/trend.html").read_text()
    for label in ("fig-trend", "tbl-gap"):
        footer = re.search(rf'<details class="provenance" id="prov-{label}">(.*?)</details>', page, re.S).group(1)
        assert "notebooks/trend.ipynb" not in footer and "reports/executed/trend.ipynb" in footer  # no source copy
        assert "data: 'data/input.csv'; window: 5; method: 'quality'" in footer
        assert "not a git checkout" in footer and SHA256_ABC[:12] in footer
    assert page.index('id="tbl-gap"') < page.index('id="prov-tbl-gap"')
    record = json.loads((out / "provenance.json").read_text())
    assert [o["label"] for o in record["outputs"]] == ["fig-trend", "tbl-gap"]
    assert record["outputs"][0]["inputs"] == [{"path": "data/input.csv", "sha256": SHA256_ABC}]
    assert record["outputs"][0]["settings"] == {"data": "'data/input.csv'", "window": "5", "method": "'quality'"}
    assert record["commit"] == "not a git checkout" and record["packages"]["numpy"] != "not installed"
    appendix = (out / "outputs/appendices/provenance.html").read_text()
    for label in ("fig-trend", "tbl-gap"):
        assert f'href="../../reports/executed/trend.html#{label}"' in appendix
    assert SHA256_ABC in appendix and "numpy" in appendix
    assert appendix.count('<div class="provenance">') == 5  # every block but the headings: the record itself


def test_rerun_gives_the_same_provenance_except_the_render_time(tmp_path, monkeypatch):
    root = tiny_book(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    first = render_fallback(root)
    assert json.loads((first / "provenance.json").read_text())["render_time"] == "2001-09-09 01:46:40 UTC"
    before = without_render_time(first)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    second = render_fallback(root)
    assert json.loads((second / "provenance.json").read_text())["render_time"] == "2023-11-14 22:13:20 UTC"
    assert without_render_time(second) == before
    (root / "data/input.csv").write_bytes(b"abd")  # new data: a new hash everywhere
    changed = json.loads((render_fallback(root) / "provenance.json").read_text())
    assert changed["outputs"][0]["inputs"][0]["sha256"] != SHA256_ABC


def test_quarto_gets_the_footers_in_the_executed_notebook_itself(tmp_path):
    root = tiny_book(tmp_path)
    from beyond_averages.book import load_book

    book = load_book(root)
    records = provenance.collect(book)
    for _ in range(2):  # idempotent: a second pass replaces the footers rather than adding more
        provenance.annotate_in_place(book, records)
    nb = nbformat.read(root / "reports/executed/trend.ipynb", as_version=4)
    footers = [c for c in nb.cells if provenance.FOOTER_TAG in c.metadata.get("tags", [])]
    assert [re.search(r'id="prov-([\w-]+)"', c.source).group(1) for c in footers] == ["fig-trend", "tbl-gap"]
    assert [c.cell_type for c in nb.cells].index("markdown", 3) == 4  # right after the figure cell


def test_auto_identifiers_follow_pandoc():
    # The examples of the pandoc manual, "Extension: auto_identifiers".
    for heading, ident in (("Heading identifiers in HTML", "heading-identifiers-in-html"),
                           ("*Dogs*?--in *my* house?", "dogs--in-my-house"), ("3. Applications", "applications"),
                           ("33", "section")):
        assert auto_id(heading) == ident


def test_every_figure_and_table_of_the_book_has_provenance(executed_book):
    pages = sorted((executed_book / "reports/_book/reports/executed").glob("*.html"))
    labels = {m for p in pages for m in re.findall(r'<(?:div|figure) id="((?:fig|tbl)-[\w-]+)"', p.read_text())}
    footers = {m for p in pages for m in re.findall(r'id="prov-((?:fig|tbl)-[\w-]+)"', p.read_text())}
    assert len(labels) >= 30 and labels == footers
    record = json.loads((executed_book / "reports/_book/provenance.json").read_text())
    assert {o["label"] for o in record["outputs"]} == labels
    its = next(o for o in record["outputs"] if o["label"] == "fig-its-arms")
    assert its["settings"]["wave"] == "1" and its["notebook"] == "notebooks/its.ipynb"
    assert any(i["path"].endswith("hypertension_case_finding.parquet") for i in its["inputs"])
