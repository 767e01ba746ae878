"""What the commands read of the warehouse, each a named function over a read-only connection
(`warehouse.connect`): a user's own SELECT (`sql`), the `status` sections, the `runs` lines
and one run whole, and the `rejects` listing. Results are (columns, rows) or Arrow."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from schemas import TABLES
from warehouse.query import connect, read_only_statement
from warehouse.store import Warehouse

Rows = tuple[list[str], list[tuple[Any, ...]]]  # column names, and the rows


def select(store: Warehouse, query: str, as_of_run: str | None = None) -> pa.Table:
    """One read-only SELECT of the user's, whole, as Arrow (as of a run, or the newest)."""
    read_only_statement(query)
    with connect(store, as_of_run=as_of_run) as con:
        return con.execute(query).to_arrow_table()


# Where the digests' dates came from; the undated ones counted in a row of their own.
DATES = """
SELECT coalesce(d.date_source, 'no date') AS dated_by, count(DISTINCT d.digest_id) AS digests,
       count(e.ref) AS entries, min(d.digest_date) AS first, max(d.digest_date) AS last
FROM digests d LEFT JOIN digest_entries e USING (digest_id)
GROUP BY 1 ORDER BY min(d.date_source) IS NULL, 1
"""

STATUS_QUERIES = {
    "rows per table": " UNION ALL ".join(
        f"SELECT '{name}' AS table_name, count(*) AS rows FROM \"{name}\"" for name in TABLES
    ),
    "rejects by rule": (
        "SELECT stage, rule, count(*) AS rejects FROM rejects GROUP BY ALL ORDER BY 3 DESC"
    ),
    "enrichment": "SELECT state, count(*) AS papers FROM enrichment GROUP BY ALL ORDER BY 1",
    "digest dates": DATES,
    "generators": (
        "SELECT generator, count(*) AS digests, sum(entry_count) AS entries, "
        "min(digest_date) AS first, max(digest_date) AS last FROM digests GROUP BY 1 ORDER BY 1"
    ),
    "last runs": (
        "SELECT run_id, status, files_new, files_skipped, files_rejected, entries_loaded, "
        "rejects, api_requests, papers_pending, "
        "round(epoch(ended_at) - epoch(started_at), 1) AS seconds "
        "FROM runs ORDER BY started_at DESC LIMIT 5"
    ),
}


def status_sections(store: Warehouse) -> dict[str, Rows]:
    """Row counts per table, rejects by rule, enrichment states and the last runs."""
    sections: dict[str, Rows] = {}
    with connect(store) as con:
        for title, query in STATUS_QUERIES.items():
            result = con.execute(query)
            sections[title] = ([d[0] for d in result.description or []], result.fetchall())
    return sections


RUN_LINE = (
    "SELECT run_id, {kind} AS kind, status, "
    "strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started, "
    "round(epoch(ended_at) - epoch(started_at), 1) AS seconds, files_new, files_skipped, "
    "files_rejected, entries_loaded, {updated} AS entries_updated, rejects, api_requests, "
    "papers_enriched, papers_pending FROM runs ORDER BY started_at DESC LIMIT ?"
)


def run_lines(store: Warehouse, last: int) -> list[tuple[Any, ...]]:
    """The newest `last` runs, in `RUN_LINE`'s columns."""
    with connect(store) as con:
        columns = [d[0] for d in con.execute("SELECT * FROM runs LIMIT 0").description or []]
        # A warehouse no run of 0.3 has written yet has no `kind`: all its runs ingested.
        kind = "coalesce(kind, 'ingest')" if "kind" in columns else "'ingest'"
        updated = "entries_updated" if "entries_updated" in columns else "NULL"
        query = RUN_LINE.format(kind=kind, updated=updated)
        rows: list[tuple[Any, ...]] = con.execute(query, [last]).fetchall()
        return rows


def run_whole(store: Warehouse, run_id: str) -> tuple[Rows, list[tuple[Any, ...]]]:
    """One run's `runs` row (no rows: no such run), and the first 20 papers pending now with
    the time each is next due."""
    with connect(store) as con:
        result = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        run = ([d[0] for d in result.description or []], result.fetchall())
        pending = con.execute(
            "SELECT arxiv_id, attempts, next_attempt_at, last_error FROM enrichment "
            "WHERE state = 'pending' ORDER BY next_attempt_at NULLS FIRST, arxiv_id LIMIT 20"
        ).fetchall()
    return run, pending


def rejects_listing(
    store: Warehouse,
    run: str | None,
    rule: str | None,
    file: str | None,
    resolved: bool,
    limit: int,
) -> Rows:
    """Rejects, oldest first, filtered by run, rule or a text in the file's path; resolved
    ones only when asked for."""
    where = ["(? OR resolved_by IS NULL)"]
    params: list[Any] = [resolved]
    for column, value in (("run_id", run), ("rule", rule)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if file is not None:
        where.append("contains(source, ?)")
        params.append(file)
    query = (
        "SELECT source, line, stage, rule, message, run_id, resolved_by, raw FROM rejects "
        f"WHERE {' AND '.join(where)} ORDER BY rejected_at, source, line LIMIT ?"
    )
    with connect(store) as con:
        result = con.execute(query, [*params, limit])
        return [d[0] for d in result.description or []], result.fetchall()
