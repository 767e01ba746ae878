"""The rooms of the code and the arrows between them, from the import graph grimp draws (every
import counts: at the top, inside a function, or under TYPE_CHECKING).

- No module takes part in an import cycle.
- `flows/` rooms import downwards only, in the order of `ROOMS` (the pipeline's own order).
- Only `warehouse/` imports DuckDB, holds SQL or touches a connection: storage has one door.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("flows", "schemas", "warehouse")
# Lowest first: a room may import from the rooms before it, never from those after it.
ROOMS = (
    "flows.common",
    "flows.digests",
    "flows.settings",
    "flows.enrichment",
    "flows.operations",
    "flows.pipeline",
    "flows.cli",
    "flows.__main__",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def internal(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Each of our modules and the modules of ours it imports."""
    ours = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    return {m: graph.find_modules_directly_imported_by(m) & ours for m in ours}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), or of one that
    imports itself: each is a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles(graph):
    assert cycles(internal(graph)) == []


def room_of(module: str) -> int | None:
    for rank, room in enumerate(ROOMS):
        if module == room or module.startswith(room + "."):
            return rank
    return None


def test_rooms_import_downwards_only(graph):
    upward = [
        f"{importer} -> {imported}"
        for importer, imports in internal(graph).items()
        for imported in imports
        if (low := room_of(importer)) is not None
        and (high := room_of(imported)) is not None
        and high > low
    ]
    assert upward == []


def test_every_flows_module_has_a_room(graph):
    homeless = [
        m
        for m in internal(graph)
        if m.startswith("flows.") and room_of(m) is None and m != "flows.__init__"
    ]
    assert homeless == []


def test_only_the_warehouse_imports_duckdb(graph):
    importers = graph.find_modules_that_directly_import("duckdb")
    assert sorted(m for m in importers if not m.startswith("warehouse")) == []


SQL = re.compile(
    r"^\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|WITH|COPY)\s", re.I
)


def sql_outside_the_warehouse() -> list[str]:
    """Where a module of `flows/` holds a statement or reaches for a lake's connection."""
    found = []
    for path in sorted(ROOT.joinpath("flows").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and SQL.match(text):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text.split()[0]}")
            if isinstance(node, ast.Attribute) and node.attr == "con":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .con")
    return found


def test_no_sql_and_no_connection_outside_the_warehouse():
    assert sql_outside_the_warehouse() == []
