"""The review chapter notebook: committed clean and following Quarto conventions; its executed outputs are read
from the session's one executed book (conftest.py `executed_book`), never executed again here."""

from __future__ import annotations

import re

import nbformat
import yaml

from beyond_averages import paths

NOTEBOOK = paths.NOTEBOOKS / "review.ipynb"
PARAMS = paths.NOTEBOOKS / "params" / "review.yaml"
LABEL = re.compile(r"^(fig|tbl|sec)-[a-z0-9]+(-[a-z0-9]+)*$")


def options(cell) -> dict:
    lines = [ln[3:] for ln in cell.source.splitlines() if ln.startswith("#| ")]
    return yaml.safe_load("\n".join(lines)) or {}


def test_committed_notebook_is_clean_and_follows_conventions():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert "parameters" in nb.cells[0].metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "def " not in cell.source
    h1 = [ln for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines() if ln.startswith("# ")]
    assert h1 == ["# Equity-focused quality improvement in primary care: a review {#sec-review}"]
    labels = [options(c)["label"] for c in nb.cells if c.cell_type == "code" and c.source.startswith("#| label")]
    assert all(LABEL.match(x) and x.split("-")[1] == "review" for x in labels) and len(set(labels)) == len(labels)
    for cell in nb.cells:
        opts = options(cell) if cell.cell_type == "code" else {}
        if str(opts.get("label", "")).startswith("fig-"):
            assert opts.get("fig-cap") and opts.get("fig-alt")
        if str(opts.get("label", "")).startswith("tbl-"):
            assert opts.get("tbl-cap")
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for ref in re.findall(r"@((?:fig|tbl|sec)-[a-z0-9-]*[a-z0-9])", prose):
        assert ref in labels, ref
    assert set(yaml.safe_load(PARAMS.read_text())) <= {"screening_log", "extraction", "references", "harvest_height", "rob_weighted"}  # make's overrides of the parameters


def test_executed_chapter_states_the_synthesis_and_provenance(executed_chapter):
    """The review chapter of the session's one executed book (run on data_synthetic/review with params/review.yaml,
    as `make` does): figures, tables and sentence form are checked for every chapter in test_pipeline.py."""
    chapter = executed_chapter("review")
    markdown = chapter.sentences()
    assert any("Of the 18 included studies" in m and "[@synthetic_" in m for m in markdown), markdown
    assert any("Synthetic example data" in m for m in markdown), markdown
    labelled = chapter.labelled()
    assert [x for x in labelled if x.startswith("fig-")] == [
        "fig-review-prisma", "fig-review-harvest-approach", "fig-review-harvest-progress", "fig-review-coverage",
        "fig-review-rob-traffic", "fig-review-rob-summary"]
    _, *rows = chapter.table("tbl-review-design")
    assert len(rows) == 18 and [r[0] for r in rows] == [str(i) for i in range(1, 19)], rows[:3]
