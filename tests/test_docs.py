"""The runnable examples of the README and docs/extract.md run as written."""

from __future__ import annotations

import os
import re

from beyond_averages import paths


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_extract_docs_example_runs():
    (block,) = _python_blocks(paths.ROOT / "docs" / "extract.md")
    exec(compile(block, "docs/extract.md", "exec"), {})


def test_readme_example_runs(tmp_path):
    (block,) = _python_blocks(paths.ROOT / "README.md")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert (tmp_path / "extract" / "events_hypertension_case_finding.parquet").exists()


def test_readme_opens_with_the_two_commands():
    head = (paths.ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:20]
    text = "\n".join(head)
    assert "make  " in text and "make test" in text
