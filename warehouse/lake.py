"""The warehouse on DuckLake: every table in one lake, a run one transaction over all of them.

Layout under the root (a folder that can be moved or copied whole):
    catalog.sqlite    DuckLake's catalog (SQLite): tables, snapshots, which files hold what
    data/             DuckLake's Parquet data and delete files (paths relative to the root)
    .lock             held (flock) by the one process writing
    legacy/           the files of a warehouse migrated from the layout before DuckLake

Readers attach the lake read-only and see committed snapshots only; a transaction that never
commits (kill -9, Ctrl-C, full disk) leaves at most unreferenced files in `data/`, which no
reader sees and `maintain` removes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from schemas import Table
from schemas.errors import ArxivDigestsError
from warehouse import extensions

CATALOG_NAME = "catalog.sqlite"
DATA_NAME = "data"
ALIAS = "lake"  # the name the lake is attached under in every connection
AUTHOR = "arxiv-digests"


class WarehouseError(ArxivDigestsError):
    """A systemic problem with the warehouse itself (not with an input file)."""


class WarehouseLocked(WarehouseError):
    """Another process is writing the warehouse."""


class WarehouseDamaged(WarehouseError):
    """A file the lake refers to is missing or unreadable, or the catalog is damaged."""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row of a query (None when it gives no row)."""
    row = con.execute(sql, params or []).fetchone()
    return None if row is None else row[0]


def arrow(result: duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation) -> pa.Table:
    """A query's whole result as one Arrow table."""
    return result.to_arrow_table()


