"""The shape of the package (ARCHITECTURE.md): layers, no import loop, small modules.

Read from the source with ``ast`` (nothing is imported), every import counted: module level,
inside functions (lazy imports) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "pytest_tokenbudget"
PACKAGE = "pytest_tokenbudget"
MAX_LINES = 400

#: The floors a usage record climbs (ARCHITECTURE.md): a module may import its own floor or
#: lower ones, never a higher one. Keys are module names or package prefixes.
FLOORS = {
    "usage": 0,
    "buckets": 0,
    "lazy": 0,
    "version": 0,
    "installed": 0,
    "fmt": 0,
    "atomicfile": 0,
    "onimport": 0,
    "filelock": 0,
    "inert": 0,
    "labels": 0,
    "metrics": 0,
    "parsers": 0,
    "config": 1,
    "records": 1,
    "environment": 1,
    "pricing": 1,
    "tokenizer": 1,
    "providers": 1,
    "report": 2,
    "projection": 2,
    "tracker": 2,
    "sums": 1,
    "attribution": 2,
    "capture": 3,
    "threads": 3,
    "gate": 3,
    "run": 3,
    "protection": 4,
    "files": 4,
    "render": 5,
    "plugin": 6,
    "cli": 6,
    "github": 6,
    "pytest_entry": 7,
    "": 7,  # the package's face, pytest_tokenbudget/__init__.py
}
#: Only the pytest glue may import pytest (or xdist); everything else runs without it.
PYTEST_GLUE = ("plugin", "pytest_entry")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every name imported by the module at ``path``: package-relative ("gate.budget") for
    ours, "<external> NAME" for others."""
    name = module_name(path)
    is_package = path.name == "__init__.py"
    here = name.split(".") if name else []
    if not is_package:
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == PACKAGE:
                    found.add(alias.name[len(PACKAGE) + 1 :])
                else:
                    found.add(f"<external> {top}")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
                if module.split(".")[0] == PACKAGE:
                    found.add(module[len(PACKAGE) + 1 :])
                else:
                    found.add(f"<external> {module.split('.')[0]}")
                continue
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else list(here)
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:  # `from . import x` may name a module
                candidate = f"{target}.{alias.name}" if target else alias.name
                found.add(candidate if _is_module(candidate) else target)
    return found


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def modules() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(SRC.rglob("*.py")):
        graph[module_name(path)] = imports_of(path)
    return graph


def floor(name: str) -> int:
    key = name
    while key not in FLOORS:
        key = key.rpartition(".")[0]
    return FLOORS[key]


def test_every_module_has_a_floor() -> None:
    for name in modules():
        top = name.split(".")[0] if name else ""
        assert top in FLOORS or name in FLOORS, f"{name}: add it to FLOORS (and ARCHITECTURE.md)"


def test_no_module_imports_a_higher_floor() -> None:
    wrong = [
        f"{name} (floor {floor(name)}) imports {dep} (floor {floor(dep)})"
        for name, deps in modules().items()
        for dep in sorted(deps)
        if not dep.startswith("<external>") and floor(dep) > floor(name)
    ]
    assert wrong == []


def test_no_import_loop() -> None:
    graph = {
        name: {d for d in deps if not d.startswith("<external>") and d != name}
        for name, deps in modules().items()
    }
    # a package's own __init__ importing its submodules is not a loop back to it
    loops = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if node and dep.startswith(node + "."):
                continue  # a package importing its own submodules
            if state.get(dep) == 1:
                loops.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert loops == []


def test_only_the_pytest_glue_imports_pytest() -> None:
    wrong = [
        name
        for name, deps in modules().items()
        if {"<external> pytest", "<external> _pytest", "<external> xdist"} & deps
        and not name.startswith(PYTEST_GLUE)
    ]
    assert wrong == []


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: module_name(p) or "/")
def test_module_is_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines; split it by responsibility"


def test_the_checks_see_imports() -> None:
    """The walk itself: relative, lazy and package imports are all seen."""
    graph = modules()
    assert "usage" in graph["tracker"]
    assert "gate.budget" in graph["protection"]
    assert "files.baseline" in graph["plugin.session"]  # a lazy import inside a method
    assert "<external> pytest" in graph["plugin"]


def test_plugin_import_stays_light() -> None:
    """Every pytest run imports the plugin: only its options are loaded then; the run's
    machinery when the run is configured, the file format (msgspec, the records), the
    renderers and the comparison when a run ends."""
    code = (
        "import sys, pytest, pytest_tokenbudget.pytest_entry\n"
        "heavy = ('msgspec', 'pytest_tokenbudget.records', 'pytest_tokenbudget.report',\n"
        "         'pytest_tokenbudget.render', 'pytest_tokenbudget.files',\n"
        "         'pytest_tokenbudget.gate.regression', 'pytest_tokenbudget.capture',\n"
        "         'pytest_tokenbudget.providers', 'pytest_tokenbudget.usage',\n"
        "         'pytest_tokenbudget.tracker', 'pytest_tokenbudget.gate',\n"
        "         'pytest_tokenbudget.pricing', 'pytest_tokenbudget.run',\n"
        "         'pytest_tokenbudget.protection', 'pytest_tokenbudget.attribution',\n"
        "         'pytest_tokenbudget.plugin.session')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_lazy_name_follows_its_module_when_it_is_imported_anew(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pytester's in-process runs restore ``sys.modules`` after each run: a module first
    imported inside one is imported anew in the next, and the package's lazy names must give
    that module's classes (a stale ``BudgetExceeded`` is not the one spend protection raises)."""
    import importlib

    import pytest_tokenbudget

    first = pytest_tokenbudget.BudgetExceeded
    monkeypatch.delitem(sys.modules, "pytest_tokenbudget.gate.budget")
    anew = importlib.import_module("pytest_tokenbudget.gate.budget")
    assert anew.BudgetExceeded is not first
    assert pytest_tokenbudget.BudgetExceeded is anew.BudgetExceeded
