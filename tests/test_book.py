"""The book: structural checks (QUARTO.md §9) and the fallback renderer, on a tiny hand-made book and on the repo.

The tiny book is synthetic (no real person or result): a preface, a prose chapter citing ``[@smith2020]`` and
``@fig-trend``, a papermill-style executed notebook (figure, table, computed sentence), a references page and an
appendix with a prose table.
"""

from __future__ import annotations

import base64
import re
import shutil
import stat
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat import v4

from beyond_averages import paths
from beyond_averages.book import Part, load_book, main, render, render_fallback
from beyond_averages.book.checks import check_book
from beyond_averages.files import InputError

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f80f0000010100005f9bd7"
    "390000000049454e44ae426082")).decode()

# A pandas Styler's HTML carries a random uuid that changes at every execution of the notebook.
STYLER_HTML = ('<style type="text/css">\n#T_9f1a7_row0_col1 {color: red;}\n</style>\n'
               '<table id="T_9f1a7"><tr><td id="T_9f1a7_row0_col0">gap</td><td>1.5</td></tr></table>')
QUARTO_YML = """\
project:
  type: book
  output-dir: reports/_book
book:
  title: "Tiny book"
  author: "A. Student"
  date: "2026-09-30"
  chapters:
    - index.qmd
    - reports/intro.qmd
    - part: "Results"
      chapters:
        - reports/executed/study_population.ipynb
    - reports/references.qmd
  appendices:
    - reports/codes.qmd
bibliography: reports/references.bib
lang: en-GB
execute:
  enabled: false
  echo: false
  warning: false
"""
INTRO = """\
---
title: ignored
---
# Introduction {#sec-intro}

Equity matters [@smith2020]. See @fig-trend, @Tbl-gap, [-@fig-trend], @sec-study-population and @tbl-codes.

## Background {#sec-background}

::: {.callout-note}
## Why it matters
Body of the note.
:::

![A synthetic logo.](figures/logo.png){#fig-logo fig-alt="A square."}
"""
CODES = """\
# Code lists {#sec-codes}

| code | meaning |
|------|---------|
| A1   | synthetic |

: Synthetic codes. {#tbl-codes}
"""
BIB = """\
@article{smith2020,
  author = {Smith, Jane},
  title = {Synthetic inequalities},
  journal = {Journal of Examples},
  year = {2020}
}
@book{doe2019,
  author = {Doe, John},
  title = {A book of examples},
  publisher = {Example Press},
  year = {2019}
}
"""


def code_cell(source, outputs=(), tags=()):
    return v4.new_code_cell(source, outputs=list(outputs), metadata={"tags": list(tags)} if tags else {})


def image_output():
    return v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure size 1x1>"})


def executed_cells():
    return [
        code_cell("area = 'x'", tags=["parameters"]),
        code_cell("area = 'y'", tags=["injected-parameters"]),
        v4.new_markdown_cell("# Study population {#sec-study-population}\n\n"
                             "@fig-trend shows the trend; @tbl-gap gives the gap."),
        code_cell('#| label: fig-trend\n#| fig-cap: "Monthly indicator by IMD quintile."\n#| fig-alt: "A line chart."\n'
                  "report.trend_figure(measures)",
                  [v4.new_output("stream", name="stderr", text="UserWarning: noisy warning\n"), image_output()]),
        code_cell('#| label: tbl-gap\n#| tbl-cap: "Gap by quintile."\nreport.gap_table(results)',
                  [v4.new_output("execute_result", execution_count=4, data={
                      "text/html": STYLER_HTML, "text/plain": "gap 1.5"})]),
        code_cell("report.gap_sentence(results)", [v4.new_output("display_data", data={
            "text/markdown": "The gap narrowed by **1.5** points [@doe2019].", "text/plain": "<Markdown>"})]),
    ]


