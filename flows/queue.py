"""The enrichment queue's rules: which IDs a run adds or queues again, what the API's answers
change, and which IDs are due. Each rule is SQL run by the lake over the queue table and an
Arrow table or stream of the run's IDs: DuckLake writes only the rows a statement changes (a
delete file and the new rows), never the whole queue.

Every function takes a connection whose current catalog holds `enrichment` (the lake, inside
the run's transaction)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from flows.settings import Settings
from flows.spill import Spill, run_folder
from warehouse.lake import as_stream, registered

# What `add_sightings` takes: a run's entries' IDs and versions, an ID possibly many times.
SIGHTINGS = pa.schema([("arxiv_id", pa.string()), ("arxiv_version", pa.int32())]).empty_table()


def newest_versions(sightings: pa.Table) -> pa.Table:
    """(arxiv_id, arxiv_version) rows, an ID possibly many times -> (arxiv_id, _wanted): one
    row per ID with the newest version announced, null when no row gave one. By sorting, not
    grouping: Arrow's hash aggregation holds about 130 MB for a million IDs, the sort 20 MB."""
    order = pc.sort_indices(
        sightings, sort_keys=[("arxiv_id", "ascending"), ("arxiv_version", "descending")]
    )  # nulls sort last: each ID's first row has its highest version
    ids = pc.take(sightings.column("arxiv_id"), order)
    versions = pc.take(sightings.column("arxiv_version"), order)
    if len(ids) == 0:
        return pa.table({"arxiv_id": ids, "_wanted": versions})
    changes = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    first = pa.concat_arrays([pa.array([True]), *pa.chunked_array(changes).chunks])
    return pa.table({"arxiv_id": ids.filter(first), "_wanted": versions.filter(first)})


# An ID already queued takes a newer announced version, and an enriched paper whose digest
# announces a newer version than the one held is queued again (a new ID is inserted as
# pending by `_INSERT`). `_CHANGES`: whether the sighting `w` changes the queue row `q`.
_CHANGES = """(
    coalesce(w._wanted > coalesce(q.wanted_version, 0), false)
    OR (q.state = 'enriched' AND coalesce(w._wanted > q.enriched_version, false))
)"""
_ADD = f"""
MERGE INTO enrichment AS q USING _wanted AS w ON q.arxiv_id = w.arxiv_id
WHEN MATCHED AND {_CHANGES} THEN UPDATE SET
    wanted_version = CASE WHEN w._wanted > coalesce(q.wanted_version, 0)
                          THEN w._wanted ELSE q.wanted_version END,
    state = CASE WHEN q.state = 'enriched' AND w._wanted > q.enriched_version
                 THEN 'pending' ELSE q.state END,
    next_attempt_at = CASE WHEN q.state = 'enriched' AND w._wanted > q.enriched_version
                           THEN NULL ELSE q.next_attempt_at END
"""

_ANSWER = """
MERGE INTO enrichment AS q USING _answers AS a ON q.arxiv_id = a.arxiv_id
WHEN MATCHED THEN UPDATE SET
    state = a._state,
    attempts = q.attempts + 1,
    enriched_version = coalesce(a._version, q.enriched_version),
    last_error = a._error,
    last_attempt_at = $now,
    next_attempt_at = CASE WHEN a._state = 'pending' THEN $retry_at ELSE NULL END
"""


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], **tables: Any) -> int:
    """Run a statement over `tables`; the number of rows it wrote."""
    with registered(con, tables):
        row = con.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


# The sightings one partition of the queue step holds: its memory, whatever the run's size.
PART_ROWS = 100_000
_WANTED = pa.schema([("arxiv_id", pa.string()), ("_wanted", pa.int32())])
_ENDINGS = pa.array([f"{n:02d}" for n in range(100)])  # an ID's last two digits

# An ID not queued yet: a plain insert, the one statement whose memory does not grow with the
# rows it writes (a MERGE or a join over a million IDs keeps 20-80 MB until the process ends).
_INSERT = """
INSERT INTO enrichment (arxiv_id, state, attempts, wanted_version)
SELECT arxiv_id, 'pending', 0, _wanted FROM _new
"""
# A partition's IDs against the queue: not held (to insert), or held and changed by the rule
# (to merge). A re-load of IDs already queued at the versions announced changes nothing, and
# its MERGE holds none of them.
_SPLIT = f"""
SELECT w.arxiv_id, w._wanted, q.arxiv_id IS NULL AS _new
FROM _part AS w LEFT JOIN enrichment AS q ON q.arxiv_id = w.arxiv_id
WHERE q.arxiv_id IS NULL OR {_CHANGES}
"""


