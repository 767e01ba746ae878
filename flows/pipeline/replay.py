"""`rejects replay`: the raw text of rejected rows parsed and validated again by today's code.

A row reject's raw text is its table row followed by its detail block: a digest of one entry.
Rows that pass now move into `digest_entries` in one transaction, with their IDs queued for
enrichment, their rejects marked `resolved_by` the replay's run and a `runs` row counting
them. A digest's rows seen stay equal to its rows loaded plus its unresolved row rejects, and
a replay that moves nothing writes nothing, so a second one is a no-op."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from flows.digests.families import family_of_path
from flows.digests.parsed import ENTRY_SCHEMA
from flows.enrichment.queue import add_sightings
from flows.pipeline.run_stats import RunStats
from schemas.tables import DIGEST_ENTRIES, RUNS
from schemas.validate import validate
from warehouse.index import index_entries
from warehouse.lake import Lake
from warehouse.queue import pending_count
from warehouse.writes import not_loaded, replayable_rejects, resolve_rejects

REPLAY_SCHEMA = pa.schema([*ENTRY_SCHEMA, pa.field("_reject_id", pa.string())])


@dataclass
class Replay:
    """What a replay did: rejects tried, rows loaded, and why the others stay."""

    tried: int = 0  # rejects whose raw text was parsed again
    moved: int = 0  # rows now in digest_entries
    run_id: str | None = None  # the replay's run, when it moved anything
    still: Counter[str] = field(default_factory=Counter)  # why the others stay: reason -> rows


def reparse(rejects: pa.Table, still: Counter[str]) -> pa.Table:
    """Rejects -> the entry rows of those whose raw text now parses as exactly one row, placed
    where the reject was (its digest, line and file). Counts the others in `still`."""
    rows = []
    for reject in rejects.to_pylist():
        family = family_of_path(reject["source"], reject["raw"][:4096].encode())
        entries, problems, seen = family.parse_text(reject["raw"], None)
        failed = [p.rule for p in problems if p.severity == "reject"]
        if failed or seen != 1 or len(entries) != 1:
            still.update(failed[:1] or ["not_one_row"])
            continue
        entry = entries[0]
        if family.ref_is_line:
            entry["ref"] = reject["line"]
        entry.update(
            digest_id=reject["digest_id"],
            line=reject["line"],
            _source=reject["source"],
            _reject_id=reject["reject_id"],
        )
        rows.append(entry)
    return pa.Table.from_pylist(rows, schema=REPLAY_SCHEMA)


def passing(lake: Lake, rows: pa.Table, still: Counter[str]) -> pa.Table:
    """The rows that pass validation and whose key (digest, ref) is not loaded already."""
    valid, failed = validate(DIGEST_ENTRIES, rows)
    still.update(failed.column("_rule").to_pylist())
    fresh = not_loaded(lake, valid)
    if fresh.num_rows < valid.num_rows:  # a row of that digest and ref is loaded already
        still["unique:digest_id,ref"] += valid.num_rows - fresh.num_rows
    return fresh


def replay(lake: Lake, run_id: str) -> Replay:
    """Replay every unresolved row reject; commits one transaction if any row moves."""
    started = datetime.now(UTC)
    result = Replay()
    rejects = replayable_rejects(lake)
    result.tried = rejects.num_rows
    moved = passing(lake, reparse(rejects, result.still), result.still)
    result.moved = moved.num_rows
    if not moved.num_rows:
        return result
    result.run_id = run_id
    with lake.transaction(f"run {run_id}: replay"):
        lake.insert(DIGEST_ENTRIES, moved)
        index_entries(lake, moved)
        resolve_rejects(lake, moved, run_id)
        add_sightings(lake, moved.select(["arxiv_id", "arxiv_version"]))
        lake.insert(RUNS, pa.Table.from_pylist([_run_row(lake, result, started)], RUNS.schema))
    return result


def _run_row(lake: Lake, result: Replay, started: datetime) -> dict[str, object]:
    assert result.run_id is not None
    stats = RunStats(
        run_id=result.run_id,
        started_at=started,
        ended_at=datetime.now(UTC),
        kind="replay",
        entries_seen=result.tried,
        entries_loaded=result.moved,
        entries_rejected=result.tried - result.moved,
        papers_pending=pending_count(lake),
        message=f"rejects replay: {result.moved} of {result.tried} row reject(s) loaded",
    )
    return stats.row()