def write_notebook(path: Path, cells) -> None:
    nb = v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                  "language": "python"}, "language_info": {"name": "python"}})
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def make_book(root: Path) -> Path:
    (root / "reports/figures").mkdir(parents=True)
    (root / "_quarto.yml").write_text(QUARTO_YML)
    (root / ".gitignore").write_text("/.quarto/\n**/*.quarto_ipynb\n/reports/_book/\n/reports/executed/\n")
    (root / "index.qmd").write_text("# Preface {.unnumbered}\n\nThis synthetic book shows @fig-trend.\n")
    (root / "reports/intro.qmd").write_text(INTRO)
    (root / "reports/figures/logo.png").write_bytes(base64.b64decode(PNG))
    (root / "reports/codes.qmd").write_text(CODES)
    (root / "reports/references.qmd").write_text("# References {.unnumbered}\n\n::: {#refs}\n:::\n")
    (root / "reports/references.bib").write_text(BIB)
    write_notebook(root / "reports/executed/study_population.ipynb", executed_cells())
    committed = executed_cells()
    del committed[1]
    for cell in committed:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    write_notebook(root / "notebooks/study_population.ipynb", committed)
    return root


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    root = make_book(tmp_path_factory.mktemp("book"))
    render_fallback(root)
    return root


def page(root: Path, rel: str) -> str:
    return (root / "reports/_book" / rel).read_text(encoding="utf-8")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------------- load_book
def test_load_book_reads_structure_in_render_order(book):
    b = load_book(book)
    assert b.title == "Tiny book" and b.author == ("A. Student",) and b.date == "2026-09-30"
    assert b.chapters[2] == Part("Results", None, ("reports/executed/study_population.ipynb",))
    assert b.bibliography == ("reports/references.bib",) and b.csl is None and b.output_dir == "reports/_book"
    assert [(e.path, e.role, e.part) for e in b.entries()] == [
        ("index.qmd", "chapter", None), ("reports/intro.qmd", "chapter", None),
        ("reports/executed/study_population.ipynb", "chapter", "Results"), ("reports/references.qmd", "chapter", None),
        ("reports/codes.qmd", "appendix", "Appendices")]


def test_load_book_accepts_a_list_of_bibliographies_and_rejects_bad_ones(tmp_path):
    (tmp_path / "_quarto.yml").write_text("book:\n  chapters: [index.qmd]\nbibliography: [a.bib, b.bib]\n")
    assert load_book(tmp_path).bibliography == ("a.bib", "b.bib")
    (tmp_path / "_quarto.yml").write_text("book:\n  chapters: [index.qmd]\nbibliography: {a: 1}\n")
    with pytest.raises(InputError, match="bibliography must be a path or a list of paths"):
        load_book(tmp_path)


# ------------------------------------------------------------------------------------------------ the renderer
def test_index_links_every_chapter_with_numbers(book):
    index = page(book, "index.html")
    for href in ("index.html", "reports/intro.html", "reports/executed/study_population.html",
                 "reports/references.html", "reports/codes.html"):
        assert f'href="{href}"' in index
    assert '<span class="part-title">Results</span>' in index and "Appendices" in index
    assert '<span class="chapter-number">2</span> Study population' in index
    assert '<span class="chapter-number">A</span> Code lists' in index
    assert '<p class="book-title">Tiny book</p>' in index  # title block on the home page only


