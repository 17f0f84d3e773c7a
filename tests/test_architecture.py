"""The package's layers (docs/architecture.md): imports point down, no cycles, small modules.

Every ``import`` in ``src/`` is read with :mod:`ast`, those inside functions included (a lazy
import is still a dependency); only imports under ``if TYPE_CHECKING:`` are left out, since
they never run.
"""

from __future__ import annotations

import ast
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
     "telescopeml.extras", "telescopeml.parameters", "telescopeml.vocabulary",
     "telescopeml.version"),
    ("telescopeml.data",),
    ("telescopeml.models",),
    ("telescopeml.bundle", "telescopeml.empirical", "telescopeml.mismatch", "telescopeml.inference",
     "telescopeml.prediction", "telescopeml.predict", "telescopeml.pretrained",
     "telescopeml.tables"),
    ("telescopeml.evaluation",),
    ("telescopeml.plots",),
    ("telescopeml.training",),
    ("telescopeml.explore", "telescopeml.report", "telescopeml.demo", "telescopeml.cli"),
]
#: The package's ``__init__`` only declares lazy exports; it sits above everything.
TOP = "telescopeml"


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
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules that ``path`` imports, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_nodes(tree)
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != me:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = sorted((SRC / PACKAGE).rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def test_every_import_points_down(graph):
    upward = [f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
              for m, deps in graph.items() for d in sorted(deps)
              if d != TOP and layer(d) > layer(m)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles(graph):
    deps = {m: {d for d in ds if d != TOP} for m, ds in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(deps.get(module, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep] if dep in path else [module, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(deps):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_inference_loads_no_training_code():
    code = ("import sys, telescopeml.predict, telescopeml.pretrained; "
            "print(sorted(m for m in sys.modules if m.startswith(('telescopeml.training', "
            "'telescopeml.evaluation')) or m in ('torch', 'optuna', 'sklearn')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert run.stdout.strip() == "[]", run.stdout


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(SRC)): n for p in (SRC / PACKAGE).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long
