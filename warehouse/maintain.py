"""`arxiv-digests maintain`: DuckLake's own upkeep, in the order its CHECKPOINT runs it.

1. merge adjacent small files, and rewrite files that deletes have thinned (each daily run
   adds a few small files and a queue delete file);
2. expire snapshots older than the retention (time travel reaches back that far);
3. delete the files only expired snapshots referred to, and files no snapshot refers to (left
   by interrupted runs), once they are older than the grace period: a reader's query that
   started before never loses a file it is reading.

The caller holds the writer lock, so no run is writing files meanwhile. The tables' rows are
the same before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.lake import ALIAS, Lake


@dataclass
class Upkeep:
    """What `maintain` did."""

    merged: int
    rewritten: int
    expired: int
    files_removed: int
    orphans_removed: int


def _rows(lake: Lake, sql: str) -> int:
    return len(lake.con.execute(sql).fetchall())


def maintain(lake: Lake, retention_days: float, grace_seconds: float) -> Upkeep:
    """Merge small files, expire old snapshots, delete files no snapshot needs."""
    older = f"now() - to_microseconds({int(retention_days * 86_400_000_000)})"
    grace = f"now() - to_microseconds({int(grace_seconds * 1_000_000)})"
    merged = _rows(lake, f"CALL ducklake_merge_adjacent_files('{ALIAS}')")
    rewritten = _rows(lake, f"CALL ducklake_rewrite_data_files('{ALIAS}')")
    expired = _rows(lake, f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => {older})")
    removed = _rows(lake, f"CALL ducklake_cleanup_old_files('{ALIAS}', older_than => {grace})")
    orphans = _rows(lake, f"CALL ducklake_delete_orphaned_files('{ALIAS}', older_than => {grace})")
    return Upkeep(merged, rewritten, expired, removed, orphans)