def test_cross_references_resolve_to_numbered_links_across_pages(book):
    intro = page(book, "reports/intro.html")
    assert '<a href="executed/study_population.html#fig-trend" class="quarto-xref">Figure 2.1</a>' in intro
    # from @Tbl-gap
    assert '<a href="executed/study_population.html#tbl-gap" class="quarto-xref">Table 2.1</a>' in intro
    assert '<a href="executed/study_population.html#fig-trend" class="quarto-xref">2.1</a>' in intro  # [-@fig-trend]
    assert '<a href="executed/study_population.html#sec-study-population" class="quarto-xref">Chapter 2</a>' in intro
    assert '<a href="codes.html#tbl-codes" class="quarto-xref">Table A.1</a>' in intro
    assert '<span class="header-section-number">1.1</span> Background' in intro
    assert '<figcaption><span class="float-number">Figure 1.1:</span> A synthetic logo.</figcaption>' in intro
    assert 'alt="A square."' in intro and (book / "reports/_book/reports/figures/logo.png").exists()
    assert '<div class="callout-header">\nWhy it matters\n</div>' in intro  # callout title is not a section
    assert 'class="float-number">Table A.1:</span> Synthetic codes.' in page(book, "reports/codes.html")
    assert '<a href="reports/executed/study_population.html#fig-trend" class="quarto-xref">Figure 2.1</a>' in page(
        book, "index.html")


def test_notebook_page_shows_outputs_not_code(book):
    chapter = page(book, "reports/executed/study_population.html")
    assert '<h1 id="sec-study-population"><span class="header-section-number">2</span> Study population</h1>' in chapter
    assert '<img src="study_population_files/figure-html/fig-trend-output-1.png" alt="A line chart." />' in chapter
    figure = "reports/_book/reports/executed/study_population_files/figure-html/fig-trend-output-1.png"
    assert (book / figure).read_bytes() == base64.b64decode(PNG)
    assert re.search(r'<figcaption><span class="float-number">Figure 2.1:</span> Monthly indicator', chapter)
    caption = chapter.index("Table 2.1:</span> Gap by quintile.")
    assert caption < chapter.index('<table id="T_tbl-gap-1"><tr><td id="T_tbl-gap-1_row0_col0">gap</td>')
    assert "#T_tbl-gap-1_row0_col1 {color: red;}" in chapter and "9f1a7" not in chapter  # stable Styler ids
    assert "The gap narrowed by <strong>1.5</strong> points" in chapter
    for absent in ("report.", "area =", "parameters", "noisy warning", "#|", "&lt;Figure"):
        assert absent not in chapter


def test_citations_link_to_the_references_page_listing_every_cited_key(book):
    intro = page(book, "reports/intro.html")
    assert '(<a href="references.html#ref-smith2020" role="doc-biblioref">Smith 2020</a>)' in intro
    assert 'id="refs"' not in intro  # a chapter's own bibliography is hidden
    assert 'href="../references.html#ref-doe2019"' in page(book, "reports/executed/study_population.html")
    refs = page(book, "reports/references.html")
    assert 'id="ref-smith2020"' in refs and 'id="ref-doe2019"' in refs  # doe2019 is cited only in a notebook output
    assert "Synthetic Inequalities" in refs  # the default CSL (Chicago author-date) title-cases


# A Styler cell holding markdown for Quarto (as report.tables writes citations): plain, and base64 with a nested span.
QMD_TABLE = ('<table id="T_1"><tr><td><span data-qmd="[@smith2020]">smith2020</span></td>'
             '<td><span data-qmd-base64="' + base64.b64encode("**bold** [@roe2018]".encode()).decode() + '">'
             '<span class="fallback">roe2018</span></span></td><td>&lt;span data-qmd="x"&gt;</td></tr></table>')


