"""The warehouse on DuckLake: every table in one lake, a run one transaction over all of them.

Layout of a folder warehouse (a folder that can be moved or copied whole):
    catalog.sqlite    DuckLake's catalog (SQLite): tables, snapshots, which files hold what
    data/             DuckLake's Parquet data and delete files (paths relative to the root)
    .lock             held (flock) by the one process writing
    legacy/           the files of a warehouse migrated from the layout before DuckLake

On an object store, `data/` is under the `s3://` prefix and the catalog is named apart
(ARXIV_DIGESTS_CATALOG: a SQLite file, or PostgreSQL for writers on several machines; see
`warehouse.store`). Readers attach the lake read-only and see committed snapshots only; a
transaction that never commits (kill -9, Ctrl-C, full disk) leaves at most unreferenced files
in `data/`, which no reader sees and `maintain` removes.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from schemas import Table
from warehouse import extensions
from warehouse.checksums import TABLE as CHECKSUMS
from warehouse.checksums import unrecorded_rows
from warehouse.declare import WRITER
from warehouse.identity import catalog_identity
from warehouse.location import S3Access, hide_passwords
from warehouse.readonly import ReadOnlyConnection
from warehouse.store import (
    ALIAS,
    CATALOG_NAME,
    DATA_NAME,
    Warehouse,
    WarehouseDamaged,
    WarehouseError,
    WarehouseLocked,
    WriteConflict,
)

__all__ = [
    "ALIAS",
    "CATALOG_NAME",
    "DATA_NAME",
    "Lake",
    "Warehouse",
    "WarehouseDamaged",
    "WarehouseError",
    "WarehouseLocked",
    "WriteConflict",
]

METADATA = f"__ducklake_metadata_{ALIAS}"  # DuckLake's own tables, as the catalog holds them
META = f"{METADATA}.ducklake_metadata"  # DuckLake's own settings table
AUTHOR = "arxiv-digests"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
    loads = [f"LOAD {_quote(str(extensions.extension_file(m)))};" for m in store.extensions()]
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
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")  # timestamps come back as UTC, as stored
            extensions.load(con, *store.extensions())
            if store.remote:
                con.execute(S3Access.from_env().secret_sql())
            con.execute(store.attach_sql(read_only, snapshot))
            con.execute(f"USE {ALIAS}")
        except duckdb.Error as exc:
            con.close()
            if "creating a new DuckLake is explicitly disabled" in str(exc):
                raise no_warehouse(store) from None
            # Two writers making a new lake on one PostgreSQL catalog at once: one of them
            # creates DuckLake's metadata tables, the other attaches once they are there.
            if "Failed to initialize DuckLake" not in str(exc) or attempt == 5:
                raise damaged_catalog(store, exc) from None
            time.sleep(0.2 * attempt)
            continue
        try:
            _owned(con, store)
            _same_lake(con, store)
        except WarehouseError:
            con.close()
            raise
        return con
    raise AssertionError("unreachable")


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


_SCALARS = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type a declared Arrow type is stored as."""
    if arrow_type in _SCALARS:
        return _SCALARS[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in arrow_type)
        return f"STRUCT({fields})"
    raise TypeError(f"no DuckDB type for {arrow_type}")


