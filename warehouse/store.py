"""Where a warehouse is and who may write it: its folder or object-store prefix, its
catalog, and the writer lock of a SQLite catalog."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from schemas.errors import ArxivDigestsError
from warehouse.location import Catalog, filesystem, is_remote, joined, sql_literal

CATALOG_NAME = "catalog.sqlite"
DATA_NAME = "data"
IDENTITY_NAME = ".lake-id"  # which lake the data files belong to (see `Warehouse.identity`)
ALIAS = "lake"  # the name the lake is attached under in every connection
# What a folder may hold before its lake is made: the names a run killed before its first
# commit leaves, what sits beside a warehouse, and release 0.1's layout (the first run
# migrates it). Anything else means the folder is not a warehouse's.
OWN_NAMES = {
    CATALOG_NAME, DATA_NAME, IDENTITY_NAME, ".lock", "legacy", "report", "export", ".writers",
    # SQLite's own files beside a catalog another run is making at this moment
    f"{CATALOG_NAME}-journal", f"{CATALOG_NAME}-wal", f"{CATALOG_NAME}-shm",
    f"{IDENTITY_NAME}.partial",
}  # fmt: skip
OLD_LAYOUT = {
    "digests", "seen_files", "digest_entries", "papers", "paper_authors", "paper_categories",
    "enrichment", "rejects", "runs", "warehouse.duckdb", ".staging",
}  # fmt: skip
# Folders of the system a warehouse must never be made in (whatever they hold).
SYSTEM_FOLDERS = frozenset(
    ["/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc",
     "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var"]
)  # fmt: skip


class WarehouseError(ArxivDigestsError):
    """A systemic problem with the warehouse itself (not with an input file)."""


class WarehouseLocked(WarehouseError):
    """Another process is writing the warehouse."""


class WriteConflict(WarehouseError):
    """Another writer committed first, and DuckLake's conflict check refused this commit."""


