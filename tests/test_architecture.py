"""The package's layers (docs/architecture.md): imports point down, no cycles, small modules.

Every dependency in ``src/`` is read with :mod:`ast`:

- ``import`` statements at any depth, those inside functions included (a lazy import is
  still a dependency), and those under ``if TYPE_CHECKING:`` (they never run, but a cycle
  through them is still a cycle: the two modules cannot be read, tested or moved apart);
- ``importlib.import_module(...)`` calls whose module is a string literal, or an f-string
  built from ``__name__`` and the names of a ``for`` loop over string literals;
- every string literal that is exactly the name of a package module: the targets of the lazy
  exports declared in ``__init__.py`` files (:func:`telescopeml.lazy.lazy_exports`) and of
  ``importlib.resources.files("telescopeml.data")``.

``import a.b.c`` depends on ``a.b.c``, not on the packages above it (their ``__init__`` only
declares lazy exports); ``from a import b`` depends on ``a.b`` when it is a module, on ``a``
otherwise.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "telescopeml"

#: Layers from the bottom up, as docs/architecture.md lists them; a module may import from
#: its own layer and those below. The first matching prefix decides a module's layer.
LAYERS: list[tuple[str, ...]] = [
    ("telescopeml.errors", "telescopeml.cache", "telescopeml.lazy", "telescopeml.tomlio",
     "telescopeml.jsonio",
     "telescopeml.extras", "telescopeml.parameters", "telescopeml.vocabulary",
     "telescopeml.version", "telescopeml.progress"),
    ("telescopeml.data",),
    ("telescopeml.models",),
    ("telescopeml.bundle", "telescopeml.empirical", "telescopeml.mismatch", "telescopeml.inference",
     "telescopeml.prediction", "telescopeml.predict", "telescopeml.pretrained",
     "telescopeml.tables"),
    ("telescopeml.evaluation",),
    ("telescopeml.plots",),
    ("telescopeml.training",),
    ("telescopeml.explore", "telescopeml.report", "telescopeml.values", "telescopeml.demo",
     "telescopeml.cli"),
]
#: The package's ``__init__`` only declares lazy exports; it sits above everything.
TOP = "telescopeml"
#: Kinds of dependency (see the module's docstring).
IMPORT, TYPE_ONLY, DYNAMIC, NAMED = "import", "TYPE_CHECKING import", "import_module", "string"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    if module == TOP:
        return len(LAYERS)
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return found


def _loop_values(tree: ast.AST) -> dict[int, dict[str, list[str]]]:
    """For each node inside ``for NAME in ("a", "b"):``, the values NAME takes there."""
    values: dict[int, dict[str, list[str]]] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.For) and isinstance(node.target, ast.Name)
                and isinstance(node.iter, (ast.Tuple, ast.List))
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                        for e in node.iter.elts)):
            for stmt in node.body:
                for n in ast.walk(stmt):
                    values.setdefault(id(n), {})[node.target.id] = [
                        e.value for e in node.iter.elts]
    return values


def _strings(node: ast.expr, me: str, loops: dict[str, list[str]]) -> list[str] | None:
    """The values of a string expression: a literal, or an f-string of ``__name__`` and loop
    names; None when it cannot be known without running the code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if not isinstance(node, ast.JoinedStr):
        return None
    out = [""]
    for part in node.values:
        if isinstance(part, ast.Constant):
            out = [o + str(part.value) for o in out]
        elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
            name = part.value.id
            options = [me] if name == "__name__" else loops.get(name)
            if options is None:
                return None
            out = [o + v for o in out for v in options]
        else:
            return None
    return out


def _is_import_module(call: ast.Call) -> bool:
    func = call.func
    return ((isinstance(func, ast.Attribute) and func.attr == "import_module")
            or (isinstance(func, ast.Name) and func.id == "import_module"))


def imports_of(path: Path, modules: set[str], me: str | None = None) -> dict[str, str]:
    """The package modules that ``path`` (module ``me``) depends on, each with its strongest
    kind (a plain import wins over a TYPE_CHECKING one)."""
    tree = ast.parse(path.read_text(), str(path))
    type_only = _type_checking_nodes(tree)
    loops = _loop_values(tree)
    me = me or module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: dict[str, str] = {}

    def add(name: str, kind: str, exact: bool = False) -> None:
        if exact and (name not in modules or "." not in name):  # "telescopeml" is a word too
            return
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name != me and found.get(name) in (None, TYPE_ONLY):
            found[name] = kind

    for node in ast.walk(tree):
        kind = TYPE_ONLY if id(node) in type_only else IMPORT
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, kind)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base, kind)
        elif isinstance(node, ast.Call) and _is_import_module(node) and node.args:
            for name in _strings(node.args[0], me, loops.get(id(node), {})) or ():
                add(name, DYNAMIC)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            add(node.value, NAMED, exact=True)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, str]]:
    paths = sorted((SRC / PACKAGE).rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def test_the_graph_sees_every_kind_of_dependency(graph, tmp_path):
    """The reader above finds the dependencies the cycle test relies on."""
    assert graph[TOP]["telescopeml.data.formats"] == NAMED  # a lazy export
    assert graph["telescopeml.data.readers"]["telescopeml.data.readers.fits"] == DYNAMIC
    path = tmp_path / "a.py"
    path.write_text("from typing import TYPE_CHECKING\nimport importlib\n"
                    "if TYPE_CHECKING:\n    from telescopeml.b import X\n"
                    "def f():\n    return importlib.import_module('telescopeml.c')\n"
                    "EXPORTS = {'Y': 'telescopeml.d'}\n")
    modules = {f"{PACKAGE}.{m}" for m in "abcd"}
    assert imports_of(path, modules, f"{PACKAGE}.a") == {
        "telescopeml.b": TYPE_ONLY, "telescopeml.c": DYNAMIC, "telescopeml.d": NAMED}


def test_every_import_points_down(graph):
    """Direction is checked for the imports that run; a TYPE_CHECKING import may name a type
    from above (it never runs), but it still counts for cycles."""
    upward = [f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
              for m, deps in graph.items() for d, kind in sorted(deps.items())
              if kind != TYPE_ONLY and d != TOP and layer(d) > layer(m)]
    assert not upward, "\n".join(upward)


def find_cycles(deps: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle through each back edge of a depth-first search (empty when there is none)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(deps.get(module, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(deps):
        if module not in state:
            visit(module, [module])
    return cycles


def test_find_cycles_finds_them():
    assert find_cycles({"a": {"b": IMPORT}, "b": {"c": TYPE_ONLY}, "c": {"a": NAMED}}) == [
        ["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b": IMPORT}, "b": {}}) == []


def test_no_import_cycles(graph):
    """No cycle of any kind of dependency, the package's own ``__init__`` included."""
    cycles = find_cycles(graph)
    assert not cycles, "\n".join(
        " -> ".join(f"{a} ={graph[a][b]}=>" for a, b in itertools.pairwise(c)) + f" {c[-1]}"
        for c in cycles)


def test_inference_loads_no_training_code():
    code = ("import sys, telescopeml.predict, telescopeml.pretrained; "
            "print(sorted(m for m in sys.modules if m.startswith(('telescopeml.training', "
            "'telescopeml.evaluation')) or m in ('torch', 'optuna', 'sklearn')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert run.stdout.strip() == "[]", run.stdout


def test_no_module_is_over_500_lines():
    long = {str(p.relative_to(SRC)): n for p in (SRC / PACKAGE).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long
