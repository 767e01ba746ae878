"""`arxiv-digests check`: is every file the lake refers to there, whole, and its own?

Damage (a missing, truncated or foreign data file; a catalog SQLite cannot read) is reported
one line each, with what to do. Nothing is repaired here, and nothing is ever deleted to
"recover": restoring the named file from a backup (or the catalog, whose data files are
untouched) is the way back.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from schemas import TABLES
from warehouse.checksums import TABLE as CHECKSUMS
from warehouse.checksums import changed, recorded
from warehouse.connection import open_connection, scalar
from warehouse.declare import WRITER
from warehouse.files import SnapshotFile, accounted_for, file_written_at, snapshot_files
from warehouse.identity import TABLE as IDENTITY
from warehouse.identity import lake_id, lake_made
from warehouse.index import TERM_TOTALS, astray_sql
from warehouse.journal import HOT_JOURNAL, journal_beside, private_folder, remove, rolled_back_copy
from warehouse.location import filesystem, object_key
from warehouse.sessions import Writers, damage_line, newest_snapshot, sessions
from warehouse.store import ALIAS, Warehouse, WarehouseDamaged, WarehouseError, data_file_sizes

META = f"__ducklake_metadata_{ALIAS}"
RESTORE = "restore it from a backup of the warehouse"


@dataclass
class Report:
    """What `check` found: damage, notes, files looked at, rows per table."""

    damage: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def _catalog_damage(store: Warehouse, report: Report) -> str | None:
    if store.catalog.shared:
        return None  # PostgreSQL checks its own pages; a catalog it cannot serve fails attach
    if not store.exists():
        lost = store.lost_catalog()
        return str(lost) if lost else f"no warehouse at {store.location} (no catalog, no data)"
    verdict = _quick_check(store.catalog_path)
    if verdict[0] == HOT_JOURNAL and journal_beside(store.catalog_path):
        # A writer killed mid-commit: readers read the committed state from a rolled-back
        # private copy, and so does `check`; the next writer rolls the catalog back itself.
        folder = private_folder()
        try:
            copy = rolled_back_copy(store.catalog_path, folder)
            verdict = _quick_check(copy) if copy is not None else ("ok",)
        finally:
            remove(folder)
        report.notes.append(
            f"{store.catalog_path}: a writer was stopped while it committed (its journal is "
            "beside the catalog): readers see the last finished commit, and the next run "
            "puts the catalog back as that commit left it; nothing to do"
        )
    if verdict != ("ok",):
        return (
            f"{store.catalog_path}: the catalog is damaged ({verdict[0]}): restore "
            "catalog.sqlite from a backup (the data files are untouched)"
        )
    return None


def _quick_check(catalog: Path) -> tuple[str]:
    """SQLite's own verdict on a catalog file opened read-only ("ok" when it is whole)."""
    try:
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as db:
            row = db.execute("PRAGMA quick_check").fetchone()
        return (str(row[0]),) if row else ("?",)
    except sqlite3.Error as exc:
        return (str(exc),)


class Files:
    """The warehouse's data files as its filesystem lists them: one listing (on an object
    store, a few LIST requests rather than a request per file)."""

    def __init__(self, store: Warehouse):
        self.fs = filesystem(store.data_location)[0]
        listed = data_file_sizes(store.data_location)
        self.sizes = {object_key(path): size for path, size in listed.items()}

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
    """Record counts of the data files by file name (a file's count never changes), and the
    names of every file any snapshot still refers to (or that waits for deletion)."""
    live = dict(con.execute(f"SELECT path, record_count FROM {META}.ducklake_data_file").fetchall())
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
    con: duckdb.DuckDBPyConnection,
    store: Warehouse,
    report: Report,
    deep: bool = True,
    listed: list[SnapshotFile] | None = None,
) -> tuple[set[str], Files]:
    """Every file of the connection's snapshot is there with its recorded size; `deep`: and
    opens as Parquet with the recorded row count."""
    listed = snapshot_files(con) if listed is None else listed
    live, known = _referenced(con)
    files = Files(store)
    for table, path, size in listed:
        report.files += 1
        problem = files.damage(path, size, live.get(os.path.basename(path)), deep)
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
        # Rows a reparse moved to rejects left digest_entries in a run too.
        loaded = scalar(
            con,
            "SELECT coalesce(sum(entries_loaded), 0) - coalesce(sum(entries_rejected) FILTER "
            "(WHERE kind = 'reparse'), 0) FROM runs",
        )
        if int(loaded) != report.rows["digest_entries"]:
            report.damage.append(
                f"digest_entries holds {report.rows['digest_entries']} rows where the runs "
                f"loaded {loaded}: rows were lost or added outside a run; {RESTORE}"
            )


