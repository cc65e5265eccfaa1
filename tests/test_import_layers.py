"""The layout is the architecture: no import circles, and the engine's layers import downward only.

Imports are read from the source (``ast``), so the test sees every import a module
can make, not only the ones one code path happens to run. Imports under
``if TYPE_CHECKING:`` count too: they never run, but a circle through them is still
two modules that each need the other to be read, and a type checker follows them.
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


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    found = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def imported_names(path: Path, name: str, modules: dict[str, Path],
                   packages: tuple[str, ...] = PACKAGES) -> set[str]:
    """Project modules that ``name`` (at ``path``) imports, resolved to module names,
    wherever the import stands (functions, try, ``if TYPE_CHECKING:`` ...)."""
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
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in packages:
                        add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                if stem.split(".")[0] not in packages:
                    continue
                for alias in node.names:  # "from pkg import module" names a module
                    add(f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], (ast.stmt, ast.excepthandler)):
                    visit(inner)  # imports inside functions, if (TYPE_CHECKING too), try/except, with

    visit(ast.parse(path.read_text(), str(path)).body)
    return found


def build_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for ``packages`` under ``root``."""
    modules = all_modules(root, packages)
    return {name: imported_names(path, name, modules, packages) for name, path in modules.items()}


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    return build_graph(REPO, PACKAGES)


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
    assert "virnucpro_bridge.inputs.units" in graph["virnucpro_bridge.runfiles.reader"]  # under TYPE_CHECKING


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_circles_are_found() -> None:
    """The finder itself: a made-up graph with one circle of three and a self-contained tail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_a_circle_through_type_checking_imports_is_found(tmp_path: Path) -> None:
    """A package whose two modules import each other, one only for annotations
    (``if typing.TYPE_CHECKING:``), and a third that imports one of them inside a function."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "engine.py").write_text("from __future__ import annotations\n\nimport typing\n\n"
                                   "if typing.TYPE_CHECKING:\n    from .views import View\n")
    (pkg / "views.py").write_text("from typing import TYPE_CHECKING\n\nfrom pkg.engine import Engine\n\n"
                                  "if TYPE_CHECKING:\n    pass\n")
    (pkg / "cli.py").write_text("def main():\n    from . import views\n")
    graph = build_graph(tmp_path, ("pkg",))
    assert graph["pkg.engine"] == {"pkg.views"} and graph["pkg.cli"] == {"pkg.views"}
    assert circles(graph) == [["pkg.engine", "pkg.views"]]


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
