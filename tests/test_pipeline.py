"""The whole compendium at a small scale: extract -> measures -> every notebook (papermill) -> fallback book.

This is what `make` does at full scale; here every chapter notebook runs end to end on a small synthetic extract,
the book is rendered with the fallback renderer into a temporary copy of the book's sources, and the result is
checked the way a supervisor would read it: every chapter linked, figures and tables numbered, no unresolved
cross-reference, and no count on any page that escaped disclosure control.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from beyond_averages import book, config, measures, paths
from beyond_averages.book.checks import check_book
from beyond_averages.files import write_parquet

AREA_CHAPTERS = ("study_population", "its", "did")
OTHER_CHAPTERS = ("review", "qualitative")


def _chapter_notebooks() -> list[str]:
    listed = []
    for entry in book.load_book(paths.ROOT).entries():
        path = str(entry.path)
        if path.startswith("reports/executed/"):
            listed.append(Path(path).stem)
    return listed


@pytest.fixture(scope="module")
def rendered_book(chapter_extract, study, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("book")
    for name in ("_quarto.yml", "index.qmd", ".gitignore"):
        shutil.copy(paths.ROOT / name, root / name)
    shutil.copytree(paths.ROOT / "reports", root / "reports",
                    ignore=shutil.ignore_patterns("_book", "executed", "*_files"))
    shutil.copytree(paths.ROOT / "notebooks", root / "notebooks")
    (root / "data_synthetic").mkdir()
    shutil.copytree(paths.ROOT / "data_synthetic" / "review", root / "data_synthetic" / "review")

    area = config.load_area(study.default_area)
    mdir = root / "outputs" / "measures"
    patients = measures.load_patients(chapter_extract)
    write_parquet(measures.compute_measures(area, chapter_extract, study, patients), mdir / f"{area.name}.parquet")
    write_parquet(measures.compute_measures_by_age(area, chapter_extract, study, patients),
                  mdir / f"{area.name}_by_age.parquet")
    area_params = dict(area=area.name,
                       measures_path=str(mdir / f"{area.name}.parquet"),
                       programme_path=str(chapter_extract / f"programme_{area.name}.parquet"))
    executed = root / "reports" / "executed"
    executed.mkdir(parents=True)
    for name in _chapter_notebooks():
        params = dict(area_params) if name in AREA_CHAPTERS else {}
        if name == "study_population":
            params["extract_dir"] = str(chapter_extract)
        pm.execute_notebook(str(paths.NOTEBOOKS / f"{name}.ipynb"), str(executed / f"{name}.ipynb"),
                            parameters=params, kernel_name="python3", progress_bar=False,
                            cwd=str(paths.ROOT))
    book.render_fallback(root)
    return root


def test_every_listed_chapter_notebook_exists_and_runs(rendered_book):
    listed = _chapter_notebooks()
    assert set(AREA_CHAPTERS) | set(OTHER_CHAPTERS) <= set(listed)
    for name in listed:
        nb = nbformat.read(rendered_book / "reports" / "executed" / f"{name}.ipynb", as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, name


def test_book_structure_passes_all_checks(rendered_book):
    assert check_book(rendered_book) == []


def test_index_links_every_chapter_with_figures_and_tables(rendered_book):
    out = rendered_book / "reports" / "_book"
    index = (out / "index.html").read_text()
    for name in _chapter_notebooks():
        assert f"reports/executed/{name}.html" in index, name
        page = (out / "reports" / "executed" / f"{name}.html").read_text()
        assert "<img" in page and "<table" in page, name
        assert "?@" not in page and "{{<" not in page
        assert "def " not in page and "import " not in page  # no code on a supervisor's page
    population = (out / "reports" / "executed" / "study_population.html").read_text()
    assert re.search(r"Figure\s+\d+\.1", population) and re.search(r"Table\s+\d+\.1", population)


def test_no_small_or_unrounded_count_on_the_population_page(rendered_book):
    page = (rendered_book / "reports" / "_book" / "reports" / "executed" / "study_population.html").read_text()
    table = page[page.index("<table"):page.index("</table>")]
    counts = [int(c.replace(",", "")) for c in re.findall(r">\s*([\d,]+)(?: \(|\s*<)", table)]
    assert counts, "the population table shows counts"
    assert all(c > 7 and c % 5 == 0 for c in counts), [c for c in counts if c <= 7 or c % 5]
