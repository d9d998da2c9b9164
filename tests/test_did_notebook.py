"""End-to-end run of notebooks/did.ipynb with papermill on small SYNTHETIC measures + programme Parquet files."""

from __future__ import annotations

import re

import nbformat
import pytest

from beyond_averages import did, paths
from beyond_averages.files import write_parquet

NOTEBOOK = paths.NOTEBOOKS / "did.ipynb"
LABEL = re.compile(r"^#\| label: ((fig|tbl)-[a-z0-9]+(-[a-z0-9]+)*)$", re.M)


def test_committed_notebook_is_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert nb.cells[0].metadata.get("tags") == ["parameters"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    h1 = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
          if line.startswith("# ")]
    assert h1 == ["# Difference-in-differences by deprivation {#sec-did}"]
    labels = [m.group(1) for c in nb.cells if c.cell_type == "code" for m in LABEL.finditer(c.source)]
    assert labels and all(lab.split("-")[1] == "did" for lab in labels) and len(set(labels)) == len(labels)
    assert "tbl-did-waves" in labels
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for ref in re.findall(r"@((?:fig|tbl)-[a-z0-9-]+[a-z0-9])", text):
        assert ref in labels
    # captions are static: settings and parameters are stated by computed sentences instead
    captions = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
                if line.startswith(("#| tbl-cap", "#| fig-cap"))]
    for typed in ("Webb", "999", "percentage points", "nearest 5", "7 or fewer", "most deprived minus"):
        assert not any(typed in cap for cap in captions), typed
    # parameters -> one analysis call (public API) -> report calls only
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "from beyond_averages.did import run_did_analysis_from_files" in code[1]
    assert code[1].count("run_did_analysis_from_files(") == 1
    for source in code[2:]:
        calls = [line for line in source.splitlines() if line and not line.startswith(("#|", "fig", "plt."))]
        assert all("did_report." in line for line in calls), source


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    import papermill as pm

    tmp = tmp_path_factory.mktemp("did_nb")
    measures, programme = did.simulate_measures_panel(
        n_practices=40, n_months=24, start="2019-01-01", waves=("2019-10-01", "2020-04-01"),
        effects="narrowing", seed=5,
    )
    write_parquet(measures, tmp / "measures.parquet")
    write_parquet(programme, tmp / "programme.parquet")
    out = tmp / "did_out.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(tmp), progress_bar=False,
        parameters={"area": "synthetic", "measures_path": str(tmp / "measures.parquet"),
                    "programme_path": str(tmp / "programme.parquet"), "comparison": "not_yet_treated",
                    "estimator": "group_time_att", "outcome_scale": "percentage_points", "contrast": [1, 5]},
    )
    return nbformat.read(out, as_version=4)


def test_notebook_runs_and_outputs_are_book_ready(executed):
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        m = LABEL.search(cell.source)
        if not m:
            continue
        label = m.group(1)
        if label.startswith("fig-"):
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(images) == 1, label
        else:
            assert any("text/html" in o.get("data", {}) for o in cell.outputs), label
    sentences = [o["data"]["text/markdown"] for c in executed.cells if c.cell_type == "code"
                 for o in c.outputs if "text/markdown" in o.get("data", {})]
    joined = " ".join(sentences)
    assert "within-practice gap narrowed" in joined  # planted: larger gain in Q1, gap Q5 - Q1 shrinks
    assert "raised the indicator more in Q1 (most deprived)" in joined
    assert "40 practices over 24 months" in joined
    assert "Webb weights and 999 draws" in joined and "effect in Q1 (most deprived) minus the effect in Q5" in joined
    assert "rounded to the nearest 5 and counts of 7 or fewer are redacted" in joined
    assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
