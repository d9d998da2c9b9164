"""The qualitative chapter notebook runs end to end with papermill, and the documentation example runs."""

from __future__ import annotations

import json
import re

import nbformat
import yaml

from beyond_averages import paths

NOTEBOOK = paths.NOTEBOOKS / "qualitative.ipynb"
PARAMS = paths.NOTEBOOKS / "params" / "qualitative.yaml"
LABEL = re.compile(r"^(fig|tbl|sec)-[a-z0-9]+(-[a-z0-9]+)*$")


def test_docs_example_runs(capsys):
    text = (paths.ROOT / "docs" / "qualitative.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/qualitative.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "Equity awareness was the most widely shared theme, raised by 10 participants in 15 segments" in printed
    assert "All 17 codes applied had appeared by data-collection event 6 of 10" in printed


def test_committed_notebook_is_clean_and_follows_conventions():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])] == [nb.cells[0]]
    h1 = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
          if line.startswith("# ")]
    assert h1 == ["# Why equity is, or is not, considered in quality improvement: qualitative findings "
                  "{#sec-qualitative}"]
    assert all("def " not in c.source for c in code)
    labels = [re.match(r"#\| label: (\S+)", c.source).group(1) for c in code if c.source.startswith("#| label:")]
    assert labels == ["tbl-qual-themes", "tbl-qual-framework", "tbl-qual-quotes", "fig-qual-cooccurrence",
                      "fig-qual-saturation"]
    assert all(LABEL.match(label) for label in labels)
    assert set(yaml.safe_load(PARAMS.read_text())) <= {"data_dir", "quotes_per_theme", "seed", "equity_codes"}  # make's overrides of the parameters


def test_notebook_runs_with_papermill(tmp_path):
    import papermill as pm

    out = tmp_path / "qualitative.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters=yaml.safe_load(PARAMS.read_text()),
                        cwd=str(paths.NOTEBOOKS), progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    cells = {re.match(r"#\| label: (\S+)", c.source).group(1): c for c in nb.cells
             if c.cell_type == "code" and c.source.startswith("#| label:")}
    for label, cell in cells.items():
        kinds = [k for o in cell.outputs for k in o.get("data", {})]
        if label.startswith("fig-"):
            assert kinds.count("image/png") == 1, label
        else:
            assert "text/html" in kinds, label
    html = cells["tbl-qual-quotes"].outputs[0]["data"]["text/html"]
    assert "Attributed to" in html and "P0" in html
    text = json.dumps(nb.dict())
    assert "Equity not considered in QI' was raised by 1 of 7 participants" in text
    assert "Traceback" not in text