def _split(con: duckdb.DuckDBPyConnection, part: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A partition's (IDs the queue does not hold, held IDs whose row the rule changes)."""
    with registered(con, {"_part": as_stream(part)}):
        rows = con.execute(_SPLIT).to_arrow_table()
    new = rows.column("_new")
    return rows.filter(new).drop_columns("_new"), rows.filter(pc.invert(new)).drop_columns("_new")


def _partitions(sightings: Spill, parts: int) -> list[Spill]:
    """`sightings` split into `parts` spills of disjoint IDs, in one pass, by the IDs' last two
    digits (uniform over arXiv's numbers; an ID that does not end in two digits goes to the
    first)."""
    if parts == 1:
        return [sightings]
    folder = sightings.path.parent
    spills = [Spill(sightings.schema, folder) for _ in range(parts)]
    part_of = pa.array([n % parts for n in range(len(_ENDINGS))], pa.int32())
    for batch in sightings.batches():
        ending = pc.utf8_slice_codeunits(batch.column("arxiv_id"), -2)
        part = pc.take(part_of, pc.fill_null(pc.index_in(ending, value_set=_ENDINGS), 0))
        for number, spill in enumerate(spills):
            spill.append(pa.Table.from_batches([batch.filter(pc.equal(part, number))]))
    return spills


def queue_spilled(
    con: duckdb.DuckDBPyConnection, sightings: Spill, part_rows: int = PART_ROWS
) -> int:
    """Queue the IDs of a run's `sightings`, a partition of IDs at a time; returns the number
    of queue rows added or changed (0: the queue is unchanged, no row of it is rewritten).
    Each partition is split into IDs the queue does not hold (inserted) and IDs it holds
    whose row the rule changes (merged by `_ADD`); held IDs it leaves as they are go nowhere.
    In a backfill almost all are new, and in a re-load almost none change: the MERGE stays
    small. Every split is made before the first write, against the queue as the run found
    it; partitions hold disjoint IDs, so no ID is split twice."""
    parts = min(len(_ENDINGS), max(1, math.ceil(sightings.rows / part_rows)))
    new, known = Spill(_WANTED, sightings.path.parent), Spill(_WANTED, sightings.path.parent)
    for part in _partitions(sightings, parts):
        wanted = newest_versions(pa.Table.from_batches(part.batches(), part.schema))
        unheld, changing = _split(con, wanted)
        new.append(unheld)
        known.append(changing)
        del wanted, unheld, changing
        pa.default_memory_pool().release_unused()
    changed = 0
    for batch in new.batches():  # a statement each: DuckDB holds a statement's input to its end
        changed += _run(con, _INSERT, {}, _new=as_stream(pa.Table.from_batches([batch])))
    return changed + (_run(con, _ADD, {}, _wanted=known.reader()) if known.rows else 0)


def add_sightings(
    con: duckdb.DuckDBPyConnection, sightings: pa.Table, part_rows: int = PART_ROWS
) -> int:
    """`queue_spilled` for sightings already in memory (a replay's few moved rows)."""
    with run_folder() as folder:
        spill = Spill(SIGHTINGS.schema, folder)
        spill.append(sightings)
        return queue_spilled(con, spill, part_rows)


def answers_table(outcome: dict[str, tuple[str, str | None]], fetched: dict[str, int]) -> pa.Table:
    """What the API said of the IDs it was asked about, and the version now held of each
    paper fetched: for `record_answers`."""
    return pa.table(
        {
            "arxiv_id": pa.array(list(outcome), pa.string()),
            "_state": pa.array([s for s, _ in outcome.values()], pa.string()),
            "_error": pa.array([e for _, e in outcome.values()], pa.string()),
            "_version": pa.array([fetched.get(i) for i in outcome], pa.int32()),
        }
    )


def record_answers(
    con: duckdb.DuckDBPyConnection, answers: pa.Table, now: datetime, retry_at: datetime
) -> int:
    """Record the API's `answers` (a few IDs, in a big queue). A failed refresh keeps the
    version still held; a pending ID is not asked for again before `retry_at`."""
    if not answers.num_rows:
        return 0
    return _run(con, _ANSWER, {"now": now, "retry_at": retry_at}, _answers=answers)


def due_ids(con: duckdb.DuckDBPyConnection, now: datetime, settings: Settings) -> list[str]:
    """The pending IDs due by `now`, in order, no more than the time budget lets the limiter
    send: a backlog of a million papers is never turned into Python strings."""
    requests = settings.arxiv_max_seconds / max(settings.arxiv_delay_seconds, 1e-3) + 1
    most = int(requests) * settings.arxiv_batch_size
    rows = con.execute(
        "SELECT arxiv_id FROM enrichment WHERE state = 'pending' "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= $now) ORDER BY arxiv_id LIMIT $most",
        {"now": now, "most": most},
    ).fetchall()
    return [r[0] for r in rows]


def pending_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many IDs wait for the API."""
    row = con.execute("SELECT count(*) FROM enrichment WHERE state = 'pending'").fetchone()
    return int(row[0]) if row else 0