def test_data_qmd_spans_in_tables_render_as_formatted_citations(tmp_path):
    root = make_book(tmp_path)
    (root / "_quarto.yml").write_text(QUARTO_YML.replace('  author:', '  subtitle: "A synthetic subtitle"\n  author:'))
    (root / "reports/references.bib").write_text(
        BIB + "@book{roe2018, author = {Roe, Richard}, title = {Tables}, publisher = {Example Press}, year = {2018}}\n")
    cells = executed_cells()
    cells[4].outputs[0].data["text/html"] = QMD_TABLE
    write_notebook(root / "reports/executed/study_population.ipynb", cells)
    assert check_book(root, check_output=False) == []
    render_fallback(root)
    chapter = page(root, "reports/executed/study_population.html")
    assert "data-qmd=" not in chapter.replace('&lt;span data-qmd="x"&gt;', "")  # escaped text is left alone
    assert '<td>&lt;span data-qmd="x"&gt;</td>' in chapter
    assert ">smith2020<" not in chapter and "class=\"fallback\"" not in chapter
    assert ('<td><span><span class="citation" data-cites="smith2020">(<a href="../references.html#ref-smith2020" '
            'role="doc-biblioref">Smith 2020</a>)</span></span></td>') in chapter
    assert "<strong>bold</strong>" in chapter and "Roe 2018" in chapter
    assert 'id="ref-roe2018"' in page(root, "reports/references.html")  # cited only inside a table cell
    assert '<p class="subtitle">A synthetic subtitle</p>' in page(root, "index.html")
    # A key cited only in a table is checked against the bibliography like any other.
    (root / "reports/references.bib").write_text(BIB)
    assert any("roe2018" in p for p in check_book(root, check_output=False))


def test_column_option_widens_a_figure_or_table(tmp_path):
    root = make_book(tmp_path)
    cells = executed_cells()
    cells[3].source = cells[3].source.replace("#| fig-alt", "#| column: page\n#| fig-alt")
    cells[4].source = "#| column: page-right\n" + cells[4].source
    write_notebook(root / "reports/executed/study_population.ipynb", cells)
    render_fallback(root)
    chapter = page(root, "reports/executed/study_population.html")
    assert '<figure id="fig-trend" class="cell column-page quarto-float">' in chapter
    assert '<div id="tbl-gap" class="cell column-page-right quarto-float table-float">' in chapter
    assert 'figure[class*="column-page"]' in page(root, "book.css")


def test_unclosed_data_qmd_element_is_named(tmp_path):
    from beyond_averages.book.data_qmd import qmd_pieces

    assert qmd_pieces('<b><span data-qmd="*x*"><span>old</span></span></b>', "t") == [
        ("html", "<b><span>"), ("md", "*x*"), ("html", "</span>"), ("html", "</b>")]
    with pytest.raises(InputError, match=r"study_population.ipynb: <span data-qmd…> element is never closed"):
        qmd_pieces('<span data-qmd="x">open', "study_population.ipynb")


