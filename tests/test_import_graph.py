"""The layout's import rules (README, "How it works"), read from the source with `ast`, imports inside functions
included: no import cycle between modules, dependencies pointing one way between packages, no module importing
another's `_private` names."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "storage", "inference", "accounts", "modes", "ocr", "ocrjobs", "deepread", "devtools")

# What each package may import of the others. `deepread` is the project package (settings, URLs, processes): it
# wires the apps together, so it may import them all and nothing imports it.
ALLOWED: dict[str, set[str]] = {
    "inference": set(),
    "core": set(),
    "storage": {"core"},
    "accounts": {"core"},
    "modes": {"core", "accounts", "inference"},
    "ocr": {"core", "accounts", "modes", "inference", "ocrjobs"},
    "ocrjobs": {"core", "storage", "accounts", "modes", "ocr", "inference"},
    "deepread": {"core", "storage", "accounts", "modes", "ocr", "ocrjobs", "inference"},
    # The helpers of the tests, benches and scripts start the project's processes (deepread.processes) and use
    # the engines; no application package may import them (none lists "devtools").
    "devtools": {"inference", "deepread"},
}
# The jobs app's modules other packages may import (besides deepread.urls): the usage log and Idempotency-Key,
# which the synchronous API shares with the job API. Everything else in ocrjobs is its own business.
JOBS_PUBLIC = {"ocrjobs.idempotency", "ocrjobs.usage"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> Iterator[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every absolute import of a project module in `path`."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield (full, None) if full in MODULES else (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


GRAPH: dict[str, set[str]] = {
    name: {target for imported, _ in _imports(path) if (target := _resolve(imported)) and target != name}
    for name, path in MODULES.items()
}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
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


def test_the_scan_sees_the_whole_project():
    assert {"core.errors", "storage.objects", "ocr.services", "ocrjobs.tasks", "inference.base"} <= set(MODULES)
    assert "ocrjobs.services" in GRAPH["ocrjobs.tasks"] or any(m.startswith("ocrjobs.") for m in GRAPH["ocrjobs.tasks"])


def test_no_import_cycle_between_modules():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_point_one_way(package):
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if name.split(".")[0] == package
        for target in targets
        if (other := target.split(".")[0]) != package and other not in ALLOWED[package]
    )
    assert wrong == []


def test_nothing_reaches_into_the_jobs_app():
    reaching = sorted(
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if not name.startswith(("ocrjobs", "deepread.urls"))
        for target in targets
        if target.startswith("ocrjobs") and target not in JOBS_PUBLIC
    )
    assert reaching == []


def test_no_module_imports_another_modules_private_names():
    private = sorted(
        f"{name}: from {imported} import {taken}"
        for name, path in MODULES.items()
        for imported, taken in _imports(path)
        if taken and taken.startswith("_") and _resolve(imported) not in (None, name)
    )
    assert private == []