class WarehouseDamaged(WarehouseError):
    """A file the lake refers to is missing or unreadable, or the catalog is damaged."""


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
            self.catalog = self._folder_catalog()

    def _folder_catalog(self) -> Catalog:
        return Catalog("sqlite", str(Path(self.location) / CATALOG_NAME))

    def own_catalog(self) -> Catalog | None:
        """The catalog a folder warehouse keeps inside itself (none for an object store)."""
        return None if self.remote else self._folder_catalog()

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
        """Whether a warehouse has been made here (a PostgreSQL catalog is asked on attach).
        An empty catalog file is none: SQLite would take it for a new database."""
        if self.catalog.shared:
            return True
        with contextlib.suppress(OSError):
            return self.catalog_path.is_file() and self.catalog_path.stat().st_size > 0
        return False

    def data_files(self) -> list[str]:
        """Every file under the data folder (one listing; an object store's LIST requests)."""
        return list(data_file_sizes(self.data_location))

    def identity(self) -> str | None:
        """The lake the data folder belongs to, as its first writer recorded it (None: not
        recorded, as in warehouses made before release 0.3)."""
        fs, path = filesystem(joined(self.location, IDENTITY_NAME))
        try:
            with fs.open_input_stream(path) as stream:
                return bytes(stream.read(200)).decode("utf-8", "replace").strip() or None
        except (FileNotFoundError, OSError):
            return None

    def record_identity(self, identity: str) -> None:
        """Record which lake the data folder belongs to (whole: an object store's PUT is; a
        folder's file is written beside and renamed)."""
        fs, path = filesystem(joined(self.location, IDENTITY_NAME))
        written = path if self.remote else path + ".partial"
        with fs.open_output_stream(written) as stream:
            stream.write(identity.encode() + b"\n")
        if written != path:
            fs.move(written, path)

    def lost_catalog(self) -> WarehouseDamaged | None:
        """The one-line damage of data files with no catalog to account for them."""
        files = self.data_files()
        if not files:
            return None
        name = self.catalog.shown() if self.catalog.shared else str(self.catalog_path)
        return WarehouseDamaged(
            f"{self.data_location} holds {len(files)} data file(s) but the catalog {name} is "
            "missing or empty: restore the catalog from a backup (docs: operations, "
            "recovery); nothing was written or deleted"
        )

    def attach_sql(self, read_only: bool, snapshot: int | None = None) -> str:
        """The ATTACH statement for this warehouse. The data path is given, and overrides the
        one the catalog recorded, so that a moved or copied folder reads its own files."""
        options = [f"DATA_PATH {sql_literal(self.data_location)}", "OVERRIDE_DATA_PATH true"]
        if read_only:
            options.insert(0, "READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        catalog = sql_literal(self.catalog.ducklake_uri())
        return f"ATTACH {catalog} AS {ALIAS} ({', '.join(options)})"

    def extensions(self) -> list[str]:
        """The wheel modules of the DuckDB extensions this warehouse needs."""
        needed = [self.catalog.extension(), "duckdb_extension_ducklake", "duckdb_extension_fts"]
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

    def writer(self) -> str | None:
        """Who holds the writer lock now (None: nobody, or a shared catalog, which has no
        lock). It only reads: the lock file is opened read-only and never created."""
        if self.catalog.shared:
            return None
        path = self.catalog_path.with_name(".lock")
        try:  # non-blocking: a FIFO planted under the name cannot hang a reader
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None  # nobody holds it exclusively (closing drops this shared hold)
        except BlockingIOError:
            with contextlib.suppress(OSError):
                return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            return "another process"
        except OSError:  # not a file a lock can be taken on
            return None
        finally:
            os.close(fd)

    def prepare(self) -> None:
        """Create the root and data folders, or say in one line why they cannot be."""
        if self.remote:
            reachable(self.location)
            if not self.exists() and (lost := self.lost_catalog()):
                raise lost
            return None
        root = Path(self.location)
        self.refuse_new_lake_here()
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

    def refuse_new_lake_here(self) -> None:
        """A new lake is made only in a new or empty folder (or a 0.1 warehouse's), never in a
        system folder, and never beside data files whose catalog was lost (a folder on this
        machine; nothing to refuse where a warehouse is made already)."""
        if self.remote or self.exists():
            return
        root = Path(self.location)
        if root.exists() and not root.is_dir():
            raise WarehouseError(
                f"{root} is a file, not a folder: point --warehouse / ARXIV_DIGESTS_WAREHOUSE at "
                "a folder (it is created if missing)"
            )
        if str(root) in SYSTEM_FOLDERS or root == Path.home():
            raise WarehouseError(
                f"{root} is a system folder: point --warehouse / ARXIV_DIGESTS_WAREHOUSE at a "
                "folder of its own (it is created if missing)"
            )
        if (lost := self.lost_catalog()) is not None:
            raise lost
        with contextlib.suppress(OSError):
            strangers = sorted(set(os.listdir(root)) - OWN_NAMES - OLD_LAYOUT)
            if strangers and root.is_dir():
                raise WarehouseError(
                    f"{root} is not empty ({strangers[0]}{' …' if len(strangers) > 1 else ''}) "
                    "and holds no warehouse: point --warehouse / ARXIV_DIGESTS_WAREHOUSE at a "
                    "new or empty folder"
                )


def data_file_sizes(data_location: str) -> dict[str, int]:
    """Size by path (as its filesystem names it) of every file under a data location."""
    from pyarrow import fs as pafs

    fs, base = filesystem(data_location.rstrip("/"))
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    try:
        infos = fs.get_file_info(selector)
    except FileNotFoundError:
        return {}
    return {info.path: info.size for info in infos if info.type == pafs.FileType.File}


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
        with contextlib.suppress(OSError):  # who holds it is a courtesy: a full disk refuses it
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
