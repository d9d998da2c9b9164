"""Every chapter notebook follows one pattern: a parameters cell that defines each parameter once, one analysis
call, then report calls; `make` injects nothing a notebook does not use, and no parameter goes unused."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest
import yaml

from beyond_averages import paths

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))
AREA_CHAPTERS = re.search(r"^AREA_CHAPTERS\s*:=\s*(.+)$", (paths.ROOT / "Makefile").read_text(), re.M).group(1).split()
MAKE_INJECTS = set(re.findall(r"-p (\w+)", re.search(r"^AREA_PARAMS\s*=\s*(.+)$",
                                                         (paths.ROOT / "Makefile").read_text(), re.M).group(1)))


def _parameters(nb) -> tuple[dict[str, ast.expr], str]:
    cells = [c for c in nb.cells if c.cell_type == "code"]
    first = cells[0]
    assert "parameters" in first.metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    tree = ast.parse(first.source)
    names = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, "parameters are plain assignments"
        name = node.targets[0].id
        assert name not in names, f"parameter {name!r} defined twice"
        names[name] = node.value
    rest = "\n".join(c.source for c in cells[1:])
    return names, rest


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_defined_once_and_used(path):
    nb = nbformat.read(path, as_version=4)
    names, rest = _parameters(nb)
    for name in names:
        assert re.search(rf"\b{name}\b", rest), f"{path.name}: parameter {name!r} is never used"
    overrides = yaml.safe_load((paths.NOTEBOOKS / "params" / f"{path.stem}.yaml").read_text()) or {}
    assert set(overrides) <= set(names), f"params/{path.stem}.yaml sets what the notebook does not define"
    if path.stem in AREA_CHAPTERS:
        assert MAKE_INJECTS <= set(names), f"make injects {MAKE_INJECTS - set(names)} that {path.name} lacks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_analysis_call_then_report_calls(path):
    """No function definitions, loops or package internals in a notebook: one call builds the chapter's results."""
    nb = nbformat.read(path, as_version=4)
    _, rest = _parameters(nb)
    code = "\n".join(line for line in rest.splitlines() if not line.startswith(("%", "#|")))
    tree = ast.parse(code)
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.For, ast.While, ast.ClassDef))]
    calls = [n for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)]
    analysis = [n for n in calls if getattr(n.targets[0], "id", "") in ("analysis", "data")]
    assert len(analysis) == 1, f"{path.name}: expected one analysis call, found {len(analysis)}"
