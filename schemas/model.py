"""How a table is declared. Everything else (Arrow schema, validation, DuckDB views, the data
dictionary in the README) is derived from these declarations, never written twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    """One column: its type, its meaning, and the rules every value must keep."""

    name: str
    type: pa.DataType
    doc: str
    required: bool = False  # null (or an empty string) is a reject, not a value
    # A regular expression every non-null value must match, or a function making it at
    # validation time (the newest valid arXiv ID moves with the calendar).
    pattern: str | Callable[[], str] | None = None
    enum: tuple[str, ...] | None = None  # the only values allowed, when not null
    pattern_doc: str = ""  # the pattern in words, for messages and docs
    not_future: bool = False  # a timestamp later than now (+1 day of clock skew) is a reject
    # What rows written before the column existed hold once it is added (SQL over the row;
    # None: null).
    filled: str | None = None

    def regex(self) -> str | None:
        """The pattern values must match, made now if it depends on the date."""
        return self.pattern() if callable(self.pattern) else self.pattern


@dataclass(frozen=True)
class Table:
    """One published table: its columns, its key, and what a row is."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    compression: str | None = None  # Parquet compression of its files (None: DuckLake's)
    # Whether DuckLake may keep a small insert (under 10 rows) in the catalog instead of a
    # file: not for large values, which the catalog would hold with their statistics.
    inlined: bool = True
    # Columns its files are sorted by (DuckLake sorts on insert and on compaction), so that
    # a filter on them reads only the row groups that can hold the value.
    sorted_by: tuple[str, ...] = ()
    # Rows per Parquet row group, when a lookup by the sort key should read few rows.
    row_group_rows: int | None = None

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema (required columns are not nullable)."""
        return pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        """The columns' names, in order."""
        return [c.name for c in self.columns]

    def empty(self) -> pa.Table:
        """A table of this schema with no rows."""
        return self.schema.empty_table()
