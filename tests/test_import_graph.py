"""The package's import graph has no circles (module-level imports, as Python runs them at import time).

Run as a script (`python tests/test_import_graph.py`) to print every circle found.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "biasbench"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(tree: ast.Module, deferred: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """Imports executed when the module is imported: top level, class bodies, if/try/with blocks
    (not ``if TYPE_CHECKING:`` blocks, nor function bodies unless ``deferred``)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, (ast.With, ast.ClassDef)):
                visit(node.body)
            elif deferred and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(node.body)
            elif deferred and isinstance(node, (ast.For, ast.While)):
                visit(node.body)

    visit(tree.body)
    return found


def import_graph(deferred: bool = False) -> dict[str, set[str]]:
    """Module -> biasbench modules it imports at import time (and in function bodies when ``deferred``)."""
    files = {module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in module_level_imports(ast.parse(path.read_text(encoding="utf-8"), str(path)), deferred):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            for target in targets:
                while target and target not in files:  # 'biasbench.a.b.attr' -> the module that defines it
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("biasbench"):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "; ".join(edges)


def test_the_graph_sees_imports() -> None:
    graph = import_graph()
    assert "biasbench.core.errors" in graph["biasbench.core.registry"]
    assert "biasbench.runner.store" in graph["biasbench.runner.executor"]
    assert "biasbench.adapters.base" not in graph["biasbench.core.registry"]  # under TYPE_CHECKING only
    assert "biasbench.tasks.loading" in import_graph(deferred=True)["biasbench.config"]  # inside a function


def test_cycle_finder_finds_a_planted_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("deferred", [False, True], ids=["import-time", "with-deferred-imports"])
def test_no_import_circles(deferred: bool) -> None:
    """Import-time circles break imports; circles through deferred (function-level) imports are
    layering circles (e.g. config <-> tasks.loading over read_yaml) that make modules inseparable."""
    graph = import_graph(deferred)
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(describe(component, graph) for component in found)


if __name__ == "__main__":
    graph = import_graph(deferred="--deferred" in sys.argv)
    found = cycles(graph)
    for component in found:
        print(f"circle of {len(component)} modules: {describe(component, graph)}")
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} import edges, {len(found)} circle(s)")
    sys.exit(1 if found else 0)
