"""The DuckDB catalog: a view per table over exactly the published Parquet files.

The catalog is rebuilt in `.staging/` and renamed over `warehouse.duckdb`, so an analyst who
has it open keeps reading the previous version and never blocks or sees half of a run. Views
name files by absolute path, so the catalog opens from any working directory.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas import TABLES, Table
from warehouse.store import Warehouse, WarehouseError

# Convenience views for analysts; they only use the table views, so they work on any backend.
CONVENIENCE_VIEWS = {
    "paper_mentions": """
        SELECT e.arxiv_id, e.digest_id, d.digest_date, d.category, d.file_name, e.ref,
               e.title, e.announce_type, p.primary_category, p.published
        FROM digest_entries e
        JOIN digests d USING (digest_id)
        LEFT JOIN papers p USING (arxiv_id)
    """,
    "daily_counts": """
        SELECT d.digest_date, d.category, count(DISTINCT d.digest_id) AS digests,
               count(e.ref) AS entries, count(DISTINCT e.arxiv_id) AS papers
        FROM digests d LEFT JOIN digest_entries e USING (digest_id)
        GROUP BY ALL
    """,
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_int32(arrow_type):
        return "INTEGER"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_float64(arrow_type):
        return "DOUBLE"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_date32(arrow_type):
        return "DATE"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in arrow_type)
        return f"STRUCT({fields})"
    raise TypeError(f"no DuckDB type for {arrow_type}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(table: Table, files: list[Path]) -> str:
    columns = ", ".join(
        f"CAST({'NULL' if not files else chr(34) + c.name + chr(34)} AS {duckdb_type(c.type)}) "
        f'AS "{c.name}"'
        for c in table.columns
    )
    if not files:
        return f'CREATE VIEW "{table.name}" AS SELECT {columns} WHERE false'
    paths = ", ".join(_quote(str(f)) for f in files)
    # Parts written before a column was declared lack it; union_by_name fills it in from the
    # parts that have it, and the empty typed row set below fills it in when none has it yet.
    declared = ", ".join(
        f'CAST(NULL AS {duckdb_type(c.type)}) AS "{c.name}"' for c in table.columns
    )
    return (
        f'CREATE VIEW "{table.name}" AS SELECT {columns} '
        f"FROM (SELECT * FROM read_parquet([{paths}], union_by_name = true) "
        f"UNION ALL BY NAME SELECT {declared} WHERE false)"
    )


def rebuild(warehouse: Warehouse) -> Path:
    committed = warehouse.committed_runs()
    warehouse.staging.mkdir(parents=True, exist_ok=True)
    tmp = warehouse.staging / "catalog.duckdb.tmp"
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        for table in TABLES.values():
            con.execute(view_sql(table, warehouse.files(table, committed)))
        for name, sql in CONVENIENCE_VIEWS.items():
            con.execute(f'CREATE VIEW "{name}" AS {sql}')
        con.execute("CHECKPOINT")
    os.replace(tmp, warehouse.catalog_path)
    with contextlib.suppress(OSError):
        warehouse.staging.rmdir()  # only when empty: nothing of a run is left half-written
    return warehouse.catalog_path


def connect(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog."""
    if not warehouse.catalog_path.exists():
        raise WarehouseError(
            f"no catalog at {warehouse.catalog_path}: run `arxiv-digests ingest` first "
            "(or point --warehouse / ARXIV_DIGESTS_WAREHOUSE at an existing warehouse)"
        )
    con = duckdb.connect(str(warehouse.catalog_path), read_only=True)
    # Reads stay inside the warehouse: no files elsewhere, no COPY/EXPORT/ATTACH/INSTALL, and
    # the settings are locked so that a query cannot undo this.
    directory = _quote(str(warehouse.root) + os.sep)
    con.execute(f"SET allowed_directories = [{directory}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
