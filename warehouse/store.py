"""The warehouse on disk: deterministic paths, atomic publish, crash recovery, one writer.

Layout under the root:
    <table>/part-<run_id>-<seq>.parquet   append tables: immutable parts, written once
    <table>/<table>.parquet               snapshot tables: replaced whole by rename
    warehouse.duckdb                      the catalog (views), replaced whole by rename
    .staging/                             files being written; never read by anyone
    .lock                                 held (flock) by the one process writing

A run's parts count as published once its `runs` row is: parts of a run with no `runs` row
were left by a crash and are removed by the next run before it writes anything. Every file
is written in `.staging/` and renamed into place, so a reader never sees a partial file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from schemas import TABLES, Table
from schemas.tables import RUNS

CATALOG_NAME = "warehouse.duckdb"
# A Parquet row group holds at most this many rows, or about this many bytes of Arrow data
# (papers' abstracts make their rows a hundred times wider than a queue row): it bounds the
# writer's buffers and gives DuckDB row groups to scan in parallel.
ROW_GROUP_ROWS = 128 * 1024
ROW_GROUP_BYTES = 32 * 1024 * 1024
# Rows per piece when a table is scanned to be rewritten.
SCAN_ROWS = 8 * 1024
_PART = re.compile(r"^part-(?P<run>.+)-(?P<seq>\d{4,})\.parquet$")


class WarehouseError(Exception):
    """A systemic problem with the warehouse itself (not with an input file)."""


class WarehouseLocked(WarehouseError):
    pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _row_groups(pieces: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Pieces of any size -> row groups of ROW_GROUP_ROWS rows (or fewer, once they hold about
    ROW_GROUP_BYTES), so that a table written piece by piece is not fragmented."""
    held: list[pa.Table] = []
    rows = size = 0
    for piece in pieces:
        if not piece.num_rows:
            continue
        held.append(piece)
        rows, size = rows + piece.num_rows, size + piece.nbytes
        while rows >= ROW_GROUP_ROWS:
            whole = pa.concat_tables(held)
            yield whole.slice(0, ROW_GROUP_ROWS)
            rest = whole.slice(ROW_GROUP_ROWS)
            held, rows, size = [rest], rest.num_rows, size * rest.num_rows // rows
        if size >= ROW_GROUP_BYTES:
            yield pa.concat_tables(held)
            held, rows, size = [], 0, 0
    if rows:
        yield pa.concat_tables(held)


