"""The import rule of docs/ARCHITECTURE.md ("Layers and the import rule"), enforced.

The test reads every module of ``rsmodel/`` with :mod:`ast` (nothing is imported) and builds the
import graph: module-level and function-local imports alike, relative imports resolved, and
``from pkg import name`` counted as importing ``pkg.name`` when that is a module. It fails on
(a) an import cycle, (b) a ``_private`` name imported from another rsmodel module, and (c) a
module importing from a layer above its own.

Imports under ``if TYPE_CHECKING:`` never run: they count for the layer rule (a type from a
layer above is still a dependency on it) but not for cycles (annotations may name each other).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rsmodel"

# The layers, lowest first: a module may import from its own layer and the layers below it,
# never from a layer above. Keys are module names or package prefixes (the longest one wins).
# Same table as docs/ARCHITECTURE.md, "Layers and the import rule".
LAYERS: list[tuple[str, ...]] = [
    ("rsmodel.errors", "rsmodel.timeutil", "rsmodel.io", "rsmodel.progress", "rsmodel.version"),
    ("rsmodel.model",),
    ("rsmodel.geometry", "rsmodel.cells"),
    ("rsmodel.optimize",),
    ("rsmodel.plan",),
    ("rsmodel.compute", "rsmodel.report"),
    ("rsmodel.telescopes",),
    ("rsmodel.pipeline",),
    ("rsmodel.simulate", "rsmodel.studies"),
    ("rsmodel", "rsmodel.api", "rsmodel.cli", "rsmodel.service"),
]

# Cycles other branches of issue 14 are removing while this test lands. Each entry is the set of
# modules of one strongly connected component of the import graph. An entry that no longer
# matches a cycle fails the test, so the list can only shrink: empty it once those land.
KNOWN_CYCLES_PENDING: list[frozenset[str]] = []
# Private names imported across modules that a branch in flight removes: (importing module,
# name). Stale entries fail the test too.
KNOWN_PRIVATE_PENDING: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    """One imported module (and the name taken from it, if any) at a line of a module."""

    source: str
    target: str
    name: str | None
    line: int
    type_only: bool


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (``rsmodel.model.loader``)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The rsmodel imports of one module, wherever in the file they are."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typing_only = _type_checking_lines(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def owner(dotted: str) -> str:
        while dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted

    out = []
    for node in ast.walk(tree):
        found: list[tuple[str, str | None]] = []
        if isinstance(node, ast.Import):
            found = [(owner(a.name), None) for a in node.names if a.name.split(".")[0] == "rsmodel"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.split(".")[0] != "rsmodel":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, None) if sub in modules else (owner(base), alias.name))
        out += [
            Import(module, target, name, node.lineno, node.lineno in typing_only)
            for target, name in found
        ]
    return out


def import_graph(package: Path = PACKAGE) -> list[Import]:
    """Every rsmodel-internal import of every module of ``package``."""
    modules = module_files(package)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import), sorted."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.type_only:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
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
            if len(component) > 1 or v in graph[v]:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the longest key that is ``module`` or a package above it."""
    best, best_len = -1, -1
    for i, keys in enumerate(LAYERS):
        for key in keys:
            if (module == key or module.startswith(key + ".")) and len(key) > best_len:
                best, best_len = i, len(key)
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/ARCHITECTURE.md")
    return best


def private_imports(imports: list[Import]) -> list[Import]:
    """The imports that take a ``_private`` name (or module) from another module."""

    def private(part: str) -> bool:
        return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))

    return [
        i
        for i in imports
        if i.source != i.target
        and (any(map(private, i.target.split("."))) or (i.name is not None and private(i.name)))
    ]


def upward_imports(imports: list[Import], excused: list[frozenset[str]] = ()) -> list[str]:
    """``module:line: imports target (layer a > b)`` for each import from a layer above."""
    return [
        f"{i.source}:{i.line}: imports {i.target} "
        f"(layer {layer_of(i.target)} above {layer_of(i.source)})"
        for i in imports
        if layer_of(i.target) > layer_of(i.source)
        and not any({i.source, i.target} <= cycle for cycle in excused)
    ]


GRAPH = import_graph()


def test_the_graph_sees_every_kind_of_import(tmp_path):
    """Function-local, relative, ``from pkg import submodule`` and typing-only imports count."""
    pkg = tmp_path / "rsmodel"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "leaf.py").write_text("from . import sibling\n")
    (pkg / "low" / "sibling.py").write_text("def f():\n    from rsmodel.low.leaf import _hidden\n")
    (pkg / "top.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rsmodel.low import leaf\n"
    )
    imports = import_graph(pkg)
    edges = {(i.source, i.target, i.name, i.type_only) for i in imports}
    assert edges == {
        ("rsmodel.low.leaf", "rsmodel.low.sibling", None, False),
        ("rsmodel.low.sibling", "rsmodel.low.leaf", "_hidden", False),
        ("rsmodel.top", "rsmodel.low.leaf", None, True),
    }
    assert cycles(imports) == [["rsmodel.low.leaf", "rsmodel.low.sibling"]]
    assert [(i.source, i.line, i.name) for i in private_imports(imports)] == [
        ("rsmodel.low.sibling", 2, "_hidden")
    ]


def test_every_module_has_a_layer():
    for module in {i.source for i in GRAPH} | {i.target for i in GRAPH}:
        layer_of(module)


def test_no_import_cycles():
    found = [frozenset(c) for c in cycles(GRAPH)]
    new = [" <-> ".join(sorted(c)) for c in found if c not in KNOWN_CYCLES_PENDING]
    stale = [" <-> ".join(sorted(c)) for c in KNOWN_CYCLES_PENDING if c not in found]
    assert not new, "import cycles:\n" + "\n".join(new)
    assert not stale, "gone from the graph, delete from KNOWN_CYCLES_PENDING:\n" + "\n".join(stale)


def test_no_private_names_across_modules():
    found = private_imports(GRAPH)
    new = [
        f"{i.source}:{i.line}: {i.name or i.target} from {i.target}"
        for i in found
        if (i.source, i.name) not in KNOWN_PRIVATE_PENDING
    ]
    stale = KNOWN_PRIVATE_PENDING - {(i.source, i.name) for i in found}
    assert not new, "private names imported from another module:\n" + "\n".join(new)
    assert not stale, f"gone, delete from KNOWN_PRIVATE_PENDING: {sorted(stale)}"


def test_no_module_imports_from_a_layer_above():
    # An import inside a pending cycle is reported there (the cycle goes, and so does it).
    found = upward_imports(GRAPH, KNOWN_CYCLES_PENDING)
    assert not found, "imports from a layer above (docs/ARCHITECTURE.md):\n" + "\n".join(found)
