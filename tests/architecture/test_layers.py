"""The package's layers, read from the code's own imports.

``web`` -> ``services`` -> (``domain``, ``crypto``, ``storage``, ``evidence``): imports only go
downwards, services never read Flask's request globals, and no two modules import each other,
directly or through others. Function-level imports count as much as top-level ones; imports
guarded by ``TYPE_CHECKING`` do not run and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "portal"

# For each layer, the layers it may import (itself always allowed). Top-level infrastructure
# modules (config, db, models, extensions, logging_setup) are the "core".
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "domain": set(),
    "storage": {"core"},
    "crypto": {"core", "storage"},
    "evidence": {"core", "domain", "crypto", "storage"},
    "services": {"core", "domain", "crypto", "storage", "evidence"},
    "jobs": {"core", "domain", "crypto", "storage", "evidence", "services"},
    "web": {"core", "domain", "crypto", "storage", "evidence", "services", "jobs"},
    "cli": {"core", "domain", "crypto", "storage", "evidence", "services", "jobs", "web", "app"},
    "app": {"core", "domain", "crypto", "storage", "evidence", "services", "jobs", "web", "cli"},
}
CORE = {"config", "db", "models", "extensions", "logging_setup"}
REQUEST_GLOBALS = {"request", "g", "session"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "app"
    if parts[1] in CORE:
        return "core"
    if parts[1] in ALLOWED:
        return parts[1]
    raise AssertionError(f"{module} is in no layer: add it to one of {sorted(ALLOWED)}")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[tuple[str, set[str], int]]:
    """(imported module, names taken from it, line) for every import that runs."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, set[str], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, set(), node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, {alias.name for alias in node.names}, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def portal_edges() -> dict[str, set[str]]:
    """Module -> the portal modules it imports (``from portal.x import y`` counts ``portal.x.y``
    when ``y`` is a module)."""
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, names, _line in imports_of(path):
            if target != "portal" and not target.startswith("portal."):
                continue
            targets = {f"{target}.{item}" for item in names if f"{target}.{item}" in MODULES}
            if not targets or target != "portal":
                targets.add(target)
            edges[name] |= {t for t in targets if t in MODULES and t != name}
    return edges


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_downwards(module: str) -> None:
    layer = layer_of(module)
    allowed = ALLOWED[layer] | {layer}
    for target, names, line in imports_of(MODULES[module]):
        if target != "portal" and not target.startswith("portal."):
            continue
        targets = [f"portal.{item}" for item in names] if target == "portal" else [target]
        for imported in targets:
            imported_layer = layer_of(imported) if imported in MODULES else layer_of(target)
            assert imported_layer in allowed, (
                f"{module} ({layer}) imports {imported} ({imported_layer}) at line {line}: "
                f"{layer} may only import {sorted(allowed)}"
            )


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if layer_of(m) not in {"core", "web", "cli", "app"})
)
def test_below_web_nothing_reads_the_request(module: str) -> None:
    for target, names, line in imports_of(MODULES[module]):
        assert not (target == "flask" and names & REQUEST_GLOBALS), (
            f"{module} imports {sorted(names & REQUEST_GLOBALS)} from flask at line {line}: "
            "take what the request holds as arguments instead"
        )


def test_no_import_cycles() -> None:
    edges = portal_edges()
    # The factory package sits above everything; the command line asks it for an app when a
    # command runs. Edges into it are the factory being called, not a layer being crossed.
    for targets in edges.values():
        targets.discard("portal")
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rules above must be able to fail: a domain module importing a service is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from portal.services import audit\n")
    (target, _names, _line), *_ = imports_of(bad)
    assert layer_of(target) == "services" and "services" not in ALLOWED["domain"]
