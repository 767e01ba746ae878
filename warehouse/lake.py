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
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from schemas import Table
from schemas.search import SEARCH_TEXTS
from warehouse.check import verify_files
from warehouse.checksums import TABLE as CHECKSUMS
from warehouse.checksums import unrecorded_rows
from warehouse.connection import AUTHOR, arrow, as_stream, open_connection, registered
from warehouse.declare import WRITER, option_statements, pending_statements
from warehouse.identity import catalog_identity
from warehouse.index import index_missing
from warehouse.location import sql_literal
from warehouse.sessions import Session, newest_snapshot
from warehouse.sessions import now as session_start
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


def spill_folder() -> str:
    """A private folder for what DuckDB spills to disk (this user's, in the temporary folder)."""
    folder = os.path.join(tempfile.gettempdir(), f"arxiv-digests-spill-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


class Lake:
    """A writer's connection: tables as declared in `schemas/`, rows in and out as Arrow, and
    transactions. Only the process holding the warehouse's lock makes one."""

    def __init__(self, store: Warehouse, holder: str = "arxiv-digests"):
        self.store = store
        self.holder = holder  # who writes: recorded in the writer row of each transaction
        self.session: Session | None = None  # recorded once the lake's id is known
        started = session_start()
        store.prepare()
        self.con = open_connection(store, read_only=False)
        # One thread: a run's writes are small statements, and the other core parses (two
        # threads cost a second per 100k entries and 20 MB in contention on 2 cores).
        self.con.execute("SET threads = 1")
        # DuckDB keeps what it freed for reuse, up to 80 % of the machine: indexing a whole
        # history for search churns through gigabytes of temporary terms (peak 4.3 GB on
        # qhduan's history unbounded; 100,000 synthetic entries peak at 1.58 GB with 1 GB
        # here, 1.02 GB with 400 MB, 8 % slower). Beyond it, DuckDB spills to a folder of its
        # own, never the working directory.
        self.con.execute(f"SET temp_directory = {sql_literal(spill_folder())}")
        self.con.execute("SET memory_limit = '400MB'")
        try:
            verify_files(self.con, store)  # damage stops a writer before it writes anything
            for attempt in range(1, 11):
                try:
                    self._declare()
                    break
                except (WriteConflict, duckdb.CatalogException):
                    # A writer elsewhere declared the tables at once: its commit conflicts
                    # with ours, or came first and our CREATE finds its table.
                    self.rollback()
                    if attempt == 10:
                        raise
                    time.sleep(0.1 * attempt)
            identity = catalog_identity(self.con)
            assert identity is not None  # declared above
            if store.identity() is None:  # a new lake, or one made before release 0.3
                store.record_identity(identity[0])
            self.session = Session(identity[0], started, holder)  # recorded at its commits
            self.record_checksums()  # files a crash left without one
        except BaseException:
            self.close()
            raise

    def _declare(self) -> None:
        """Create each declared table, add columns declared since, and (re)write comments
        and views, in one transaction."""
        statements, writer = pending_statements(self.con, self.store.identity())
        if statements:
            with self.transaction("declare tables", claim=writer):
                for statement in statements:
                    self.con.execute(statement)
                made = " ".join(statements)
                if (
                    f'CREATE TABLE "{SEARCH_TEXTS.name}"' in made
                    and 'CREATE TABLE "runs"' not in made
                ):
                    index_missing(self)  # a lake made before its search index: every row
        if options := option_statements(self.con):  # on tables made by a commit before
            with self.transaction("set table options"):
                for statement in options:
                    self.con.execute(statement)

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
            if self.session is not None:  # which snapshot this writer reached, for `check`
                self.session.snapshot_id = newest_snapshot(self.con)
                self._record_session()
        except duckdb.Error as exc:
            if "Transaction conflict" not in str(exc):
                raise
            self.rollback()
            detail = str(exc).splitlines()[-1].strip()
            raise WriteConflict(
                f"another writer committed to {self.store.location} first ({detail})"
            ) from None

    def _record_session(self) -> None:
        """Leave this writer's session record (evidence for `check` and `maintain`, never a
        reason to fail a run: a full disk here leaves the record out)."""
        assert self.session is not None
        with contextlib.suppress(OSError):
            self.session.record(self.store)

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
