"""The qualitative chapter notebook: committed clean, its executed outputs (read from the session's one executed
book, conftest.py `executed_book`, never executed again here), and the documentation example runs."""

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
    assert labels == ["tbl-qual-agreement", "tbl-qual-themes", "tbl-qual-framework", "tbl-qual-quotes",
                      "fig-qual-cooccurrence", "fig-qual-map", "fig-qual-saturation", "tbl-qual-saturation"]
    assert all(LABEL.match(label) for label in labels)
    assert set(yaml.safe_load(PARAMS.read_text())) <= {"data_dir", "relations_path", "attribution_path",
                                                 "quotes_per_theme", "seed", "equity_codes"}  # make's overrides of the parameters


def test_executed_chapter_quotes_and_deprivation_paragraph(executed_chapter):
    """The qualitative chapter of the session's one executed book (run on data_synthetic/qualitative with
    params/qualitative.yaml, as `make` does): figures, tables and sentence form are checked for every chapter in
    test_pipeline.py."""
    chapter = executed_chapter("qualitative")
    assert list(chapter.labelled()) == ["tbl-qual-agreement", "tbl-qual-themes", "tbl-qual-framework",
                                        "tbl-qual-quotes", "fig-qual-cooccurrence", "fig-qual-map",
                                        "fig-qual-saturation", "tbl-qual-saturation"]
    # Agreement between the two (synthetic) coders: the table by code and level, and the sentences around it.
    agreement = chapter.labelled()["tbl-qual-agreement"].outputs[0]["data"]["text/html"]
    assert "Passages: Krippendorff&#x27;s alpha" in agreement or "Passages: Krippendorff's alpha" in agreement
    assert "Inequalities recognised" in agreement and "All codes" in agreement
    html = chapter.labelled()["tbl-qual-quotes"].outputs[0]["data"]["text/html"]
    assert "Attributed to" in html and "P0" in html
    text = json.dumps(chapter.nb.dict())
    assert "Equity not considered in QI' was raised by 1 of 7 participants" in text
    assert "Coder A and Coder B each coded 3 of the 10 sources" in text
    assert "the 2 coders agreed on 93.3% of 104 passage-code pairs" in text
    assert "Traceback" not in text
    # Theory, attribution and saturation within roles (#14 item 8): quotes and matrix never name a role of one or
    # two participants; the map's narrative and the saturation judgement are computed.
    for label in ("tbl-qual-quotes", "tbl-qual-framework", "tbl-qual-themes"):
        shown = chapter.labelled()[label].outputs[0]["data"]["text/html"].lower()
        assert "commissioner" not in shown and "policy maker" not in shown and "pharmacist" not in shown, label
    assert "P04, participant" in html and "clinical staff" in html
    said = " ".join(chapter.sentences())
    assert ("‘Incentives and targets’ constrains ‘Equity awareness’ (analyst's relation; the two themes co-occur "
            "in 4 passages from 4 participants)") in said
    assert "No passage supports 2 of the 6 relations" in said
    assert "not assessable for pharmacist (1 participant) and policy and commissioning (2 participants)" in said
    assert "which suggests the codebook was saturated" not in text
    assert "python -m beyond_averages.qual" not in text  # the chapter points only to what the book shows
