"""The layout is the architecture: no import circles, and the engine's layers import downward only.

Imports are read from the source (``ast``), so the test sees every import a module
can make, not only the ones one code path happens to run. Imports under
``if TYPE_CHECKING:`` are left out: they exist for annotations and never run.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("lbtui", "virnucpro_bridge")

# The engine's layers, lowest first (virnucpro_bridge/__init__.py says why). A module
# may import its own layer and any layer before it in this list, never one after it.
ENGINE_LAYERS = (
    ("errors",),
    ("policy",),
    ("options",),
    ("control",),
    ("hardware",),
    ("inputs",),
    ("runfiles",),
    ("tasks",),
    ("coordinator",),
    ("backends",),
    ("alerts",),
    ("runner",),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` (at ``path``) imports, resolved to module names."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        # The longest prefix that is a project module: "a.b.C" names a class in module a.b.
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _type_checking_only(node):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES:
                        add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                if stem.split(".")[0] not in PACKAGES:
                    continue
                for alias in node.names:  # "from pkg import module" names a module
                    add(f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], (ast.stmt, ast.excepthandler)):
                    visit(inner)  # imports inside functions, try/except, with blocks

    visit(ast.parse(path.read_text(), str(path)).body)
    return found


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imported_names(path, name, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def engine_layer(name: str) -> int | None:
    parts = name.split(".")
    if parts[0] != "virnucpro_bridge" or len(parts) < 2:
        return None
    for rank, layer in enumerate(ENGINE_LAYERS):
        if parts[1] in layer:
            return rank
    raise AssertionError(f"{name}: not in any engine layer; add it to ENGINE_LAYERS and the package docstring")


def test_the_graph_sees_imports() -> None:
    graph = import_graph()
    assert "virnucpro_bridge.policy.stealing" in graph["virnucpro_bridge.coordinator.coordinator"]
    assert "virnucpro_bridge.runfiles.reader" in graph["lbtui.report.page"]


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_circles_are_found() -> None:
    """The finder itself: a made-up graph with one circle of three and a self-contained tail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_engine_imports_only_downward() -> None:
    graph = import_graph()
    upward = {}
    for module, targets in sorted(graph.items()):
        rank = engine_layer(module)
        if rank is None:
            continue
        bad = [t for t in sorted(targets) if (r := engine_layer(t)) is not None and r > rank]
        if bad:
            upward[module] = bad
    assert upward == {}, f"modules importing a higher layer: {upward}"


def test_the_engine_never_imports_lbtui() -> None:
    graph = import_graph()
    bad = {m: sorted(t for t in targets if t.startswith("lbtui"))
           for m, targets in graph.items() if m.startswith("virnucpro_bridge")}
    assert {m: t for m, t in bad.items() if t} == {}
