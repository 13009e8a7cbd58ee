"""The imports of handprop/ and verify/ keep to docs/architecture.md: layers, peer rules, no circles.

The layers and rules are read from the page itself (one statement of them), and every import is
read from the source with ``ast``: module-level and lazy (inside a function) alike, relative ones
resolved, ``from package import submodule`` counted as an import of the submodule.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

PAGE = REPO / "docs" / "architecture.md"
PACKAGES = ("handprop", "verify")
BACKTICKED = re.compile(r"`([\w.*]+)`")


def modules() -> dict[str, Path]:
    """Dotted module name → file, for every .py under handprop/ and verify/ (a package is its __init__)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = modules()


def imports(module: str) -> list[tuple[str, int]]:
    """(imported module of this house, line) for every import statement in ``module``'s file."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{name}.{a.name}" if f"{name}.{a.name}" in MODULES else name for a in node.names]
        else:
            continue
        for target in targets:
            while target not in MODULES and "." in target:  # an attribute of a module: the module
                target = target.rsplit(".", 1)[0]
            if target in MODULES and target != module and (target, node.lineno) not in out:
                out.append((target, node.lineno))
    return out


def matches(pattern: str, module: str) -> bool:
    if pattern.endswith(".*"):
        stem = pattern[:-2]
        return module == stem or module.startswith(stem + ".")
    return module == pattern


def layers() -> list[tuple[str, list[str]]]:
    """[(layer name, module patterns)] from the ground up, as docs/architecture.md numbers them."""
    text = PAGE.read_text(encoding="utf-8").split("## The layers, from the ground up", 1)[1].split("\n## ", 1)[0]
    found = []
    for line in text.splitlines():
        m = re.match(r"\d+\. \*\*(.+?)\*\*:(.*)", line)
        if m:
            found.append((m.group(1), BACKTICKED.findall(m.group(2))))
    return found


def rules() -> list[tuple[str, list[str], list[str], str]]:
    """[(module pattern, forbidden patterns, exceptions, the line)] from the page's "never imports" lines."""
    found = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"- `([\w.*]+)` never imports (.*)", line)
        if m:
            forbidden, _, outside = m.group(2).partition(" outside ")
            found.append((m.group(1), BACKTICKED.findall(forbidden), BACKTICKED.findall(outside), line[2:]))
    return found


LAYERS = layers()


def layer_of(module: str) -> int:
    """The index of ``module``'s layer: the most specific pattern wins (exact over ``x.*``, longer over shorter)."""
    best, rank = -1, (-1, -1)
    for index, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if matches(pattern, module):
                r = (0 if pattern.endswith(".*") else 1, len(pattern))
                if r > rank:
                    best, rank = index, r
    return best


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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


GRAPH = {module: {target for target, _ in imports(module)} for module in MODULES}


def test_the_page_lists_layers_and_rules():
    assert [name for name, _ in LAYERS][:2] == ["ground", "engine"] and len(LAYERS) >= 6, LAYERS
    assert len(rules()) >= 5


def test_every_module_has_a_layer():
    """A new file is placed on the page before it can import anything."""
    unplaced = [module for module in MODULES if layer_of(module) < 0]
    assert not unplaced, f"not on any layer of docs/architecture.md: {', '.join(unplaced)}"


def test_no_import_runs_up_a_layer():
    upward = [
        f"{MODULES[m].relative_to(REPO)}:{line} imports {target} "
        f"({LAYERS[layer_of(m)][0]} must not import {LAYERS[layer_of(target)][0]})"
        for m in MODULES
        for target, line in imports(m)
        if layer_of(target) > layer_of(m)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r[3][:60])
def test_peer_rule(rule):
    source, forbidden, exceptions, text = rule
    broken = [
        f"{MODULES[m].relative_to(REPO)}:{line} imports {target}"
        for m in MODULES
        if matches(source, m)
        for target, line in imports(m)
        if any(matches(p, target) for p in forbidden) and not any(matches(p, target) for p in exceptions)
    ]
    assert not broken, f"against the rule '{text}':\n" + "\n".join(broken)


AREAS = {
    "handprop outside grading": lambda m: not m.startswith(("handprop.grading", "verify")),
    "handprop.grading": lambda m: m.startswith("handprop.grading"),
    "verify": lambda m: m.startswith("verify"),
}


@pytest.mark.parametrize("area", AREAS)
def test_no_import_circle(area):
    inside = AREAS[area]
    graph = {m: {t for t in targets if inside(t)} for m, targets in GRAPH.items() if inside(m)}
    found = circles(graph)
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_scan_sees_lazy_and_relative_imports():
    """The scanner itself: a lazy import inside a function and a relative one are both found."""
    assert "verify.backend" in GRAPH["handprop.backends"]  # lazy, inside make_backend
    assert "handprop.backend" in GRAPH["handprop.compiled"]  # relative, at the top
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_wrong_import_would_be_caught():
    """The layer check can fail: the trainer importing the API would run up three layers."""
    assert layer_of("handprop.training") < layer_of("handprop.api")
    assert layer_of("handprop.grading.sandbox.modes") == layer_of("handprop.grading")
    assert layer_of("handprop") == [name for name, _ in LAYERS].index("engine")
