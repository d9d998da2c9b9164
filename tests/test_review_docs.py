"""The runnable example in docs/review.md executes as written."""

import re

from beyond_averages import paths


def test_docs_example_runs():
    text = (paths.ROOT / "docs" / "review.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/review.md", "exec"), {})
