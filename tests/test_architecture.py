"""The package's shape stays as ARCHITECTURE.md draws it: layers that only point down, no import cycle, no module
over 400 lines, no re-export shim.

The import graph is read from the source with :mod:`ast` (function-level imports included, since they hide cycles
as well as top-level ones do). Importing a sub-package means importing its ``__init__``, which imports the
sub-package's modules.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

import beyond_averages

PACKAGE = Path(beyond_averages.__file__).resolve().parent
NAME = "beyond_averages"
MAX_LINES = 400

# Lowest first. A module may import modules of its own layer or lower ones; entry points may import anything.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundations", ("__init__", "paths", "config", "files", "text_input", "months", "deprivation", "disclosure",
                     "style", "labels", "results", "parallel")),
    ("synth", ("synth",)),
    ("measures", ("measures", "standardise", "extract_check", "extract_rows", "repartition")),
    ("methods", ("equity", "its", "did", "study_population", "area_overview", "review", "qual", "ppie")),
    ("studies", ("recovery",)),
    ("report", ("report",)),
    ("book", ("book",)),
    ("entry points", ("cli", "__main__", "qual.__main__", "review.__main__", "book.__main__")),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str], rel: str | None = None) -> set[str]:
    """The package's modules that ``path`` (module ``rel``) imports, as names relative to the package."""
    rel = rel or module_name(path)
    is_pkg = path.name == "__init__.py"
    here = rel.split(".") if rel != "__init__" else []
    package = here if is_pkg else here[:-1]
    found: set[str] = set()

    def add(dotted: str) -> None:
        parts = dotted.split(".")
        while parts and ".".join(parts) not in known:  # "did.panel.validate_panel" -> "did.panel"
            parts = parts[:-1]
        if parts:
            found.add(".".join(parts))
        elif dotted == "":
            found.add("__init__")

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == NAME or alias.name.startswith(NAME + "."):
                    add(alias.name[len(NAME) + 1:])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == NAME or node.module.startswith(NAME + ".")):
                target = node.module[len(NAME) + 1:]
            else:
                continue
            for alias in node.names:
                add(f"{target}.{alias.name}" if target else alias.name)
    found.discard(rel)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports_of(p, known) for m, p in mods.items()}


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best is None:
        raise AssertionError(f"module {module!r} is in no layer: add it to LAYERS (and to ARCHITECTURE.md)")
    return best


def upward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for mod, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if layer_of(dep) > layer_of(mod) and LAYERS[layer_of(mod)][0] != "entry points":
                problems.append(f"{mod} ({LAYERS[layer_of(mod)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})")
    return problems


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_is_in_a_layer():
    for mod in modules():
        layer_of(mod)


def test_layers_only_point_down():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_checks_catch_what_they_guard_against():
    graph = {"paths": {"report.tables"}, "report.tables": set(), "did.twfe": {"did.panel"}, "did.panel": {"did.twfe"}}
    assert upward_imports(graph) == ["paths (foundations) imports report.tables (report)"]
    assert cycles(graph) == [["did.panel", "did.twfe"]]


def test_function_level_and_relative_imports_are_read(tmp_path):
    fake = tmp_path / "fake.py"
    fake.write_text("from . import labels\n\ndef f():\n    from beyond_averages.report.tables import html_table\n")
    found = imports_of(fake, set(modules()), rel="paths")
    assert found == {"labels", "report.tables"}
    assert upward_imports({"paths": found, "labels": set(), "report.tables": set()}) == [
        "paths (foundations) imports report.tables (report)"]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_size(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n} lines (> {MAX_LINES}): split it by concern"


def test_no_reexport_shims():
    """Only a sub-package's ``__init__`` states a public API; no other module passes names on."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(PACKAGE)
        assert "noqa: F401" not in text, f"{rel}: an unused import kept on purpose is a re-export"
        assert "re-export" not in text.lower(), f"{rel}: mentions re-exporting"
        assert "__all__" not in text, f"{rel}: __all__ belongs in a package's __init__"


def test_subpackage_apis_are_their_own():
    """Each sub-package ``__init__`` imports only from its own modules and lists what it imports in ``__all__``."""
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        pkg = init.parent.name
        tree = ast.parse(init.read_text(encoding="utf-8"))
        imported: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                src = node.module or ""
                own = node.level == 1 or src.startswith(f"{NAME}.{pkg}")
                assert own, f"{pkg}/__init__.py imports from {src}: a package exposes only its own modules"
                imported |= {a.asname or a.name for a in node.names}
        public = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                       and any(getattr(t, "id", "") == "__all__" for t in n.targets)), None)
        if imported:
            assert public is not None, f"{pkg}/__init__.py has no __all__"
            assert set(public) == imported, f"{pkg}/__init__.py: __all__ and the imports differ"
