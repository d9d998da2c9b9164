"""The runnable examples in docs/did.md must run."""

import re

from beyond_averages import paths


def test_did_docs_example_runs():
    text = (paths.ROOT / "docs" / "did.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    exec(compile(blocks[0], "docs/did.md", "exec"), namespace)
    assert namespace["effect_on_gap"] < 0
    assert "Comparing each adoption wave" in namespace["sentence"]
    honest: dict = {}
    exec(compile(blocks[1], "docs/did.md", "exec"), honest)
    rows = honest["sens"].tidy()
    assert rows["method"].iloc[0] == "Original" and len(rows) == 3
    assert (rows["ci_lower"].iloc[1:] <= rows["ci_upper"].iloc[1:]).all()
