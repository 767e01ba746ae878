"""Test helpers: read tables the way users do (catalog, plain pyarrow, DuckDB over files)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds

from schemas import TABLES

# Columns that differ between two runs over the same input by design (times, run ids).
VOLATILE = (
    "run_id",
    "ingested_at",
    "rejected_at",
    "fetched_at",
    "last_attempt_at",
    "next_attempt_at",
)


def sql(warehouse: Path, query: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(query).fetchall()


def count(warehouse: Path, table: str) -> int:
    return int(sql(warehouse, f'SELECT count(*) FROM "{table}"')[0][0])


def counts(warehouse: Path) -> dict[str, int]:
    return {name: count(warehouse, name) for name in TABLES}


def table_hash(warehouse: Path, table: str, exclude: tuple[str, ...] = ()) -> str:
    """A hash of a table's sorted rows, for comparing two warehouses."""
    columns = [c.name for c in TABLES[table].columns if c.name not in exclude]
    cols = ", ".join(f'"{c}"' for c in columns)
    rows = sql(warehouse, f'SELECT {cols} FROM "{table}" ORDER BY ALL')
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def plain_counts(warehouse: Path, table: str) -> tuple[int, int]:
    """Rows seen by a plain pyarrow dataset and by DuckDB's read_parquet, without our code."""
    directory = warehouse / table
    if not directory.exists():
        return 0, 0
    arrow = ds.dataset(directory, format="parquet", partitioning="hive").count_rows()
    files = list(directory.glob("*.parquet"))
    if not files:
        return arrow, 0
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{directory}/*.parquet')").fetchall()
    return arrow, int(rows[0][0])
