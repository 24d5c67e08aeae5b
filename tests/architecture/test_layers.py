"""The layers of docs/architecture.md, read from the code's own imports (every import, also
the ones inside functions: a lazy import is still a dependency).

- The integrations import nothing of `portal` but the kit (`portal.core`) and `portal.crypto`,
  and neither each other nor a feature app.
- No two modules import each other, directly or round a circle.
- No source file is past 600 lines and at most three functions are past 80.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "integrations")
# Every package is measured (connectivity's files were split by topic in its own issue).
SIZE_EXEMPT: tuple[str, ...] = ()
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
MAX_LONG_FUNCTIONS = 3


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in source_files()}


def imported_modules(path: Path) -> set[str]:
    """The project's modules `path` imports: `from a.b import c` names a.b.c when that is a
    module, else a.b."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in MODULES:
                    found.add(submodule)
                elif node.module in MODULES:
                    found.add(node.module)
    found.discard(module_name(path))
    return found


GRAPH = {name: imported_modules(path) for name, path in MODULES.items()}


INTEGRATIONS = ("litellm", "librechat")


def wrong_for_an_integration(module: str, target: str) -> bool:
    if target == "portal.crypto" or target == "portal.core" or target.startswith("portal.core."):
        return False
    if not target.startswith("integrations."):
        return True  # a feature app, the portal's settings, ...
    other = target.split(".")[1]
    return other in INTEGRATIONS and other != module.split(".")[1]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("integrations.")))
def test_an_integration_imports_only_the_kit_and_itself(module: str) -> None:
    wrong = sorted(t for t in GRAPH[module] if wrong_for_an_integration(module, t))
    assert not wrong, f"{module} imports {wrong}"


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


@pytest.mark.parametrize("package", sorted({package_of(m) for m in MODULES}))
def test_no_import_circle(package: str) -> None:
    mine = [c for c in cycles() if any(package_of(m) == package for m in c)]
    assert not mine, f"modules that import each other: {mine}"


def long_functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                out.append((f"{module_name(path)}.{node.name}", length))
    return out


def measured() -> list[Path]:
    return [p for p in source_files() if not str(p.relative_to(ROOT)).startswith(SIZE_EXEMPT)]


def test_no_source_file_is_past_600_lines() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in measured()
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert not big, big


def test_at_most_three_functions_are_past_80_lines() -> None:
    long = [f for p in measured() for f in long_functions(p)]
    assert len(long) <= MAX_LONG_FUNCTIONS, long