def _check_index(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    """The search index holds exactly the texts of the tables' rows, and their terms."""
    if report.damage or not {"search_texts", "search_terms"} <= set(report.rows):
        return  # files already named damaged: reading the tables whole would only fail
    try:
        lacks, extra, papers = con.execute(
            "SELECT coalesce(sum(lacks), 0), coalesce(sum(extra), 0), count(*) "
            f"FROM ({astray_sql()})"
        ).fetchone() or (0, 0, 0)
        lengths, terms = con.execute(TERM_TOTALS).fetchone() or (0, 0)
    except duckdb.Error as exc:
        report.damage.append(f"the search index cannot be read: {str(exc).splitlines()[0]}")
        return
    if papers or lengths != terms:
        report.damage.append(
            f"the search index does not match the tables: it lacks {lacks} text(s) and holds "
            f"{extra} they do not have ({papers} paper(s)), and {terms} term(s) where its "
            f"texts have {lengths}; `arxiv-digests maintain` indexes them again"
        )


def check(store: Warehouse) -> Report:
    """Look at every file the warehouse refers to, and at the catalog's counts."""
    report = Report()
    problem = _catalog_damage(store, report)
    if problem:
        report.damage.append(problem)
        return report
    try:
        con = open_connection(store, read_only=True)
    except WarehouseError as exc:
        report.damage.append(str(exc))
        return report
    with con:
        listed = snapshot_files(con)
        known, files = _check_files(con, store, report, listed=listed)
        _check_hashes(con, listed, files, report)
        _check_counts(con, report)
        _check_index(con, report)
        made = lake_made(con)
        writers = Writers(lake_id(con), sessions(store))
        newest = newest_snapshot(con)  # read after the sessions: a commit since is in both
    _note_strays(store, files, known, made, report, (writers, newest))
    return report


def _check_hashes(
    con: duckdb.DuckDBPyConnection, listed: list[SnapshotFile], files: Files, report: Report
) -> None:
    """Every file read whole and compared with the hash recorded when it was written."""
    sums = recorded(con)
    report.damage += changed(listed, sums, files.fs)
    unhashed = sum(1 for _, path, _ in listed if os.path.basename(path) not in sums)
    if unhashed:
        report.notes.append(
            f"{unhashed} file(s) have no recorded checksum yet (written before release 0.3, or "
            "just now): the next run records them, and `check` compares them from then on"
        )


def _note_strays(
    store: Warehouse,
    files: Files,
    known: set[str],
    made: datetime,
    report: Report,
    writers: tuple[Writers, int],
) -> None:
    """Files under data/ that no snapshot refers to: the lake's own (interrupted runs), which
    `maintain` removes, and any other, which it never touches. Files another lake's writers
    wrote, or a catalog older than the snapshots its writers committed, are damage."""
    strays = [p for p in files.sizes if os.path.basename(p) not in known]
    tables = {f"main.{t}" for t in TABLES} | {CHECKSUMS, IDENTITY, WRITER}
    data = object_key(store.data_location)
    foreign: Counter[str] = Counter()
    for path in strays:
        when = file_written_at(path, data)
        other = writers[0].foreign(when) if when is not None else None
        if other is not None:
            foreign[other] += 1
    if line := damage_line(*writers, dict(foreign)):
        report.damage.append(line)
        return
    own = [p for p in strays if accounted_for(p, data, tables, made)]
    if own:
        report.notes.append(
            f"{len(own)} file(s) under {store.data_location} belong to no snapshot (left by "
            "interrupted runs, invisible to readers): `arxiv-digests maintain` removes them"
        )
    for path in sorted(set(strays) - set(own))[:20]:
        report.notes.append(
            f"{path}: not a file of this lake (no snapshot refers to it, and this lake did not "
            "write it); `maintain` leaves it: move it out of the data folder"
        )


def verify_files(con: duckdb.DuckDBPyConnection, store: Warehouse) -> list[str]:
    """Before a writer changes anything, or a reader reads: every file of the connection's
    snapshot is there, whole (sizes only: one listing). Damage stops it with one line, and
    nothing is written. The snapshot's files, as DuckDB names them."""
    report = Report()
    listed = snapshot_files(con)
    _check_files(con, store, report, deep=False, listed=listed)
    if report.damage:
        more = f" (and {len(report.damage) - 1} more)" if len(report.damage) > 1 else ""
        first = _foreign_catalog(con, store) or f"{report.damage[0]}{more}"
        raise WarehouseDamaged(f"{first}; `arxiv-digests check` lists every problem")
    return [path for _, path, _ in listed]


def _foreign_catalog(con: duckdb.DuckDBPyConnection, store: Warehouse) -> str | None:
    """Why files the catalog lists are missing when it is another lake's: the writers of
    this folder recorded sessions, none of them of the catalog's lake."""
    mine, recorded = lake_id(con), sessions(store)
    if mine is None or not recorded or any(s.lake_id == mine for s in recorded):
        return None
    return (
        f"this catalog is another lake's ({mine}): the data here was written by the writers of "
        f"lake {recorded[-1].lake_id} (the catalog copied from another warehouse?); nothing "
        "was written, merged or deleted; restore this warehouse's own catalog from a backup"
    )