class Lake:
    """A writer's connection: tables as declared in `schemas/`, rows in and out as Arrow, and
    transactions. Only the process holding the warehouse's lock makes one."""

    def __init__(self, store: Warehouse, holder: str = "arxiv-digests"):
        self.store = store
        self.holder = holder  # who writes: recorded in the writer row of each transaction
        store.prepare()
        self.con = open_connection(store, read_only=False)
        # One thread: a run's writes are small statements, and the other core parses (two
        # threads cost a second per 100k entries and 20 MB in contention on 2 cores).
        self.con.execute("SET threads = 1")
        from warehouse.check import verify_files
        from warehouse.declare import declare

        try:
            verify_files(self.con, store)  # damage stops a writer before it writes anything
            for attempt in range(1, 11):
                try:
                    declare(self)
                    break
                except (WriteConflict, duckdb.CatalogException):
                    # A writer elsewhere declared the tables at once: its commit conflicts
                    # with ours, or came first and our CREATE finds its table.
                    self.rollback()
                    if attempt == 10:
                        raise
                    time.sleep(0.1 * attempt)
            if store.identity() is None:  # a new lake, or one made before release 0.3
                identity = catalog_identity(self.con)
                assert identity is not None  # declared above
                store.record_identity(identity[0])
            self.record_checksums()  # files a crash left without one
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection (an open transaction is abandoned)."""
        self.con.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self, claim: bool = True) -> None:
        """Start a transaction. `claim`: it rewrites the lake's one writer row, so that any two
        transactions that overlap in time conflict at commit (DuckLake lets concurrent appends
        both commit, which would double a digest that two writers loaded at once): the second
        to commit gets WriteConflict and does its work again over what the first wrote."""
        self.con.begin()
        if claim:
            self.con.execute(
                f"UPDATE {WRITER} SET claimed_by = ?, claimed_at = now()", [self.holder]
            )

    def commit(self, message: str, checksums: bool = True) -> None:
        """Make everything written since `begin` visible at once, as one snapshot whose commit
        message is `message` (time travel finds a run's snapshot by it). WriteConflict when
        another writer committed first (nothing of this transaction is kept). `checksums`:
        then record the hashes of the files it wrote (see `record_checksums`)."""
        self._commit(message)
        if checksums:
            self.record_checksums()

    def record_checksums(self) -> None:
        """Hash the newest snapshot's files that have no recorded hash yet, and record them in
        a transaction of their own (`warehouse.checksums`). What cannot be recorded now (a
        writer elsewhere committed first, a full disk) is left for the next writer: the
        hashes help `check`, and must never fail a run whose rows are committed."""
        try:
            rows = unrecorded_rows(self.con, self.store.data_location)
            if rows.num_rows:
                # Unclaimed: concurrent writers may both record a file (the same hash twice,
                # harmless), rather than make each other's run stages conflict and start again.
                self.begin(claim=False)
                self.insert_rows(CHECKSUMS, rows)
                self._commit("record the checksums of new files")
        except (duckdb.Error, OSError, WarehouseError):
            self.rollback()

    def insert_rows(self, table: str, rows: pa.Table) -> None:
        """Append `rows` to an internal table of the lake (columns matched by name)."""
        self.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows", _rows=as_stream(rows))

    def _commit(self, message: str) -> None:
        try:
            self.con.execute(
                f"CALL ducklake_set_commit_message('{ALIAS}', ?, ?)", [AUTHOR, message]
            )
            self.con.commit()
        except duckdb.Error as exc:
            if "Transaction conflict" not in str(exc):
                raise
            self.rollback()
            detail = str(exc).splitlines()[-1].strip()
            raise WriteConflict(
                f"another writer committed to {self.store.location} first ({detail})"
            ) from None

    def rollback(self) -> None:
        """Abandon the transaction, if one is open."""
        with contextlib.suppress(duckdb.Error):
            self.con.rollback()

    @contextlib.contextmanager
    def transaction(self, message: str, claim: bool = True) -> Iterator[None]:
        """Everything written inside becomes visible at once, as one snapshot named `message`,
        or (on any exception, Ctrl-C included) not at all. `claim`: see `begin`."""
        self.begin(claim)
        try:
            yield
            self.commit(message)
        except BaseException:
            self.rollback()
            raise

    def insert(self, table: Table, rows: pa.Table | pa.RecordBatchReader) -> None:
        """Append `rows` to `table` (columns matched by name): a table, or a stream of
        batches in the table's declared types (read once, never held whole)."""
        if isinstance(rows, pa.RecordBatchReader):
            stream = rows
        elif not rows.num_rows:
            return
        else:
            stream = as_stream(rows.select(table.column_names).cast(table.schema))
        self.execute(f'INSERT INTO "{table.name}" BY NAME SELECT * FROM _rows', _rows=stream)

    def query(self, sql: str, params: list[Any] | None = None, **tables: pa.Table) -> pa.Table:
        """Run `sql` with each of `tables` registered under its keyword; the result in Arrow."""
        with registered(self.con, tables):
            return arrow(self.con.execute(sql, params or []))

    def execute(self, sql: str, params: list[Any] | None = None, **tables: Any) -> None:
        """Run `sql` with each of `tables` registered under its keyword."""
        with registered(self.con, tables):
            self.con.execute(sql, params or [])

    def read(self, table: Table, columns: list[str] | None = None) -> pa.Table:
        """A table's rows (some columns, or all) in its declared types."""
        names = ", ".join(f'"{c}"' for c in (columns or table.column_names))
        result = self.query(f'SELECT {names} FROM "{table.name}"')
        return result.cast(pa.schema([table.schema.field(n) for n in result.column_names]))
