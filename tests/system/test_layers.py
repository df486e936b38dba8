"""The house's shape holds: integrations use public names only, and no two modules import each other."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "queue_max"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree)
                   if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
                   for node in ast.walk(block)}
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        base = package[: len(package) - node.level + 1] if node.level else []
        target = ".".join([*base, *([node.module] if node.module else [])])
        for alias in node.names:
            candidate = f"{target}.{alias.name}"
            found.append((node.lineno, candidate if _exists(candidate) else target))
    return found


def _exists(module: str) -> bool:
    path = SRC.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_the_integrations_import_only_public_names_of_the_cli_and_the_core():
    # Given every import of the contrib packages
    private = []
    for path in sorted((SRC / "contrib").rglob("*.py")):
        own = ".".join(_module_name(path).split(".")[:3])  # queue_max.contrib.<integration>
        for line, module in _runtime_imports(path):
            if not module.startswith("queue_max.") or module.startswith(own):
                continue
            if any(part.startswith("_") for part in module.split(".")[1:]):
                private.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    # Then none reaches into an underscored module of the CLI or the core
    assert private == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan): each holds a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in edges.get(name, ()):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = []
            while not group or group[-1] != name:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return sorted(found)


def test_the_cycle_finder_finds_long_cycles_and_only_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_modules_import_each_other_at_run_time_not_even_through_a_deferred_import():
    # Given every import outside TYPE_CHECKING, those inside functions too, of every module
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        name = _module_name(path)
        edges[name] = {module for _line, module in _runtime_imports(path) if module != name}
    # Then no chain of them, however long, leads back to where it started
    assert _cycles(edges) == []
