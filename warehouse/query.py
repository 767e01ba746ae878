"""The query layer: read-only DuckDB connections to the lake, for `sql`, `status` and Python.

`connect(path)` gives every table and convenience view by name, as of the newest committed
snapshot at each statement (or as of a run, for time travel). It cannot change anything:
the lake is attached read-only, file access stops at the lake's data folder, the settings are
locked, and `read_only_statement` refuses, before DuckDB runs them, statements other than
SELECT and SELECTs that call a function that writes (DuckLake's maintenance functions,
checkpoints, attaching).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from warehouse.check import verify_files
from warehouse.lake import ALIAS, Warehouse, WarehouseError, open_connection, scalar

# Functions a SELECT could call to change files: refused by name (any catalog prefix).
_WRITING_FUNCTIONS = (
    "ducklake_",
    "checkpoint",
    "force_checkpoint",
    "attach",
    "detach",
    "sqlite_attach",
    "postgres_attach",
    "postgres_execute",
    "postgres_query",
    "cleanup_old_files",
    "delete_orphaned_files",
    "expire_snapshots",
    "merge_adjacent_files",
    "rewrite_data_files",
    "flush_inlined_data",
    "add_data_files",
    "set_option",
    "set_commit_message",
)


class ReadOnlyViolation(WarehouseError):
    """A statement given to the query layer could change something."""


def _functions(tree: object) -> set[str]:
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("function_name")
            if isinstance(name, str):
                names.add(name.lower())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def read_only_statement(query: str) -> str:
    """`query` if it is one SELECT that calls no writing function, else ReadOnlyViolation."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise ReadOnlyViolation(f"query failed: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise ReadOnlyViolation(f"refused: give one statement at a time ({len(statements)} given)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise ReadOnlyViolation(
            f"refused: `sql` is read-only and runs SELECT queries only ({kind.name} would change "
            "or write something); copy the data out with `arxiv-digests export` instead"
        )
    con = duckdb.connect()
    tree = json.loads(scalar(con, "SELECT json_serialize_sql(?)", [query]))
    con.close()
    for name in sorted(_functions(tree)):
        if any(name == f or name.startswith(f) for f in _WRITING_FUNCTIONS):
            raise ReadOnlyViolation(f"refused: {name}() can change the warehouse")
    return query


def snapshot_of_run(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """The lake snapshot a run's last stage committed (what the warehouse was after it)."""
    snapshot = scalar(
        con,
        f"SELECT max(snapshot_id) FROM ducklake_snapshots('{ALIAS}') "
        "WHERE starts_with(commit_message, ?)",
        [f"run {run_id}: "],
    )
    if snapshot is None:
        raise WarehouseError(
            f'no run {run_id} in this warehouse: `arxiv-digests sql "SELECT run_id FROM '
            'runs"` lists them'
        )
    return int(snapshot)


def connect(
    path: Path | str | Warehouse, as_of_run: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse at `path` (as it was after `as_of_run`)."""
    store = path if isinstance(path, Warehouse) else Warehouse(path)
    snapshot = None
    if as_of_run is not None:
        with open_connection(store, read_only=True) as probe:
            snapshot = snapshot_of_run(probe, as_of_run)
    con = open_connection(store, read_only=True, snapshot=snapshot)
    try:
        verify_files(con, store)  # damage is named at once, not by whichever query meets it
    except WarehouseError:
        con.close()
        raise
    data = "'" + store.data_location.replace("'", "''") + "'"
    con.execute(f"SET allowed_directories = [{data}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
