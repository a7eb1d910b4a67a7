"""The package's import graph has no cycle and runs one way between wings, counting
function-level and TYPE_CHECKING imports."""

from __future__ import annotations

import ast

from generator import REPO_ROOT

PACKAGE = REPO_ROOT / "generator"


def _imports(path) -> set[str]:
    """generator.* modules a file imports anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("generator."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "generator":
                found.update(f"generator.{a.name}" for a in node.names)
            elif node.module.startswith("generator."):
                found.add(node.module)  # and `from generator.wing import module`:
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def module_name(path) -> str:
    """generator/rules/__init__.py -> generator.rules; generator/rules/modal.py -> generator.rules.modal."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as [a, b, ..., a], or [] when the graph is acyclic (depth-first search)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_the_generator_package_has_no_import_cycle():
    graph = import_graph()
    assert "generator.operate.plan" in graph and graph["generator.operate.plan"], "graph not read"
    assert find_cycle(graph) == [], " -> ".join(find_cycle(graph))


# The wings from the bottom up (README, "How it is built"): a module may import its own wing and
# those below it. errors.py and the package's paths are read by all.
WINGS = [
    "catalog",
    "profile",
    "sglang",
    "capacity",
    "rules",
    "render",
    "pipeline",
    "endpoint",
    "operate",
    "cli",
]
BASE = {"generator", "generator.errors"}


def _wing(module: str) -> str:
    return module.split(".")[1]


def test_imports_run_down_the_wings():
    graph = import_graph()
    climbs = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module not in BASE | {"generator.__main__"}
        for target in targets - BASE
        if WINGS.index(_wing(target)) > WINGS.index(_wing(module))
    ]
    assert climbs == []


def test_every_module_is_in_a_wing():
    modules = set(import_graph()) - BASE - {"generator.__main__"}
    assert {_wing(m) for m in modules} == set(WINGS)
