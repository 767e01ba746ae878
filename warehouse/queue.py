"""The enrichment queue's statements: DuckLake writes only the rows a statement changes (a
delete file and the new rows), never the whole queue. The policy (which sightings go where,
in partitions of bounded memory) is `flows.enrichment.queue`'s; every function here runs inside
the writer's open transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from warehouse.connection import as_stream, registered
from warehouse.lake import Lake

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


def _run(lake: Lake, sql: str, params: dict[str, Any], **tables: Any) -> int:
    """Run a statement over `tables`; the number of rows it wrote."""
    with registered(lake.con, tables):
        row = lake.con.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def split(lake: Lake, wanted: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(arxiv_id, _wanted) rows -> (IDs the queue does not hold, held IDs whose row the rule
    changes); held IDs it would leave as they are are in neither."""
    with registered(lake.con, {"_part": as_stream(wanted)}):
        rows = lake.con.execute(_SPLIT).to_arrow_table()
    new = rows.column("_new")
    return rows.filter(new).drop_columns("_new"), rows.filter(pc.invert(new)).drop_columns("_new")


def insert_new(lake: Lake, wanted: pa.Table) -> int:
    """Queue IDs the queue does not hold yet, as pending; the rows added. One statement per
    call: DuckDB holds a statement's input to its end, so callers pass a batch at a time."""
    return _run(lake, _INSERT, {}, _new=as_stream(wanted))


def merge_changed(lake: Lake, wanted: pa.RecordBatchReader) -> int:
    """Apply newer announced versions to IDs the queue holds; the rows changed."""
    return _run(lake, _ADD, {}, _wanted=wanted)


def record_answers(lake: Lake, answers: pa.Table, now: datetime, retry_at: datetime) -> int:
    """Record the API's `answers` (arxiv_id, _state, _error, _version): a few IDs, in a big
    queue. A failed refresh keeps the version still held; a pending ID is not asked for again
    before `retry_at`."""
    if not answers.num_rows:
        return 0
    return _run(lake, _ANSWER, {"now": now, "retry_at": retry_at}, _answers=answers)


def due_ids(lake: Lake, now: datetime, most: int) -> list[str]:
    """At most `most` pending IDs due by `now`, in order."""
    rows = lake.con.execute(
        "SELECT arxiv_id FROM enrichment WHERE state = 'pending' "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= $now) ORDER BY arxiv_id LIMIT $most",
        {"now": now, "most": most},
    ).fetchall()
    return [r[0] for r in rows]


def pending_count(lake: Lake) -> int:
    """How many IDs wait for the API."""
    row = lake.con.execute("SELECT count(*) FROM enrichment WHERE state = 'pending'").fetchone()
    return int(row[0]) if row else 0
