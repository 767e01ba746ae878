"""`arxiv-digests maintain`: DuckLake's own upkeep, in the order its CHECKPOINT runs it.

1. merge adjacent small files, and rewrite files that deletes have thinned (each daily run
   adds a few small files and a queue delete file);
2. expire snapshots older than the retention (time travel reaches back that far);
3. delete the files only expired snapshots referred to, and files no snapshot refers to (left
   by interrupted runs), once they are older than the grace period: a reader's query that
   started before never loses a file it is reading.

An unreferenced file is deleted only when it can be accounted for: named as DuckLake names
the files it writes (`ducklake-<UUIDv7>.parquet`), in the folder of a table of this lake, and
written (the UUIDv7's time) after this lake's catalog was made. Anything else under `data/`
(a user's file, files a lost catalog once listed) is left where it is, and counted.

The caller holds the writer lock, so no run is writing files meanwhile. The tables' rows are
the same before and after.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from schemas import TABLES
from warehouse.files import accounted_for, file_written_at
from warehouse.identity import lake_id, lake_made
from warehouse.index import astray, repair
from warehouse.lake import Lake
from warehouse.location import filesystem, object_key
from warehouse.sessions import Writers, damage_line, newest_snapshot, sessions
from warehouse.store import ALIAS, WarehouseDamaged
from warehouse.writes import refuse_changed_files


@dataclass
class Upkeep:
    """What `maintain` did."""

    merged: int
    rewritten: int
    expired: int
    files_removed: int
    orphans_removed: int
    orphans_kept: int  # unreferenced files left because nothing says this lake wrote them
    reindexed: int = 0  # papers whose search index did not match their rows (`check` says)


def _rows(lake: Lake, sql: str) -> int:
    return len(lake.con.execute(sql).fetchall())


def _orphans(lake: Lake, older_than: str) -> list[str]:
    """The files under data/ no snapshot refers to, written before `older_than`."""
    return [
        path
        for (path,) in lake.con.execute(
            f"CALL ducklake_delete_orphaned_files('{ALIAS}', older_than => {older_than}, "
            "dry_run => true)"
        ).fetchall()
    ]


def refuse_another_catalog(lake: Lake) -> Writers:
    """WarehouseDamaged when the catalog is not the one the data belongs to: files no snapshot
    lists were written by another lake's writers, or a writer of this lake committed a
    snapshot the catalog does not have (an older copy). Else who wrote what."""
    writers = Writers(lake_id(lake.con), sessions(lake.store))
    newest = newest_snapshot(lake.con)  # read after the sessions: a commit since is in both
    data = lake.store.data_location
    foreign: Counter[str] = Counter()
    for path in _orphans(lake, "now()"):
        when = file_written_at(path, data)
        other = writers.foreign(when) if when is not None else None
        if other is not None:
            foreign[other] += 1
    line = damage_line(writers, newest, dict(foreign))
    if line:
        raise WarehouseDamaged(f"{line}; nothing was merged or deleted")
    return writers


def _delete_orphans(lake: Lake, grace: str, writers: Writers) -> tuple[int, int]:
    """Delete the unreferenced files older than `grace` that this lake wrote; (deleted, kept)."""
    made = lake_made(lake.con)
    tables = {
        f"{schema}.{table}"
        for schema, table in lake.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?", [ALIAS]
        ).fetchall()
    }
    candidates = _orphans(lake, grace)
    data = lake.store.data_location
    doomed = [
        p for p in candidates if accounted_for(p, data, tables, made) and _own(p, data, writers)
    ]
    fs = filesystem(data)[0]
    for path in doomed:
        fs.delete_file(object_key(path))
    return len(doomed), len(candidates) - len(doomed)


def _own(path: str, data: str, writers: Writers) -> bool:
    """Whether a writer of this lake wrote the file, as far as the sessions recorded tell
    (a file from before the first recorded session is judged by its name and time alone)."""
    when = file_written_at(path, data)
    return when is not None and writers.foreign(when) is None


ROW_GROUP_BYTES = 16_000_000  # as DuckLake stores '16MB'


def _bounded_row_groups(lake: Lake) -> None:
    """Merged files' row groups bounded by bytes, not rows alone: a row group is held whole
    until it is compressed, and 122,880 rows of the raw layer's digests are gigabytes (DuckDB
    honours the bound only without insertion order, which no table relies on). On qhduan's
    whole history (351 MB): the merge's peak 1.8 GB before, 295 MB after."""
    lake.con.execute("SET preserve_insertion_order = false")
    set_now = lake.con.execute(
        f"SELECT value FROM ducklake_options('{ALIAS}') WHERE scope = 'GLOBAL' "
        "AND option_name = 'parquet_row_group_size_bytes'"
    ).fetchall()
    if set_now != [(str(ROW_GROUP_BYTES),)]:
        lake.con.execute(
            f"CALL {ALIAS}.set_option('parquet_row_group_size_bytes', "
            f"'{ROW_GROUP_BYTES // 1_000_000}MB')"
        )


def maintain(lake: Lake, retention_days: float, grace_seconds: float) -> Upkeep:
    """Merge small files, expire old snapshots, delete files no snapshot needs. A file whose
    bytes changed since it was written stops it first: merging would copy the damage into a
    file with a new, matching hash."""
    refuse_changed_files(lake, "nothing was merged or deleted")
    writers = refuse_another_catalog(lake)
    _bounded_row_groups(lake)
    reindexed = 0
    if (papers := astray(lake)) is not None:
        with lake.transaction("repair the search index"):
            reindexed = repair(lake, papers)
    older = f"now() - to_microseconds({int(retention_days * 86_400_000_000)})"
    grace = f"now() - to_microseconds({int(grace_seconds * 1_000_000)})"
    for table in (t for t in TABLES.values() if not t.inlined):  # kept in the catalog before
        lake.execute(f"CALL ducklake_flush_inlined_data('{ALIAS}', table_name => '{table.name}')")
    merged = _rows(lake, f"CALL ducklake_merge_adjacent_files('{ALIAS}')")
    rewritten = _rows(lake, f"CALL ducklake_rewrite_data_files('{ALIAS}')")
    expired = _rows(lake, f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => {older})")
    removed = _rows(lake, f"CALL ducklake_cleanup_old_files('{ALIAS}', older_than => {grace})")
    orphans, kept = _delete_orphans(lake, grace, writers)
    lake.record_checksums()  # of the merged and rewritten files
    return Upkeep(merged, rewritten, expired, removed, orphans, kept, reindexed)
