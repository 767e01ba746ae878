"""Connections to the lake: DuckDB with DuckLake attached as `lake`, the checks every
connection makes before it is used (the catalog is this warehouse's, of this lake), and the
one-line errors for a warehouse that is missing, unreachable or damaged. Readers
(`warehouse.query`) and the writer (`warehouse.lake`) both open theirs here."""

from __future__ import annotations

import contextlib
import copy
import time
import weakref
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from warehouse import extensions
from warehouse.identity import catalog_identity
from warehouse.journal import interrupted, private_folder, remove, rolled_back_copy
from warehouse.location import Catalog, S3Access, hide_passwords, sql_literal
from warehouse.readonly import ReadOnlyConnection
from warehouse.store import ALIAS, DATA_NAME, Warehouse, WarehouseDamaged, WarehouseError

METADATA = f"__ducklake_metadata_{ALIAS}"  # DuckLake's own tables, as the catalog holds them
META = f"{METADATA}.ducklake_metadata"  # DuckLake's own settings table
AUTHOR = "arxiv-digests"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row of a query (None when it gives no row)."""
    row = con.execute(sql, params or []).fetchone()
    return None if row is None else row[0]


def arrow(
    result: duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation | ReadOnlyConnection,
) -> pa.Table:
    """A query's whole result as one Arrow table."""
    return result.to_arrow_table()


def as_stream(table: pa.Table) -> pa.RecordBatchReader:
    """`table` as a stream for one statement to scan. DuckDB keeps what a statement scanned
    alive until the transaction ends, and a run's transaction would hold every batch it
    loaded; an exhausted stream holds nothing."""
    return pa.RecordBatchReader.from_batches(table.schema, iter(table.to_batches()))


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, tables: dict[str, Any]) -> Iterator[None]:
    """`tables` visible to SQL under their names for the duration of one statement."""
    for name, data in tables.items():
        con.register(name, data)
    try:
        yield
    finally:
        for name in tables:
            con.unregister(name)


def attach_script(store: Warehouse) -> str:
    """SQL that makes any DuckDB 1.5.5 session (the `duckdb` shell) read this warehouse: the
    extensions loaded from their wheels, the lake attached read-only and in use. An object
    store's credentials are read from the shell's own AWS variables, and a PostgreSQL
    catalog's password from its PGPASSWORD: never printed."""
    loads = [f"LOAD {sql_literal(str(extensions.extension_file(m)))};" for m in store.extensions()]
    secret = [S3Access.from_env().secret_sql(from_shell=True) + ";"] if store.remote else []
    shown = copy.copy(store)
    shown.catalog = store.catalog.without_password()
    return " ".join([*loads, *secret, shown.attach_sql(read_only=True) + ";", f"USE {ALIAS};"])


