"""The package's shape: no import circles, a small root, and a client built by composition."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "axorders"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module ``name`` imports, type-only imports and function bodies included."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import module`` imports that module; any other name comes
            # from ``base`` itself.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for named in targets:
            # The deepest project module the import names.
            target = named
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles_type_only_imports_included() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_the_root_keeps_the_vocabulary_and_the_subpackages() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 16, modules
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert {"client", "session", "sim", "wire", "cli"} <= packages


def test_no_class_of_the_client_is_assembled_from_several_project_classes() -> None:
    for path in (PACKAGE / "client").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                project = [b for b in bases if b not in ("Protocol", "picows.WSListener")]
                assert len(project) <= 1, f"{path.name}: {node.name}({', '.join(bases)})"


def test_the_session_is_fed_only_through_the_gate() -> None:
    """No part of the client calls one of the session's inputs but the gate."""
    inputs = {
        "receive",
        "send",
        "tick",
        "connection_made",
        "connection_lost",
        "restore",
        "receive_fills",
        "receive_rest_status",
        "receive_rest_cancel_all",
        "withdraw",
        "reject",
        "register_external_order",
        "cache_instrument",
        "extend_deadlines",
        "trigger_stop",
        "update_market",
    }
    offenders = []
    for path in (PACKAGE / "client").glob("*.py"):
        if path.name in ("gate.py", "stops.py"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in inputs:
                owner = ast.unparse(node.value)
                if owner.endswith(("session", "_session", "stops", "_stops")):
                    offenders.append(f"{path.name}:{node.lineno} {owner}.{node.attr}")
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    text = ast.unparse(target)
                    if text.endswith(("session.account_id", "_session.account_id")):
                        offenders.append(f"{path.name}:{node.lineno} {text} =")
    assert offenders == []