def test_pages_are_clean_offline_and_byte_stable(book, tmp_path):
    first = snapshot(book / "reports/_book")
    assert {"book.css", "index.html", "reports/intro.html", "reports/executed/study_population.html"} <= set(first)
    for name, data in first.items():
        if name.endswith(".html"):
            text = data.decode()
            assert "?@" not in text and "{{<" not in text and str(book) not in text, name
            assert 'rel="stylesheet" href="' in text and "<nav class=\"page-navigation\"" in text
    render_fallback(book)
    assert snapshot(book / "reports/_book") == first
    assert not [p for p in (book / "reports").iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_missing_chapter_is_named(tmp_path):
    root = make_book(tmp_path)
    (root / "reports/intro.qmd").unlink()
    with pytest.raises(InputError, match=r"Book chapter 'reports/intro.qmd' not found"):
        render_fallback(root)


def test_unresolved_cross_reference_stops_the_render_and_keeps_the_old_output(tmp_path):
    root = make_book(tmp_path)
    render_fallback(root)
    before = snapshot(root / "reports/_book")
    with (root / "reports/intro.qmd").open("a") as fh:
        fh.write("\nSee @fig-missing.\n")
    with pytest.raises(InputError, match=r"reports/intro.qmd: @fig-missing"):
        render_fallback(root)
    assert snapshot(root / "reports/_book") == before


def test_uncited_key_missing_from_bibliography_stops_the_render(tmp_path):
    root = make_book(tmp_path)
    with (root / "reports/intro.qmd").open("a") as fh:
        fh.write("\nAs claimed [@nobody2000].\n")
    with pytest.raises(InputError, match=r"reports/intro.qmd: pandoc reported: .*nobody2000 not found"):
        render_fallback(root)


def test_render_uses_quarto_when_present_and_fails_on_its_warnings(tmp_path, monkeypatch):
    root = make_book(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    quarto = bin_dir / "quarto"
    quarto.write_text("#!/bin/sh\nmkdir -p reports/_book\necho '<p>ok</p>' > reports/_book/index.html\n"
                      "echo \"$QUARTO_LOG\"\n")
    quarto.chmod(quarto.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("QUARTO_LOG", "Output created: reports/_book/index.html")
    assert render(root) == root / "reports/_book"
    monkeypatch.setenv("QUARTO_LOG", "WARNING (lua) Unable to resolve crossref @fig-x")
    with pytest.raises(RuntimeError, match="quarto render failed or warned"):
        render(root)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if shutil.which("quarto") is None:
        assert render(root) == root / "reports/_book"
        assert "Figure 2.1" in page(root, "reports/intro.html")


# -------------------------------------------------------------------------------------------------- check_book
def test_tiny_book_passes_every_check(book):
    assert check_book(book) == []
    assert main(["check", "--root", str(book)]) == 0


def test_missing_executed_notebook_is_tolerated_only_on_request(tmp_path):
    root = make_book(tmp_path)
    (root / "reports/executed/study_population.ipynb").unlink()
    assert check_book(root) == ["Book chapter 'reports/executed/study_population.ipynb' not found"]
    assert check_book(root, require_executed=False) == []  # labels come from notebooks/study_population.ipynb


def edit(rel, old, new):
    def apply(root: Path):
        path = root / rel
        text = path.read_text()
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1))
    return apply


def append(rel, text):
    def apply(root: Path):
        with (root / rel).open("a") as fh:
            fh.write(text)
    return apply


def notebook(rel, change):
    def apply(root: Path):
        nb = nbformat.read(root / rel, as_version=4)
        change(nb.cells)
        nbformat.write(nb, root / rel)
    return apply


def config(change):
    def apply(root: Path):
        data = yaml.safe_load((root / "_quarto.yml").read_text())
        change(data)
        (root / "_quarto.yml").write_text(yaml.safe_dump(data))
    return apply


NB = "reports/executed/study_population.ipynb"
BROKEN = {
    "1 project type": (config(lambda d: d["project"].update(type="website")), r"project.type is 'website'"),
    "1 unknown book key": (config(lambda d: d["book"].update(colour="red")), r"book.colour is not a Quarto book key"),
    "2 execution on": (config(lambda d: d["execute"].update(enabled=True)), r"execute.enabled must be false"),
    "3 no index": (config(lambda d: d["book"]["chapters"].pop(0)), r"does not list index.qmd"),
    "4 hidden path": (config(lambda d: d["book"]["appendices"].append("_drafts/x.qmd")),
                      r"_drafts/x.qmd: a path part starts with '_'"),
    "4 missing part file": (config(lambda d: d["book"]["chapters"].append({"part": "p.qmd", "chapters": []})),
                            r"part file 'p.qmd' not found"),
    "5 listed twice": (config(lambda d: d["book"]["chapters"].append("reports/intro.qmd")),
                       r"reports/intro.qmd: listed 2 times"),
    "6 two images": (notebook(NB, lambda c: c[3].outputs.append(image_output())),
                     r"study_population.ipynb cell 3 \(fig-trend\): fig- cell has 2 image outputs"),
    "6 table without html": (notebook(NB, lambda c: c[4].outputs[0].data.pop("text/html")),
                             r"cell 4 \(tbl-gap\): tbl- cell has no text/html or text/markdown output"),
    "6 committed outputs": (notebook("notebooks/study_population.ipynb", lambda c: c[2].outputs.append(image_output())),
                            r"notebooks/study_population.ipynb cell 2 \(fig-trend\): committed notebook has stored "
                            r"outputs"),
    "7 two parameters cells": (notebook(NB, lambda c: c[1].metadata.update(tags=["parameters"])),
                               r"study_population.ipynb: 2 cells tagged 'parameters'"),
    "7 stray option": (notebook(NB, lambda c: c[5].update(source="x = 1\n#| label: tbl-late")),
                       r"cell 5: '#\|' line\(s\) \['#\| label: tbl-late'\] do not open the cell"),
    "8 bad label": (edit("reports/codes.qmd", "{#tbl-codes}", "{#tbl_codes}"),
                    r"reports/codes.qmd: label 'tbl_codes' does not match"),
    "8 duplicate label": (append("reports/codes.qmd", "\n![Again.](figures/x.png){#fig-trend}\n"),
                          r"reports/codes.qmd: label 'fig-trend' is already defined in "
                          r"reports/executed/study_population"),
    "8 no fig-cap": (notebook(NB, lambda c: c[3].update(source="#| label: fig-trend\nplot()")),
                     r"cell 3 \(fig-trend\): fig- cell has no fig-cap"),
    "9 broken cross-ref": (append("reports/intro.qmd", "\nSee @fig-nope.\n"),
                           r"reports/intro.qmd: cross-reference @fig-nope matches no label"),
    "9 label in unnumbered chapter": (append("index.qmd", "\n![A logo.](reports/figures/logo.png){#fig-pref}\n"),
                                      r"index.qmd: label 'fig-pref' sits in an unnumbered chapter"),
    "9 two H1s": (append("reports/codes.qmd", "\n# Another title\n"), r"reports/codes.qmd: 2 level-1 headings"),
    "10 embed missing cell": (append("reports/codes.qmd",
                                     "\n{{< embed /notebooks/study_population.ipynb#fig-nope >}}\n"),
                              r"reports/codes.qmd: embed .*the cell fig-nope does not exist"),
    "11 unknown citation": (append("reports/intro.qmd", "\nAs claimed [@nobody2000].\n"),
                            r"reports/intro.qmd: citation @nobody2000 is not in reports/references.bib"),
    "11 second refs div": (append("reports/codes.qmd", "\n::: {#refs}\n:::\n"),
                           r"2 '::: \{#refs\}' divs .*reports/references.qmd, reports/codes.qmd"),
    "12 executable prose": (append("reports/intro.qmd", "\n```{python}\n1 + 1\n```\n"),
                            r"reports/intro.qmd line \d+: executable code cell"),
    "12 moving date": (edit("reports/intro.qmd", "title: ignored", "date: today"),
                       r"reports/intro.qmd: front matter date: today"),
    "13 gitignore": (edit(".gitignore", "/.quarto/\n", ""), r"\.gitignore: missing the line '/.quarto/'"),
    "14 leftover in output": (lambda root: (root / "reports/_book").mkdir(parents=True) or
                              (root / "reports/_book/x.html").write_text("<p>?@fig-x</p>"),
                              r"reports/_book/x.html: rendered HTML contains '\?@'"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_check_fires_naming_file_and_label(name, tmp_path):
    break_it, expected = BROKEN[name]
    root = make_book(tmp_path)
    break_it(root)
    problems = check_book(root)
    assert any(re.search(expected, p) for p in problems), problems


# ------------------------------------------------------------------------------------------ the repository itself
def test_repository_book_passes_the_structural_checks():
    if not (paths.ROOT / "_quarto.yml").exists():
        pytest.skip("_quarto.yml not written yet")
    # Executed notebooks exist after `make`; when they do, their outputs are checked too.
    assert check_book(paths.ROOT, require_executed=False, check_output=False) == []


def test_docs_example_runs(tmp_path, monkeypatch):
    text = (paths.ROOT / "docs/book.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/book.md", "exec"), {"make_book": make_book, "__name__": "docs_example"})
