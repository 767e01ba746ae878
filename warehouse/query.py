"""The query layer: read-only DuckDB connections to the lake, for `sql`, `status` and Python.

`connect(path)` gives every table and convenience view by name, as of the newest snapshot
committed when it opened (or as of a run, for time travel). It cannot change anything: the
lake is attached read-only at that snapshot, file access stops at that snapshot's files, the
settings are locked, and `warehouse.readonly` refuses, before DuckDB runs them, statements
other than SELECT and SELECTs that call a function that writes (DuckLake's maintenance
functions, checkpoints, attaching, `query()`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.check import verify_files
from warehouse.connection import open_connection, pin, scalar
from warehouse.location import sql_literal
from warehouse.readonly import ReadOnlyConnection, ReadOnlyViolation, read_only_statement
from warehouse.store import ALIAS, Warehouse, WarehouseError

__all__ = ["ReadOnlyViolation", "connect", "read_only_statement", "snapshot_of_run"]


def snapshot_of_run(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """The lake snapshot a run's last stage committed (what the warehouse was after it)."""
    snapshot = scalar(
        con,
        f"SELECT max(snapshot_id) FROM ducklake_snapshots('{ALIAS}') "
        "WHERE starts_with(commit_message, ?)",
        [f"run {run_id}: "],
    )
    if snapshot is None and scalar(con, "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]):
        oldest = scalar(con, f"SELECT min(snapshot_time) FROM ducklake_snapshots('{ALIAS}')")
        raise WarehouseError(
            f"run {run_id} is older than the warehouse's history: `maintain` expired its "
            f"snapshot (ARXIV_DIGESTS_RETENTION_DAYS); time travel reaches back to "
            f"{oldest:%Y-%m-%d %H:%M} UTC"
        )
    if snapshot is None:
        raise WarehouseError(
            f'no run {run_id} in this warehouse: `arxiv-digests sql "SELECT run_id FROM '
            'runs"` lists them'
        )
    return int(snapshot)


def newest_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The newest committed snapshot of the lake."""
    return int(scalar(con, f"SELECT max(snapshot_id) FROM ducklake_snapshots('{ALIAS}')"))


# Whether the lake's tables are declared: `runs` is declared with every other table, at once.
_DECLARED = "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'runs'"


def _pinned(store: Warehouse, as_of_run: str | None) -> tuple[duckdb.DuckDBPyConnection, int]:
    """A connection to the lake at one snapshot (the newest, or the one a run committed), and
    that snapshot."""
    con = open_connection(store, read_only=True)
    try:
        snapshot = newest_snapshot(con) if as_of_run is None else snapshot_of_run(con, as_of_run)
        pin(con, store, snapshot)
        if not scalar(con, _DECLARED, [ALIAS]):
            raise _undeclared(store)
    except BaseException:
        con.close()
        raise
    return con, snapshot


def _undeclared(store: Warehouse) -> WarehouseError:
    """Why a lake has no tables: its first run is making them now, or was killed before."""
    if (writer := store.writer()) is not None:
        return WarehouseError(
            f"the warehouse at {store.location} has no tables yet: its first run ({writer}) is "
            "making them now; try again in a moment"
        )
    return WarehouseError(
        f"the warehouse at {store.location} has no tables yet: the run that made it "
        "stopped before it declared them; run `arxiv-digests ingest` (nothing is lost)"
    )


def connect(path: Path | str | Warehouse, as_of_run: str | None = None) -> ReadOnlyConnection:
    """A read-only connection to the warehouse at `path`, as it was when it opened (or right
    after the run `as_of_run`): one snapshot for the connection's life, so open a new one to
    see later runs. It reads that snapshot's files and nothing else, and writes nothing."""
    store = path if isinstance(path, Warehouse) else Warehouse(path)
    con, snapshot = _pinned(store, as_of_run)

    def reopened() -> duckdb.DuckDBPyConnection:
        # A writer killed mid-commit after this connection opened left a hot journal that a
        # read-only catalog connection cannot read past: the same snapshot, opened again
        # (from a private rolled-back copy of the catalog, see `warehouse.journal`).
        return _guarded(open_connection(store, read_only=True, snapshot=snapshot), store)

    return ReadOnlyConnection(_guarded(con, store), reopened)


def _guarded(con: duckdb.DuckDBPyConnection, store: Warehouse) -> duckdb.DuckDBPyConnection:
    """`con` limited to reading its snapshot's files, its configuration locked."""
    try:
        files = verify_files(con, store)  # damage is named at once, not by whichever query meets it
        allowed = ", ".join(sql_literal(f) for f in sorted(files))
        con.execute(f"SET allowed_paths = [{allowed}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
