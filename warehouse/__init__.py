"""The warehouse: a DuckLake of the tables declared in `schemas/`.

`warehouse.connect(path)` is the analysts' entry point: a read-only DuckDB connection with
every table and convenience view by name.
"""

from warehouse.query import connect

__all__ = ["connect"]