class Warehouse:
    """Where a warehouse lives, and how to attach it."""

    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().resolve()

    @property
    def catalog_path(self) -> Path:
        """The DuckLake catalog (SQLite)."""
        return self.root / CATALOG_NAME

    @property
    def data_path(self) -> Path:
        """The folder of Parquet data files."""
        return self.root / DATA_NAME

    def exists(self) -> bool:
        """Whether a warehouse has been made here."""
        return self.catalog_path.is_file()

    def attach_sql(self, read_only: bool, snapshot: int | None = None) -> str:
        """The ATTACH statement for this warehouse. The data path is given, and overrides the
        one the catalog recorded, so that a moved or copied folder reads its own files."""
        options = [
            f"DATA_PATH {_quote(str(self.data_path) + os.sep)}",
            "OVERRIDE_DATA_PATH true",
        ]
        if read_only:
            options.insert(0, "READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        path = _quote(f"ducklake:sqlite:{self.catalog_path}")
        return f"ATTACH {path} AS {ALIAS} ({', '.join(options)})"

    @contextlib.contextmanager
    def lock(
        self, timeout: float, holder: str, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the single-writer lock. The OS drops it when the process dies, even by kill -9,
        so a crashed run never leaves the warehouse locked. `on_wait` is told once, in one
        line, who holds it when it has to wait."""
        self.prepare()
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    who = path.read_text(errors="replace").strip() or "another process"
                    if on_wait is not None:
                        on_wait(
                            f"{self.root} is being written by {who}: waiting up to "
                            f"{timeout:.0f} s for it to finish"
                        )
                        on_wait = None
                    if time.monotonic() >= deadline:
                        raise WarehouseLocked(
                            f"{self.root} is being written by {who}; waited {timeout:.0f} s. "
                            "Try again when it finishes (ARXIV_DIGESTS_LOCK_TIMEOUT_SECONDS "
                            "sets the wait)."
                        ) from None
                    time.sleep(0.2)
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the flock

    def prepare(self) -> None:
        """Create the root and data folders, or say in one line why they cannot be."""
        if self.root.exists() and not self.root.is_dir():
            raise WarehouseError(
                f"{self.root} is not a folder: point --warehouse / ARXIV_DIGESTS_WAREHOUSE at a "
                "folder (it is created if missing)"
            )
        try:
            self.data_path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise WarehouseError(
                f"{self.root} is not a folder: point --warehouse / ARXIV_DIGESTS_WAREHOUSE at a "
                "folder (it is created if missing)"
            ) from None
        except OSError as exc:
            raise WarehouseError(f"cannot create the warehouse at {self.root}: {exc}") from None
        if not os.access(self.root, os.W_OK) or not os.access(self.data_path, os.W_OK):
            raise WarehouseError(
                f"{self.root} is not writable: fix its permissions or choose another --warehouse"
            )


def attach_script(store: Warehouse) -> str:
    """SQL that makes any DuckDB 1.5.5 session (the `duckdb` shell) read this warehouse: the
    extensions loaded from their wheels, the lake attached read-only and in use."""
    loads = [
        f"LOAD {_quote(str(extensions.extension_file(m)))};"
        for m in ("duckdb_extension_sqlite", "duckdb_extension_ducklake")
    ]
    return " ".join([*loads, store.attach_sql(read_only=True) + ";", f"USE {ALIAS};"])


def open_connection(
    store: Warehouse, read_only: bool, snapshot: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as `lake` (and in use)."""
    if read_only and not store.exists():
        raise WarehouseError(
            f"no warehouse at {store.root}: run `arxiv-digests ingest` first "
            "(or point --warehouse / ARXIV_DIGESTS_WAREHOUSE at an existing warehouse)"
        )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")  # timestamps come back as UTC, whatever the host's
        extensions.load(con, "duckdb_extension_sqlite", "duckdb_extension_ducklake")
        con.execute(store.attach_sql(read_only, snapshot))
    except duckdb.Error as exc:
        con.close()
        raise damaged_catalog(store, exc) from None
    con.execute(f"USE {ALIAS}")
    return con


def damaged_catalog(store: Warehouse, exc: Exception) -> WarehouseError:
    """The one-line error for a catalog that cannot be read."""
    first = str(exc).splitlines()[0]
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

    def __init__(self, store: Warehouse):
        self.store = store
        store.prepare()
        self.con = open_connection(store, read_only=False)
        # One thread: a run's writes are small statements, and the other core parses (two
        # threads cost a second per 100k entries and 20 MB in contention on 2 cores).
        self.con.execute("SET threads = 1")
        from warehouse.check import verify_files
        from warehouse.declare import declare

        try:
            declare(self)
            verify_files(self.con)
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

    def begin(self) -> None:
        """Start a transaction."""
        self.con.begin()

    def commit(self, message: str) -> None:
        """Make everything written since `begin` visible at once, as one snapshot whose commit
        message is `message` (time travel finds a run's snapshot by it)."""
        self.con.execute(f"CALL ducklake_set_commit_message('{ALIAS}', ?, ?)", [AUTHOR, message])
        self.con.commit()

    def rollback(self) -> None:
        """Abandon the transaction, if one is open."""
        with contextlib.suppress(duckdb.Error):
            self.con.rollback()

    @contextlib.contextmanager
    def transaction(self, message: str) -> Iterator[None]:
        """Everything written inside becomes visible at once, as one snapshot named `message`,
        or (on any exception, Ctrl-C included) not at all."""
        self.begin()
        try:
            yield
            self.commit(message)
        except BaseException:
            self.rollback()
            raise

    def insert(self, table: Table, rows: pa.Table) -> None:
        """Append `rows` to `table` (columns matched by name)."""
        if not rows.num_rows:
            return
        data = rows.select(table.column_names).cast(table.schema)
        # As a stream, not the table: DuckDB keeps what a statement scanned alive until the
        # transaction ends, and a run's transaction would hold every batch it loaded. An
        # exhausted stream holds nothing.
        stream = pa.RecordBatchReader.from_batches(data.schema, iter(data.to_batches()))
        del data
        self.execute(f'INSERT INTO "{table.name}" BY NAME SELECT * FROM _rows', _rows=stream)

    @contextlib.contextmanager
    def _registered(self, tables: dict[str, Any]) -> Iterator[None]:
        """`tables` visible to SQL under their names for the duration of one statement."""
        for name, data in tables.items():
            self.con.register(name, data)
        try:
            yield
        finally:
            for name in tables:
                self.con.unregister(name)

    def query(self, sql: str, params: list[Any] | None = None, **tables: pa.Table) -> pa.Table:
        """Run `sql` with each of `tables` registered under its keyword; the result in Arrow."""
        with self._registered(tables):
            return arrow(self.con.execute(sql, params or []))

    def execute(self, sql: str, params: list[Any] | None = None, **tables: Any) -> None:
        """Run `sql` with each of `tables` registered under its keyword."""
        with self._registered(tables):
            self.con.execute(sql, params or [])

    def read(self, table: Table, columns: list[str] | None = None) -> pa.Table:
        """A table's rows (some columns, or all) in its declared types."""
        names = ", ".join(f'"{c}"' for c in (columns or table.column_names))
        result = self.query(f'SELECT {names} FROM "{table.name}"')
        return result.cast(pa.schema([table.schema.field(n) for n in result.column_names]))
