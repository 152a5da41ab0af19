"""The library's modules import each other without circles, and none imports another's private names.

The graph is read from the source with `ast`: every `import` and `from ... import` of a
`sggft_meta` module, at module level and inside functions alike (a lazy import is a circle
all the same, merely deferred), but not those under `if TYPE_CHECKING:` (they never run). An
import of a package's name that is a submodule (`from . import aligners`) is an edge to that
submodule; importing a submodule does not count as importing its parent package's `__init__`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sggft_meta

ROOT = Path(sggft_meta.__file__).parent
PACKAGE = "sggft_meta"
#: on their way out of the library (to benchmarks/): not part of its import graph
LEAVING = ()  # the harness lives in benchmarks/sggft_bench, outside the library


def module_names() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if not any(name == m or name.startswith(m + ".") for m in LEAVING):
            out[name] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _resolve(module: str, level: int, here: str, modules: dict[str, Path]) -> str:
    if level == 0:
        return module
    base = here.split(".")
    if not _is_package(here, modules):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports_of(name: str, modules: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in module `name`."""
    tree = ast.parse(modules[name].read_text(encoding="utf-8"))
    skip = _type_checking_blocks(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", node.level, name, modules)
            found.append((target, [alias.name for alias in node.names], node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name in modules:
        for target, names, _ in imports_of(name, modules):
            if not (target == PACKAGE or target.startswith(PACKAGE + ".")):
                continue
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            if subs:
                graph[name].update(subs)  # `from pkg import submodule`
            if len(subs) < len(names) or not names:
                while target not in modules and "." in target:  # `import pkg.mod.attr` style
                    target = target.rsplit(".", 1)[0]
                if target in modules:
                    graph[name].add(target)
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path_within(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One circle through the component, for the failure message."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return component


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "sggft_meta.align.aligners" in graph["sggft_meta.align"]  # `from . import aligners`
    assert "sggft_meta.model.loading" in graph["sggft_meta.outer_step"]  # inside __init__
    assert "sggft_meta.io" in graph["sggft_meta.checkpoint"]
    assert "sggft_meta.align.base" not in graph["sggft_meta.align.registry"]  # under TYPE_CHECKING


def test_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    graph = import_graph()
    found = [" -> ".join(_path_within(graph, c)) for c in cycles(graph)]
    assert not found, "import circles in the library:\n" + "\n".join(found)


def test_no_private_names_imported_across_modules():
    modules = module_names()
    bad = []
    for name in modules:
        for target, names, line in imports_of(name, modules):
            if not target.startswith(PACKAGE) or target == name:
                continue
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            private += [p for p in target.split(".") if p.startswith("_") and p != "__init__"]
            if private:
                bad.append(f"{modules[name].relative_to(ROOT.parent)}:{line} imports {', '.join(private)} from {target}")
    assert not bad, "\n".join(bad)