def open_connection(
    store: Warehouse, read_only: bool, snapshot: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as `lake` (and in use)."""
    if read_only and not store.exists():
        raise store.lost_catalog() or no_warehouse(store)
    for attempt in range(1, 6):
        try:
            con = _attached(store, read_only, snapshot)
        except duckdb.Error as exc:
            if "creating a new DuckLake is explicitly disabled" in str(exc):
                raise no_warehouse(store) from None
            if read_only and not store.catalog.shared and interrupted(store.catalog_path, exc):
                recovered = _past_interrupted_commit(store, snapshot)
                if recovered is None:
                    continue  # a writer is recovering the catalog now: open it again
                return recovered
            # Two writers making a new lake on one PostgreSQL catalog at once: one of them
            # creates DuckLake's metadata tables, the other attaches once they are there.
            if "Failed to initialize DuckLake" not in str(exc) or attempt == 5:
                raise damaged_catalog(store, exc) from None
            time.sleep(0.2 * attempt)
            continue
        return _checked(con, store)
    raise damaged_catalog(store, RuntimeError("it changed at every one of 5 attempts to read it"))


def _attached(store: Warehouse, read_only: bool, snapshot: int | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")  # timestamps come back as UTC, as stored
        extensions.load(con, *store.extensions())
        if store.remote:
            con.execute(S3Access.from_env().secret_sql())
        con.execute(store.attach_sql(read_only, snapshot))
        con.execute(f"USE {ALIAS}")
    except duckdb.Error:
        con.close()
        raise
    return con


def _past_interrupted_commit(
    store: Warehouse, snapshot: int | None
) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to the catalog as its last finished commit left it, read from a
    private copy (see `warehouse.journal`); None when a writer changed it meanwhile."""
    folder = private_folder()
    copied = rolled_back_copy(store.catalog_path, folder)
    if copied is None:
        remove(folder)
        return None
    reader = copy.copy(store)
    reader.catalog = Catalog("sqlite", str(copied))
    try:
        con = _checked(_attached(reader, True, snapshot), store)
    except BaseException:
        remove(folder)
        raise
    weakref.finalize(con, remove, folder)
    return con


def pin(con: duckdb.DuckDBPyConnection, store: Warehouse, snapshot: int) -> None:
    """Attach the lake again at `snapshot`, from the same catalog file the connection reads
    (a private rolled-back copy, after an interrupted commit, stays the one read)."""
    reader = store
    attached = scalar(con, "SELECT path FROM duckdb_databases() WHERE database_name = ?", [ALIAS])
    if not store.catalog.shared and attached != f"sqlite:{store.catalog.target}":
        reader = copy.copy(store)
        reader.catalog = Catalog("sqlite", str(attached).removeprefix("sqlite:"))
    con.execute("USE memory")
    con.execute(f"DETACH {ALIAS}")
    con.execute(reader.attach_sql(read_only=True, snapshot=snapshot))
    con.execute(f"USE {ALIAS}")


def _checked(con: duckdb.DuckDBPyConnection, store: Warehouse) -> duckdb.DuckDBPyConnection:
    try:
        _owned(con, store)
        _same_lake(con, store)
    except WarehouseError:
        con.close()
        raise
    return con


def _same_lake(con: duckdb.DuckDBPyConnection, store: Warehouse) -> None:
    """The catalog is the one of the lake the data files belong to (as its first writer
    recorded it): another's would see every file as an orphan for `maintain` to delete."""
    recorded = store.identity()
    if recorded is None:
        return
    mine = catalog_identity(con)
    if mine is None or mine[0] != recorded:
        which = "knows no lake" if mine is None else f"is the lake {mine[0]}'s"
        raise WarehouseDamaged(
            f"the catalog {store.catalog.shown()} {which}, not the one the data at "
            f"{store.data_location} belongs to ({recorded}): restore this warehouse's own "
            "catalog from a backup, or point ARXIV_DIGESTS_CATALOG at it; nothing was "
            "written or deleted"
        )


def _owned(con: duckdb.DuckDBPyConnection, store: Warehouse) -> None:
    """A catalog named apart from its warehouse (ARXIV_DIGESTS_CATALOG) serves the
    warehouse it was made for only: with another one's files it would see every file as
    missing. (A folder's own catalog.sqlite moves with its folder, so it is not checked.)"""
    if store.catalog == store.own_catalog():
        return
    recorded = scalar(con, f"SELECT value FROM {META} WHERE key = 'data_path' AND scope IS NULL")
    if recorded is not None and recorded.rstrip("/") != store.data_location.rstrip("/"):
        con.close()
        owner = recorded.rstrip("/").removesuffix(f"/{DATA_NAME}")
        raise WarehouseError(
            f"the catalog {store.catalog.shown()} belongs to the warehouse {owner}, not to "
            f"{store.location}: point --warehouse at {owner}, or ARXIV_DIGESTS_CATALOG at "
            "this warehouse's own catalog"
        )


def no_warehouse(store: Warehouse) -> WarehouseError:
    """The one-line error for reading a warehouse that was never made."""
    return WarehouseError(
        f"no warehouse at {store.location}: run `arxiv-digests ingest` first "
        "(or point --warehouse / ARXIV_DIGESTS_WAREHOUSE at an existing warehouse)"
    )


def damaged_catalog(store: Warehouse, exc: Exception) -> WarehouseError:
    """The one-line error for a catalog that cannot be read (or reached)."""
    first = hide_passwords(str(exc).splitlines()[0])
    if store.catalog.shared:
        return WarehouseError(
            f"the catalog {store.catalog.shown()} cannot be read ({first}): check that the "
            "PostgreSQL server is up and ARXIV_DIGESTS_CATALOG is right"
        )
    return WarehouseDamaged(
        f"the catalog {store.catalog_path} cannot be read ({first}): run `arxiv-digests "
        "check`, and restore the catalog from a backup (the data files are untouched)"
    )


def damage(exc: duckdb.Error) -> WarehouseDamaged | None:
    """The one-line WarehouseDamaged for a query error that means a missing or broken file."""
    text = str(exc)
    markers = ("No files found", "Cannot open file", "No magic bytes", "Invalid Input Error:")
    files = ("parquet", "No such file")
    if isinstance(exc, duckdb.IOException) or (
        any(m in text for m in markers) and any(f in text for f in files)
    ):
        first = text.splitlines()[0]
        return WarehouseDamaged(
            f"a data file of the warehouse is missing or damaged ({first}): run "
            "`arxiv-digests check` to list what is wrong and how to recover"
        )
    return None
