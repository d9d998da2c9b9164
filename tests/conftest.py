"""Shared fixtures: a small synthetic extract, generated once per test session, and the book executed once.

Executing a chapter notebook is the slowest thing the suite does, so each chapter notebook listed in `_quarto.yml`
runs exactly once per session, in `executed_book`; every test of a chapter's executed outputs reads that run
(through `executed_chapter`). `papermill.execute_notebook` is counted here, and a session that executed any
notebook twice fails at its end, so a second run cannot creep back in unnoticed.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import weakref
from collections import Counter
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml
from beyond_averages import book, config, measures, paths
from beyond_averages.book.disclosure_appendix import table_rows
from beyond_averages.files import write_parquet
from beyond_averages.measures.values import write_value_measures
from beyond_averages.synth import generate_area, generate_population
from matplotlib.figure import Figure

SMALL = dict(scale=0.03, n_practices=24, seed=123, scenario="narrowing")
AREA_CHAPTERS = ("study_population", "its", "did", "beyond_deprivation", "continuous_outcome")  # on chapter_extract
CONTINUOUS_AREA = "diabetes_care"   # the area with a continuous outcome, shown by its chapter in every book
# Chapters that leave (its, did) or read (the rest) headline tables: pointed at the temporary book's own folder.
RESULTS_CHAPTERS = ("its", "did", "synthesis", "discussion", "brief", "abstract")
RESULTS_READERS = ("synthesis", "discussion", "brief", "abstract")  # run after the chapters that write the tables
LABEL = re.compile(r"^#\| label: (\S+)", re.M)

# -- every papermill run of the session, by notebook file name ------------------------------------------------
EXECUTIONS: Counter[str] = Counter()
_execute_notebook = papermill.execute_notebook


def _counted_execute_notebook(input_path, *args, **kwargs):
    EXECUTIONS[Path(str(input_path)).name] += 1
    return _execute_notebook(input_path, *args, **kwargs)


# Patched at import, before any test module is collected, so `pm.execute_notebook` and
# `from papermill import execute_notebook` in a test module both reach the counter.
papermill.execute_notebook = _counted_execute_notebook


def pytest_sessionfinish(session, exitstatus):
    repeated = {name: n for name, n in EXECUTIONS.items() if n > 1}
    if repeated:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"notebooks executed more than once in this session: {repeated}; read the one run "
                                "of the executed_book / executed_chapter fixtures instead", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def notebook_executions() -> Counter[str]:
    return EXECUTIONS


# -- every figure a test draws is audited for legibility (issue 15: text >= 9 pt at the page's width) ----------
FIGURES: weakref.WeakSet = weakref.WeakSet()
_figure_init = Figure.__init__


def _tracked_figure_init(self, *args, **kwargs):
    _figure_init(self, *args, **kwargs)
    FIGURES.add(self)


Figure.__init__ = _tracked_figure_init


@pytest.fixture(autouse=True)
def figure_audit():
    """After each test, every figure it drew (through the report functions) must be legible in the book:
    `style.legibility_problems` finds none. A test that draws an illegible figure on purpose removes it from the
    yielded set."""
    from beyond_averages.style import legibility_problems

    FIGURES.clear()
    yield FIGURES
    problems = {id(f): legibility_problems(f) for f in list(FIGURES) if f.axes}
    bad = [p for p in problems.values() if p]
    FIGURES.clear()
    if bad:
        pytest.fail(f"{len(bad)} illegible figure(s): {bad[:3]}")


# -- extracts -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def study():
    return config.load_study()


@pytest.fixture(scope="session")
def small_extract(tmp_path_factory, study) -> Path:
    """Population and every area at a small scale (about 60,000 registered patients)."""
    out = tmp_path_factory.mktemp("extract")
    generate_population(out, study, progress=False, **SMALL)
    for area in config.list_areas():
        generate_area(area, out, study, progress=False, **SMALL)
    return out


@pytest.fixture(scope="session")
def chapter_extract(tmp_path_factory, study) -> Path:
    """The default area at a scale where each adoption wave's quintile series survive disclosure control, and the
    area with a continuous outcome (the continuous-outcome chapter shows it when the book's area has none)."""
    out = tmp_path_factory.mktemp("chapter_extract")
    settings = dict(scale=0.08, n_practices=24, seed=321, scenario="narrowing")
    generate_population(out, study, progress=False, **settings)
    generate_area(study.default_area, out, study, progress=False, **settings)
    generate_area(CONTINUOUS_AREA, out, study, progress=False, **settings)
    return out


# -- the book, executed once ----------------------------------------------------------------------------------
def listed_chapters() -> list[str]:
    """Stems of the executed notebooks `_quarto.yml` lists as chapters, in book order."""
    return [Path(str(e.path)).stem for e in book.load_book(paths.ROOT).entries()
            if str(e.path).startswith("reports/executed/")]


@pytest.fixture(scope="session")
def book_chapters() -> list[str]:
    return listed_chapters()


@pytest.fixture(scope="session")
def executed_book(chapter_extract, study, tmp_path_factory) -> Path:
    """A temporary copy of the book's sources with every listed chapter notebook executed once, as `make` does
    (area chapters on `chapter_extract` and its measures; review and qualitative on the repository's synthetic
    inputs, with `notebooks/params/<name>.yaml`), and the book rendered by the fallback renderer."""
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
    values_path = write_value_measures(config.load_area(CONTINUOUS_AREA), chapter_extract, study, mdir)
    area_params = dict(area=area.name,
                       measures_path=str(mdir / f"{area.name}.parquet"),
                       programme_path=str(chapter_extract / f"programme_{area.name}.parquet"))
    executed = root / "reports" / "executed"
    executed.mkdir(parents=True)
    listed = listed_chapters()
    for name in [n for n in listed if n not in RESULTS_READERS] + [n for n in listed if n in RESULTS_READERS]:
        params = yaml.safe_load((paths.NOTEBOOKS / "params" / f"{name}.yaml").read_text()) or {}
        if name in AREA_CHAPTERS:
            params.update(area_params)
        if name in ("study_population", "beyond_deprivation"):   # they count from the extract itself
            params["extract_dir"] = str(chapter_extract)
        if name == "area_overview":  # every area with a measures table here: the default one
            params.update(measures_dir=str(mdir), extract_dir=str(chapter_extract))
        if name == "continuous_outcome":
            params.update(values_path=str(values_path),
                          programme_path=str(chapter_extract / f"programme_{CONTINUOUS_AREA}.parquet"))
        if name in RESULTS_CHAPTERS:
            params.update(area=area.name, results_dir=str(root / "outputs" / "results"))
        papermill.execute_notebook(str(paths.NOTEBOOKS / f"{name}.ipynb"), str(executed / f"{name}.ipynb"),
                                   parameters=params, kernel_name="python3", progress_bar=False,
                                   cwd=str(root))  # not the repository: relative paths must resolve from its root
    book.render_fallback(root)
    return root


class ExecutedChapter:
    """One chapter notebook of the session's single run, read back: labelled cells, sentences, tables."""

    def __init__(self, path: Path):
        self.path = path
        self.nb = nbformat.read(path, as_version=4)
        self.code = [c for c in self.nb.cells if c.cell_type == "code"]

    def labelled(self) -> dict[str, nbformat.NotebookNode]:
        return {m.group(1): c for c in self.code if (m := LABEL.search(c.source))}

    def sentences(self) -> list[str]:
        """Every computed sentence (text/markdown output) in notebook order."""
        return [o["data"]["text/markdown"] for c in self.code for o in c.outputs
                if "text/markdown" in o.get("data", {})]

    def table(self, label: str) -> list[list[str]]:
        """The rows of a labelled table cell's HTML output, header row first."""
        html = next(o["data"]["text/html"] for o in self.labelled()[label].outputs if "text/html" in o.get("data", {}))
        return table_rows(html)


@pytest.fixture(scope="session")
def executed_chapter(executed_book):
    """``executed_chapter("its")``: that chapter's notebook from `executed_book` (no second execution)."""
    return lambda name: ExecutedChapter(executed_book / "reports" / "executed" / f"{name}.ipynb")


def _load_bench_script(name: str):
    bench = str(paths.ROOT / "bench")
    if bench not in sys.path:  # as `python bench/<name>.py` runs it: its sibling scripts (bands, ...) importable
        sys.path.append(bench)
    spec = importlib.util.spec_from_file_location(name, paths.ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench_script():
    """``bench_script("bands")``: a script of ``bench/`` (a folder of scripts, not a package) imported as a module,
    so its functions can be tested."""
    return _load_bench_script
