"""The warehouse: a DuckLake of the tables declared in `schemas/`.

`warehouse.connect(path)` is the analysts' entry point: a read-only DuckDB connection with
every table and convenience view by name; `warehouse.search(con, "diffusion 视频")` ranks the
papers that match words, as `arxiv-digests search` does.
"""

from warehouse.query import connect
from warehouse.search import search

__all__ = ["connect", "search"]
