"""`arxiv-digests check`: is every file the lake refers to there, whole, and its own?

Damage (a missing, truncated or foreign data file; a catalog SQLite cannot read) is reported
one line each, with what to do. Nothing is repaired here, and nothing is ever deleted to
"recover": restoring the named file from a backup (or the catalog, whose data files are
untouched) is the way back.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field

import duckdb
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from schemas import TABLES
from warehouse.lake import (
    ALIAS,
    Warehouse,
    WarehouseDamaged,
    WarehouseError,
    open_connection,
    scalar,
)
from warehouse.location import filesystem, object_key

META = f"__ducklake_metadata_{ALIAS}"
RESTORE = "restore it from a backup of the warehouse"


@dataclass
class Report:
    """What `check` found: damage, notes, files looked at, rows per table."""

    damage: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def _catalog_damage(store: Warehouse) -> str | None:
    if store.catalog.shared:
        return None  # PostgreSQL checks its own pages; a catalog it cannot serve fails attach
    if not store.exists():
        return f"{store.catalog_path}: no catalog (not a warehouse, or its catalog was removed)"
    try:
        with sqlite3.connect(f"file:{store.catalog_path}?mode=ro", uri=True) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        verdict = (str(exc),)
    if verdict != ("ok",):
        return (
            f"{store.catalog_path}: the catalog is damaged ({verdict[0] if verdict else '?'}): "
            "restore catalog.sqlite from a backup (the data files are untouched)"
        )
    return None


class Files:
    """The warehouse's data files as its filesystem lists them: one listing (on an object
    store, a few LIST requests rather than a request per file)."""

    def __init__(self, store: Warehouse):
        self.fs, base = filesystem(store.data_location.rstrip("/"))
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        self.sizes = {
            object_key(info.path): info.size
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        }

    def damage(self, path: str, size: int | None, rows: int | None, deep: bool) -> str | None:
        """What is wrong with the data file at `path`, recorded as `size` bytes and `rows`."""
        actual = self.sizes.get(object_key(path))
        if actual is None:
            return f"{path}: missing; {RESTORE}"
        if size is not None and actual != size:
            return (
                f"{path}: {actual} bytes where the catalog recorded {size} (truncated or "
                f"replaced); {RESTORE}"
            )
        if not deep:
            return None
        try:
            meta = pq.read_metadata(object_key(path), filesystem=self.fs)
        except (OSError, ValueError) as exc:
            return f"{path}: not a readable Parquet file ({exc}); {RESTORE}"
        if rows is not None and meta.num_rows != rows:
            return (
                f"{path}: {meta.num_rows} rows where the catalog recorded {rows} (a foreign "
                f"file); {RESTORE}"
            )
        return None


def _referenced(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], set[str]]:
    """Record counts of the live data files by file name, and the names of every file any
    snapshot still refers to (or that waits for deletion)."""
    live = dict(
        con.execute(
            f"SELECT path, record_count FROM {META}.ducklake_data_file WHERE end_snapshot IS NULL"
        ).fetchall()
    )
    known = {
        os.path.basename(p)
        for (p,) in con.execute(
            f"SELECT path FROM {META}.ducklake_data_file UNION ALL "
            f"SELECT path FROM {META}.ducklake_delete_file UNION ALL "
            f"SELECT path FROM {META}.ducklake_files_scheduled_for_deletion"
        ).fetchall()
    }
    return {os.path.basename(k): v for k, v in live.items()}, known


def _check_files(
    con: duckdb.DuckDBPyConnection, store: Warehouse, report: Report, deep: bool = True
) -> tuple[set[str], Files]:
    """Every file of the newest snapshot is there with its recorded size; `deep`: and opens
    as Parquet with the recorded row count."""
    live, known = _referenced(con)
    files = Files(store)
    for table in TABLES:
        for data, data_size, delete, delete_size in con.execute(
            "SELECT data_file, data_file_size_bytes, delete_file, delete_file_size_bytes "
            f"FROM ducklake_list_files('{ALIAS}', ?)",
            [table],
        ).fetchall():
            for path, size, rows in (
                (data, data_size, live.get(os.path.basename(data))),
                (delete, delete_size, None),
            ):
                if path is None:
                    continue
                report.files += 1
                problem = files.damage(path, size, rows, deep)
                if problem:
                    report.damage.append(f"table {table}: {problem}")
    return known, files


def _check_counts(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    for table in TABLES:
        try:
            report.rows[table] = int(scalar(con, f'SELECT count(*) FROM "{table}"'))
        except duckdb.Error as exc:
            report.damage.append(f"table {table} cannot be read: {str(exc).splitlines()[0]}")
    if "digest_entries" in report.rows and "runs" in report.rows:
        loaded = scalar(con, "SELECT coalesce(sum(entries_loaded), 0) FROM runs")
        if int(loaded) != report.rows["digest_entries"]:
            report.damage.append(
                f"digest_entries holds {report.rows['digest_entries']} rows where the runs "
                f"loaded {loaded}: rows were lost or added outside a run; {RESTORE}"
            )


def check(store: Warehouse) -> Report:
    """Look at every file the warehouse refers to, and at the catalog's counts."""
    report = Report()
    problem = _catalog_damage(store)
    if problem:
        report.damage.append(problem)
        return report
    try:
        con = open_connection(store, read_only=True)
    except WarehouseError as exc:
        report.damage.append(str(exc))
        return report
    with con:
        known, files = _check_files(con, store, report)
        _check_counts(con, report)
    strays = [p for p in files.sizes if os.path.basename(p) not in known]
    if strays:
        report.notes.append(
            f"{len(strays)} file(s) under {store.data_location} belong to no snapshot (left by "
            "interrupted runs, invisible to readers): `arxiv-digests maintain` removes them"
        )
    return report


def verify_files(con: duckdb.DuckDBPyConnection, store: Warehouse) -> None:
    """Before a writer changes anything: every file the lake refers to is there, whole
    (sizes only: one listing). Damage stops it with one line, and nothing is written."""
    report = Report()
    _check_files(con, store, report, deep=False)
    if report.damage:
        more = f" (and {len(report.damage) - 1} more)" if len(report.damage) > 1 else ""
        raise WarehouseDamaged(
            f"{report.damage[0]}{more}; `arxiv-digests check` lists every problem"
        )
