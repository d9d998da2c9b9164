"""Run notebooks/its.ipynb end to end with papermill on a SYNTHETIC measures-shaped demo extract."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from beyond_averages.files import write_parquet
from beyond_averages.its.simulate import simulate_measures_demo

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "its.ipynb"
LABEL = re.compile(r"^#\| label: (\S+)", re.M)


@pytest.fixture(scope="module")
def demo_paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("its_demo")
    measures, programme = simulate_measures_demo("narrowing", seed=7, n_practices=40)
    write_parquet(measures, folder / "measures_demo.parquet")
    write_parquet(programme, folder / "programme_demo.parquet")
    return folder


def test_committed_notebook_is_clean_and_quarto_ready():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    h1 = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
          if line.startswith("# ")]
    assert h1 == ["# Interrupted time series by deprivation {#sec-its}"]
    labels = [m for c in code for m in LABEL.findall(c.source)]
    assert len(labels) == len(set(labels)) and all(re.fullmatch(r"(fig|tbl)-its(-[a-z0-9]+)+", lab) for lab in labels)
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert all(f"@{lab}" in prose for lab in labels)
    assert not any("def " in c.source for c in code)


def test_notebook_runs_on_demo_extract(demo_paths, tmp_path):
    import papermill as pm

    out = tmp_path / "its_out.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3", progress_bar=False, cwd=str(ROOT),
                        parameters={"area": "demo", "measures_path": str(demo_paths / "measures_demo.parquet"),
                                    "programme_path": str(demo_paths / "programme_demo.parquet"),
                                    "horizons": [6, 12, 24]})
    nb = nbformat.read(out, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        label = LABEL.findall(cell.source)
        if label and label[0].startswith("fig-"):
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(images) == 1, label
        if label and label[0].startswith("tbl-"):
            assert any("text/html" in o.get("data", {}) for o in cell.outputs), label
    sentences = [o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if "text/markdown" in o.get("data", {})]
    assert any("the most deprived quintile gained more than the least deprived" in s for s in sentences), \
        json.dumps(sentences)
    assert not any(re.search(r"p = 0\.000|'[a-z_]+'", s) for s in sentences), json.dumps(sentences)
