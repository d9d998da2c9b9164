"""The whole compendium at a small scale: extract -> measures -> every notebook (papermill) -> fallback book.

This is what `make` does at full scale; here every chapter notebook runs end to end, once, on a small synthetic
extract (the `executed_book` fixture of conftest.py), the book is rendered with the fallback renderer into a
temporary copy of the book's sources, and the result is checked the way a supervisor would read it: every chapter
linked, figures and tables numbered, no unresolved cross-reference, and no count on any page that escaped
disclosure control. The chapter tests (test_*_notebook.py, test_qual_chapter.py) read the same executed notebooks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from beyond_averages.book.checks import check_book

TESTS = Path(__file__).resolve().parent
AREA_CHAPTERS = ("study_population", "its", "did", "beyond_deprivation", "continuous_outcome")
OTHER_CHAPTERS = ("review", "qualitative", "ppie", "area_overview", "synthesis", "discussion", "brief", "abstract",
                  "recovery_study")
TEXT_CHAPTERS = ("discussion", "abstract")   # argued text: computed sentences, no figure or table of their own
RUNNERS = ("papermill", "nbclient", "nbconvert")  # what executes a notebook from Python or a command line
SNAKE_CASE = re.compile(r"(?<![@\w])[a-z]+(?:_[a-z0-9]+)+\b")  # a code value; '@key' is a citation


def test_every_listed_chapter_notebook_exists_and_runs(executed_chapter, book_chapters):
    assert set(AREA_CHAPTERS) | set(OTHER_CHAPTERS) <= set(book_chapters)
    for name in book_chapters:
        chapter = executed_chapter(name)
        errors = [o for c in chapter.code for o in c.outputs if o.get("output_type") == "error"]
        assert not errors, name
        assert all(c.execution_count is not None for c in chapter.code), name


def test_every_chapter_output_is_book_ready(executed_chapter, book_chapters):
    """Each figure cell shows exactly one image and no other cell any; each table cell shows HTML."""
    for name in book_chapters:
        chapter = executed_chapter(name)
        labelled = chapter.labelled()
        assert any(x.startswith(("fig-", "tbl-")) for x in labelled) or name in TEXT_CHAPTERS, name
        for cell in chapter.code:
            label = next((x for x, c in labelled.items() if c is cell), "")
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(images) == (1 if label.startswith("fig-") else 0), (name, label or cell.source[:60])
            if label.startswith("tbl-"):
                assert any("text/html" in o.get("data", {}) for o in cell.outputs), (name, label)


@pytest.mark.parametrize("name", AREA_CHAPTERS + OTHER_CHAPTERS)
def test_every_computed_sentence_is_well_formed(executed_chapter, name):
    """No code value (outside `code` spans; '@key' is a citation), no 'p = 0.000', no unformatted float, no nan or
    None, and each sentence ends as a sentence (or closes a callout)."""
    sentences = executed_chapter(name).sentences()
    assert sentences
    for s in sentences:
        assert s.rstrip().endswith((".", ")", "]", ":::")), s
        assert not re.search(r"p = 0\.000|\d\.\d{5,}|\bnan\b|\bNone\b|'[a-z_]+'", s), s
        prose = re.sub(r"`[^`]*`", "", s)
        assert not SNAKE_CASE.search(prose), (SNAKE_CASE.search(prose).group(0), s)


def test_each_listed_chapter_executed_exactly_once(executed_book, book_chapters, notebook_executions):
    for name in book_chapters:
        assert notebook_executions[f"{name}.ipynb"] == 1, name


def test_no_test_module_executes_a_notebook_itself():
    """Only conftest.py's `executed_book` runs notebooks: no test module imports a notebook runner, calls
    `execute_notebook` or starts one on a command line, so a chapter cannot be executed twice per session."""
    found, calls = [], []
    for path in sorted(TESTS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m.split(".")[0] in RUNNERS for m in modules):
                found.append((path.name, node.lineno, "import"))
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if getattr(func, "attr", None) == "execute_notebook" or getattr(func, "id", None) == "execute_notebook":
                calls.append((path.name, node.lineno))
            for arg in ast.walk(ast.Tuple(elts=[*node.args, *(k.value for k in node.keywords)])):
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and \
                        re.search(rf"\b({'|'.join(RUNNERS)})\b", arg.value):
                    found.append((path.name, node.lineno, "command line"))
    assert [f for f in found if f[0] != "conftest.py"] == []
    fixture = next(n for n in ast.walk(ast.parse((TESTS / "conftest.py").read_text(encoding="utf-8")))
                   if isinstance(n, ast.FunctionDef) and n.name == "executed_book")
    assert len(calls) == 1 and calls[0][0] == "conftest.py", calls
    assert fixture.lineno <= calls[0][1] <= fixture.end_lineno, calls



def test_book_structure_passes_all_checks(executed_book):
    assert check_book(executed_book) == []


def test_index_links_every_chapter_with_figures_and_tables(executed_book, book_chapters):
    out = executed_book / "reports" / "_book"
    index = (out / "index.html").read_text()
    for name in book_chapters:
        assert f"reports/executed/{name}.html" in index, name
        page = (out / "reports" / "executed" / f"{name}.html").read_text()
        assert "<img" in page or "<table" in page or name in TEXT_CHAPTERS, name
        assert "?@" not in page and "{{<" not in page
        assert "def " not in page and "import " not in page  # no code on a supervisor's page
    population = (out / "reports" / "executed" / "study_population.html").read_text()
    assert re.search(r"Figure\s+\d+\.1", population) and re.search(r"Table\s+\d+\.1", population)


def test_no_small_or_unrounded_count_on_the_population_page(executed_book):
    page = (executed_book / "reports" / "_book" / "reports" / "executed" / "study_population.html").read_text()
    table = page[page.index("<table"):page.index("</table>")]
    counts = [int(c.replace(",", "")) for c in re.findall(r">\s*([\d,]+)(?: \(|\s*<)", table)]
    assert counts, "the population table shows counts"
    assert all(c > 7 and c % 5 == 0 for c in counts), [c for c in counts if c <= 7 or c % 5]