class Warehouse:
    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().resolve()

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_NAME

    @property
    def staging(self) -> Path:
        return self.root / ".staging"

    def table_dir(self, table: Table | str) -> Path:
        return self.root / (table if isinstance(table, str) else table.name)

    # --- reading ------------------------------------------------------------------------------

    def _part_files(self, table: Table) -> list[Path]:
        directory = self.table_dir(table)
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.iterdir() if _PART.match(p.name))

    def committed_runs(self) -> set[str]:
        runs = self.read(RUNS, ["run_id"], committed=None)
        return set(runs.column("run_id").to_pylist())

    def files(self, table: Table, committed: set[str] | None = None) -> list[Path]:
        """The published files of `table`. `committed` (run ids) defaults to the `runs` table."""
        if table.mode == "snapshot":
            snapshot = self.table_dir(table) / f"{table.name}.parquet"
            return [snapshot] if snapshot.exists() else []
        parts = self._part_files(table)
        if table is RUNS:
            return parts
        runs = self.committed_runs() if committed is None else committed
        return [p for p in parts if _PART.match(p.name).group("run") in runs]  # type: ignore[union-attr]

    def read(
        self,
        table: Table,
        columns: list[str] | None = None,
        committed: set[str] | None = None,
    ) -> pa.Table:
        """The published rows of `table` (only `columns`)."""
        files = self.files(table, committed)
        if not files:
            empty = table.empty()
            return empty.select(columns) if columns else empty
        # One dataset over all the parts: read on Arrow's threads, twice as fast as file by
        # file once a table has hundreds of parts.
        parts = ds.dataset([str(f) for f in files], schema=table.schema, format="parquet")
        return parts.to_table(columns=columns)

    def scan(
        self, table: Table, where: pc.Expression | None = None, rows: int | None = None
    ) -> Iterator[pa.Table]:
        """The published rows of `table` matching `where`, `rows` (default SCAN_ROWS) at a
        time: for rewriting a table without ever holding it whole."""
        for path in self.files(table):
            with pq.ParquetFile(path) as source:
                for batch in source.iter_batches(batch_size=rows or SCAN_ROWS):
                    piece = pa.Table.from_batches([batch]).select(table.column_names)
                    piece = piece.cast(table.schema)
                    yield piece if where is None else piece.filter(where)

    # --- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, timeout: float, holder: str) -> Iterator[None]:
        """Hold the single-writer lock. The OS drops it when the process dies, even by kill -9,
        so a crashed run never leaves the warehouse locked."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        who = path.read_text(errors="replace").strip() or "another process"
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

    def recover(self) -> list[Path]:
        """Remove what a crashed run left: staging files and unpublished parts. Call with the
        lock held. Returns the removed paths."""
        removed: list[Path] = []
        if self.staging.exists():
            removed.extend(p for p in self.staging.rglob("*") if p.is_file())
            shutil.rmtree(self.staging, ignore_errors=True)
        committed = self.committed_runs()
        for table in TABLES.values():
            if table.mode != "append" or table is RUNS:
                continue
            for part in self._part_files(table):
                match = _PART.match(part.name)
                assert match is not None
                if match.group("run") not in committed:
                    part.unlink(missing_ok=True)
                    removed.append(part)
        return removed

    def _stage(self, table: Table, pieces: Iterable[pa.Table], target: Path) -> Path:
        """Write `pieces` (in order, each as it comes) as one file in `.staging/`."""
        self.staging.mkdir(parents=True, exist_ok=True)
        tmp = self.staging / f"{target.parent.name}.{target.name}.tmp"
        # A one-column key holds a different value in every row: dictionary encoding it only
        # costs time (half of the write and read of a million-row queue).
        plain = table.key[0] if len(table.key) == 1 else None
        dictionary = [name for name in table.column_names if name != plain]
        with pq.ParquetWriter(
            tmp, table.schema, compression="zstd", use_dictionary=dictionary
        ) as writer:
            for group in _row_groups(pieces):
                data = group.select(table.column_names).cast(table.schema)
                writer.write_table(data, row_group_size=ROW_GROUP_ROWS)
                del group, data
                # Hand freed Arrow memory back to the OS as each group is written: the
                # allocator would keep it cached, and a snapshot written in pieces would
                # peak as if it were held whole.
                pa.default_memory_pool().release_unused()
        return tmp

    def _swap_in(self, tmp: Path, target: Path) -> Path:
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)  # atomic on one filesystem: readers see all or nothing
        _fsync_dir(target.parent)
        return target

    def write_part(self, table: Table, run_id: str, seq: int, data: pa.Table) -> Path:
        if table.mode != "append":
            raise ValueError(f"{table.name} is a snapshot table")
        target = self.table_dir(table) / f"part-{run_id}-{seq:04d}.parquet"
        return self._swap_in(self._stage(table, [data], target), target)

    def write_snapshot(
        self,
        table: Table,
        data: pa.Table | Iterable[pa.Table],
        keep: Callable[[], bool] | None = None,
    ) -> Path | None:
        """Replace `table` by `data`: one Arrow table, or pieces that are written as they come,
        so that a snapshot built piece by piece is never held whole. With `keep`, the new file
        replaces the old one only if keep() is true once it is written."""
        if table.mode != "snapshot":
            raise ValueError(f"{table.name} is an append table")
        target = self.table_dir(table) / f"{table.name}.parquet"
        tmp = self._stage(table, [data] if isinstance(data, pa.Table) else data, target)
        if keep is not None and not keep():
            tmp.unlink()
            return None
        return self._swap_in(tmp, target)

    def remove_run(self, run_id: str) -> None:
        """Drop the parts a failed run wrote (its `runs` row is not written yet)."""
        for table in TABLES.values():
            if table.mode == "append" and table is not RUNS:
                for part in self._part_files(table):
                    match = _PART.match(part.name)
                    if match and match.group("run") == run_id:
                        part.unlink(missing_ok=True)
