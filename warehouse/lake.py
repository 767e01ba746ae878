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
from warehouse.declare import WRITER
from warehouse.location import Catalog, S3Access, filesystem, is_remote, joined

CATALOG_NAME = "catalog.sqlite"
DATA_NAME = "data"
ALIAS = "lake"  # the name the lake is attached under in every connection
META = f"__ducklake_metadata_{ALIAS}.ducklake_metadata"  # DuckLake's own settings table
AUTHOR = "arxiv-digests"


class WarehouseError(ArxivDigestsError):
    """A systemic problem with the warehouse itself (not with an input file)."""


class WarehouseLocked(WarehouseError):
    """Another process is writing the warehouse."""


class WriteConflict(WarehouseError):
    """Another writer committed first, and DuckLake's conflict check refused this commit."""


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
    """Where a warehouse lives (a local folder or an `s3://bucket/prefix`), its catalog, and
    how to attach it."""

    def __init__(self, location: Path | str, catalog: str | None = None):
        text = str(location)
        self.remote = is_remote(text)
        self.location = text.rstrip("/") if self.remote else str(Path(text).expanduser().resolve())
        catalog = catalog or os.environ.get("ARXIV_DIGESTS_CATALOG") or None
        if catalog is not None:
            self.catalog = Catalog.parse(catalog)
        elif self.remote:
            raise WarehouseError(
                f"{self.location} needs a catalog outside the bucket: set "
                "ARXIV_DIGESTS_CATALOG to a local file (one machine) or to "
                "postgresql://... (a team)"
            )
        else:
            self.catalog = Catalog("sqlite", str(Path(self.location) / CATALOG_NAME))

    def own_catalog(self) -> Catalog | None:
        """The catalog a folder warehouse keeps inside itself (none for an object store)."""
        if self.remote:
            return None
        return Catalog("sqlite", str(Path(self.location) / CATALOG_NAME))

    @property
    def root(self) -> Path:
        """The local folder of a warehouse that is one (code for local folders only)."""
        if self.remote:
            raise WarehouseError(f"{self.location} is not a local folder")
        return Path(self.location)

    @property
    def catalog_path(self) -> Path:
        """The DuckLake catalog's file, for a SQLite catalog."""
        return Path(self.catalog.target)

    @property
    def data_location(self) -> str:
        """The folder (or prefix) of Parquet data files, ending in '/'."""
        return joined(self.location, DATA_NAME) + "/"

    def exists(self) -> bool:
        """Whether a warehouse has been made here (a PostgreSQL catalog is asked on attach)."""
        return self.catalog.shared or self.catalog_path.is_file()

    def attach_sql(self, read_only: bool, snapshot: int | None = None) -> str:
        """The ATTACH statement for this warehouse. The data path is given, and overrides the
        one the catalog recorded, so that a moved or copied folder reads its own files."""
        options = [f"DATA_PATH {_quote(self.data_location)}", "OVERRIDE_DATA_PATH true"]
        if read_only:
            options.insert(0, "READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        return f"ATTACH {_quote(self.catalog.ducklake_uri())} AS {ALIAS} ({', '.join(options)})"

    def extensions(self) -> list[str]:
        """The wheel modules of the DuckDB extensions this warehouse needs."""
        needed = [self.catalog.extension(), "duckdb_extension_ducklake"]
        return [*needed, "duckdb_extension_httpfs"] if self.remote else needed

    @contextlib.contextmanager
    def lock(
        self, timeout: float, holder: str, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the single-writer lock of a SQLite catalog (one machine; SQLite lets one
        writer in at a time). The OS drops it when the process dies, even by kill -9, so a
        crashed run never leaves the warehouse locked. `on_wait` is told once, in one line,
        who holds it when it has to wait. A PostgreSQL catalog takes no lock: writers on any
        machine run at once, and DuckLake's conflict check at commit decides (see `Lake`)."""
        self.prepare()
        if self.catalog.shared:
            yield
            return
        with file_lock(
            self.catalog_path.with_name(".lock"), self.location, timeout, holder, on_wait
        ):
            yield

    def prepare(self) -> None:
        """Create the root and data folders, or say in one line why they cannot be."""
        if self.remote:
            return reachable(self.location)
        root = Path(self.location)
        if root.exists() and not root.is_dir():
            raise WarehouseError(
                f"{root} is not a folder: point --warehouse / ARXIV_DIGESTS_WAREHOUSE at a "
                "folder (it is created if missing)"
            )
        data = root / DATA_NAME
        try:
            data.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise WarehouseError(
                f"{root} is not a folder: point --warehouse / ARXIV_DIGESTS_WAREHOUSE at a "
                "folder (it is created if missing)"
            ) from None
        except OSError as exc:
            raise WarehouseError(f"cannot create the warehouse at {root}: {exc}") from None
        if not os.access(root, os.W_OK) or not os.access(data, os.W_OK):
            raise WarehouseError(
                f"{root} is not writable: fix its permissions or choose another --warehouse"
            )


@contextlib.contextmanager
def file_lock(
    path: Path,
    name: str,
    timeout: float,
    holder: str,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive flock on `path` (the warehouse `name`'s writer lock), waiting up to
    `timeout` seconds; `holder` is written into it for the one line a waiting run prints."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
                        f"{name} is being written by {who}: waiting up to {timeout:.0f} s for "
                        "it to finish"
                    )
                    on_wait = None
                if time.monotonic() >= deadline:
                    raise WarehouseLocked(
                        f"{name} is being written by {who}; waited {timeout:.0f} s. Try again "
                        "when it finishes (ARXIV_DIGESTS_LOCK_TIMEOUT_SECONDS sets the wait)."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the flock


def reachable(location: str) -> None:
    """An object-store warehouse's bucket exists and answers, or one line saying what to fix."""
    from pyarrow import fs as pafs

    bucket = location.removeprefix("s3://").split("/", 1)[0]
    try:
        info = filesystem(location)[0].get_file_info(bucket)
    except OSError as exc:
        first = str(exc).splitlines()[0]
        raise WarehouseError(
            f"cannot reach the bucket of {location} ({first}): check AWS_ENDPOINT_URL and the "
            "AWS credentials"
        ) from None
    if info.type == pafs.FileType.NotFound:
        raise WarehouseError(
            f"the bucket {bucket} of {location} does not exist: create it, or check "
            "AWS_ENDPOINT_URL"
        )


def attach_script(store: Warehouse) -> str:
    """SQL that makes any DuckDB 1.5.5 session (the `duckdb` shell) read this warehouse: the
    extensions loaded from their wheels, the lake attached read-only and in use. An object
    store's credentials are read from the shell's own AWS variables, never printed."""
    loads = [f"LOAD {_quote(str(extensions.extension_file(m)))};" for m in store.extensions()]
    secret = [S3Access.from_env().secret_sql(from_shell=True) + ";"] if store.remote else []
    return " ".join([*loads, *secret, store.attach_sql(read_only=True) + ";", f"USE {ALIAS};"])


def open_connection(
    store: Warehouse, read_only: bool, snapshot: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as `lake` (and in use)."""
    if read_only and not store.exists():
        raise no_warehouse(store)
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
        _owned(con, store)
        return con
    raise AssertionError("unreachable")


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
    first = str(exc).splitlines()[0]
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
            verify_files(self.con, store)
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

    def commit(self, message: str) -> None:
        """Make everything written since `begin` visible at once, as one snapshot whose commit
        message is `message` (time travel finds a run's snapshot by it). WriteConflict when
        another writer committed first (nothing of this transaction is kept)."""
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
