"""Code a newcomer can read in one sitting: short functions, modules of one job."""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

PRODUCT = sorted(p for pkg in ("flows", "schemas", "warehouse") for p in (ROOT / pkg).rglob("*.py"))
MAX_FUNCTION_LINES = 50  # decorators and docstring included
MAX_MODULE_LINES = 400


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_and_modules_stay_small(path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES, "split the module by job"
    long = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            size = (node.end_lineno or node.lineno) - first + 1
            if size > MAX_FUNCTION_LINES:
                long.append(f"{node.name}: {size} lines")
    assert long == [], "split these into named steps"
