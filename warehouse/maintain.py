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

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from warehouse.lake import ALIAS, Lake, lake_made
from warehouse.location import filesystem, object_key

# DuckLake's name for the files it writes: a UUIDv7, whose first 48 bits are the time in ms.
_DUCKLAKE_FILE = re.compile(
    r"(?:^|/)(?P<schema>\w+)/(?P<table>\w+)/ducklake-(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}"
    r"-[0-9a-f]{4}-[0-9a-f]{12})(?:-delete)?\.parquet$"
)


@dataclass
class Upkeep:
    """What `maintain` did."""

    merged: int
    rewritten: int
    expired: int
    files_removed: int
    orphans_removed: int
    orphans_kept: int  # unreferenced files left because nothing says this lake wrote them


def _rows(lake: Lake, sql: str) -> int:
    return len(lake.con.execute(sql).fetchall())


def written_at(uuid_text: str) -> datetime:
    """When a UUIDv7 was made (its first 48 bits: milliseconds since the epoch)."""
    return datetime.fromtimestamp((uuid.UUID(uuid_text).int >> 80) / 1000, UTC)


def accounted_for(path: str, data_location: str, tables: set[str], made: datetime) -> bool:
    """Whether an unreferenced file is one this lake's writers wrote (see the module's note)."""
    relative = object_key(path).removeprefix(object_key(data_location))
    match = _DUCKLAKE_FILE.search(relative)
    if match is None or relative.count("/") != 2:
        return False
    if f"{match['schema']}.{match['table']}" not in tables:
        return False
    return written_at(match["uuid"]) >= made


def _delete_orphans(lake: Lake, grace: str) -> tuple[int, int]:
    """Delete the unreferenced files older than `grace` that this lake wrote; (deleted, kept)."""
    made = lake_made(lake.con)
    tables = {
        f"{schema}.{table}"
        for schema, table in lake.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?", [ALIAS]
        ).fetchall()
    }
    candidates = [
        path
        for (path,) in lake.con.execute(
            f"CALL ducklake_delete_orphaned_files('{ALIAS}', older_than => {grace}, "
            "dry_run => true)"
        ).fetchall()
    ]
    data = lake.store.data_location
    doomed = [p for p in candidates if accounted_for(p, data, tables, made)]
    fs = filesystem(data)[0]
    for path in doomed:
        fs.delete_file(object_key(path))
    return len(doomed), len(candidates) - len(doomed)


def maintain(lake: Lake, retention_days: float, grace_seconds: float) -> Upkeep:
    """Merge small files, expire old snapshots, delete files no snapshot needs."""
    older = f"now() - to_microseconds({int(retention_days * 86_400_000_000)})"
    grace = f"now() - to_microseconds({int(grace_seconds * 1_000_000)})"
    merged = _rows(lake, f"CALL ducklake_merge_adjacent_files('{ALIAS}')")
    rewritten = _rows(lake, f"CALL ducklake_rewrite_data_files('{ALIAS}')")
    expired = _rows(lake, f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => {older})")
    removed = _rows(lake, f"CALL ducklake_cleanup_old_files('{ALIAS}', older_than => {grace})")
    orphans, kept = _delete_orphans(lake, grace)
    return Upkeep(merged, rewritten, expired, removed, orphans, kept)
