"""Keeping the product's own processes lean.

pyarrow, when pandas is installed, imports it the first time it turns a Python list into
Arrow (to ask whether the list is a pandas object): about 50 MB of memory and half a second
of CPU in every process that loads rows, and nothing in the product uses pandas."""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class _NoPandas(importlib.abc.MetaPathFinder):
    """A finder that fails every import of pandas, as if it were not installed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Raise for pandas and its modules; leave every other module to the next finder."""
        if fullname.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("arxiv-digests does not use pandas", name=fullname)
        return None


def without_pandas() -> None:
    """Make `import pandas` fail in this process, unless pandas is loaded already. Only for
    processes the product starts itself, the command line and its parse workers: a program
    that imports the flows as a library keeps its pandas."""
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())
