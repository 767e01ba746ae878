"""`arxiv-digests reparse`: every digest the warehouse keeps (`digest_bytes`) parsed again with
today's code, and what changed applied in one transaction.

Entries whose fields changed are replaced; rows that parse now are loaded (and their rejects
marked resolved); rows that fail now leave `digest_entries` for `rejects`, with their reason;
the IDs of new or changed rows go through the enrichment queue's policy; a digest's derived
counts follow its entries; a `runs` row (kind `reparse`) counts each. A parser that changed
nothing writes nothing. A warehouse from before the raw layer takes each digest's bytes from
its `source_path` when the file there still has the same sha256 (and keeps them), and names
the digests it could not find. Plain functions, as `rejects replay` (`flows.pipeline.replay`)."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows.digests.guard import Limits
from flows.digests.history import is_git
from flows.digests.parsed import NewFile, parse_files, validate_batch
from flows.digests.rejects import unknown
from flows.enrichment.queue import add_sightings
from flows.pipeline.run_stats import RunStats
from schemas.tables import DIGEST_BYTES, REJECTS, RUNS
from warehouse.lake import Lake
from warehouse.queue import pending_count
from warehouse.store import WarehouseDamaged
from warehouse.writes import (
    digests_without_bytes,
    entry_changes,
    held_keys,
    kept_bytes,
    kept_digests,
    refuse_changed_files,
    replace_entries,
    resolve_loaded_rejects,
    update_digests,
)

BATCH = 200  # digests parsed at a time: what the run holds of the raw layer at once


@dataclass
class Reparse:
    """What a reparse found and did."""

    digests: int = 0  # digests parsed again
    entries: int = 0  # rows they hold now
    updated: int = 0  # rows whose fields changed
    loaded: int = 0  # rows that parse now and did not before
    rejected: int = 0  # rows that failed now and were loaded before
    recovered: int = 0  # digests whose bytes came from their source_path
    missing: list[str] = field(default_factory=list)  # source_paths of digests not found
    run_id: str | None = None  # the run, when anything changed


class Kept:
    """A kept digest where `parse_files` takes a path: its source_path, as recorded."""

    def __init__(self, source_path: str):
        self.text = source_path

    def __str__(self) -> str:
        return self.text

    @property
    def name(self) -> str:
        """The file name of its path (of the path in the tree, for a git version)."""
        tree_path = self.text.rsplit(":", 1)[-1] if is_git(self.text) else self.text
        return posixpath.basename(tree_path)


def recover(lacking: pa.Table) -> tuple[pa.Table, list[str]]:
    """Bytes for the digests the raw layer lacks, read at their source_path when the file's
    sha256 is still the digest's id; and the source_paths of those not found."""
    ids, datas, missing = [], [], []
    for row in lacking.to_pylist():
        path = Path(row["source_path"])
        try:
            data = path.read_bytes() if path.is_file() else None
        except OSError:
            data = None
        if data is not None and hashlib.sha256(data).hexdigest() == row["digest_id"]:
            ids.append(row["digest_id"])
            datas.append(data)
        else:
            missing.append(row["source_path"])
    table = pa.table({"digest_id": ids, "data": pa.array(datas, pa.binary())})
    return table.cast(DIGEST_BYTES.schema), missing


def verified(kept: dict[str, Any]) -> bytes:
    """A kept digest's bytes, if they are still the bytes its id is the sha256 of; else
    WarehouseDamaged naming it (parsed, damaged bytes would replace good rows)."""
    digest_id, source_path, data = kept["digest_id"], kept["source_path"], bytes(kept["data"])
    if hashlib.sha256(data).hexdigest() != digest_id:
        raise WarehouseDamaged(
            f"digest {digest_id} ({source_path}): its kept bytes no longer have the sha256 that "
            "is its id (damaged in digest_bytes): nothing was parsed again; restore the "
            "warehouse from a backup, then run reparse"
        )
    return data


def reparse(
    lake: Lake, run_id: str, limits: Limits, progress: Callable[[int, int], None] | None = None
) -> Reparse:
    """Parse every kept digest again; commit one transaction if anything changed.
    `progress(done, total)` is told after each batch of digests."""
    started, result = datetime.now(UTC), Reparse()
    refuse_changed_files(lake, "nothing was parsed again")
    lake.begin()
    try:
        recovered, result.missing = recover(digests_without_bytes(lake))
        lake.insert(DIGEST_BYTES, recovered)
        result.recovered = recovered.num_rows
        ids = kept_digests(lake)
        changed_digests = 0
        for at in range(0, len(ids), BATCH):
            changed_digests += _batch(lake, ids[at : at + BATCH], run_id, limits, result)
            if progress is not None:
                progress(min(at + BATCH, len(ids)), len(ids))
        result.digests = len(ids)
        changed = result.updated or result.loaded or result.rejected or changed_digests
        if not (changed or result.recovered):
            lake.rollback()  # nothing changed: nothing written
            return result
        result.run_id = run_id
        add_run = pa.Table.from_pylist([_run_row(lake, result, started)], RUNS.schema)
        lake.insert(RUNS, add_run)
        lake.commit(f"run {run_id}: reparse")
    except BaseException:
        lake.rollback()
        raise
    return result


def _batch(lake: Lake, ids: list[str], run_id: str, limits: Limits, result: Reparse) -> int:
    """One batch of digests parsed again and its changes written; the digests changed."""
    now = datetime.now(UTC)
    kept = kept_bytes(lake, ids).to_pylist()
    files: list[NewFile] = [
        (Kept(k["source_path"]), k["digest_id"], verified(k))  # type: ignore[misc]
        for k in kept
    ]
    valid = validate_batch(parse_files(files, run_id, now, limits), run_id, now)
    scope = pa.table({"digest_id": pa.array(ids, pa.string())})
    differ, gone = entry_changes(lake, valid.entries, scope)
    before = held_keys(lake, differ.select(["digest_id", "ref"]))
    result.entries += valid.entries.num_rows
    result.updated += before
    result.loaded += differ.num_rows - before
    result.rejected += gone.num_rows
    if differ.num_rows or gone.num_rows:
        replace_entries(lake, differ, gone)
        resolve_loaded_rejects(lake, differ, run_id)
        add_sightings(lake, differ.select(["arxiv_id", "arxiv_version"]))
    if gone.num_rows:  # their reasons, as any run would record them
        known = set(lake.read(REJECTS, ["reject_id"]).column("reject_id").to_pylist())
        lake.insert(REJECTS, unknown(valid.rejects, known))
    return update_digests(lake, valid.digests)


def _run_row(lake: Lake, result: Reparse, started: datetime) -> dict[str, object]:
    assert result.run_id is not None
    stats = RunStats(
        run_id=result.run_id,
        started_at=started,
        ended_at=datetime.now(UTC),
        kind="reparse",
        files_seen=result.digests,
        entries_seen=result.entries + result.rejected,
        entries_loaded=result.loaded,
        entries_rejected=result.rejected,
        entries_updated=result.updated,
        papers_pending=pending_count(lake),
        message=(
            f"reparse of {result.digests} digest(s): {result.updated} row(s) changed, "
            f"{result.loaded} loaded, {result.rejected} rejected"
        ),
    )
    return stats.row()
