"""The report's aggregates (`flows.operations.report` draws them): one read-only connection,
so every panel shows the same snapshot. Each query's rows are bounded whatever the warehouse's
size: aggregates, and a bounded list of the latest entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warehouse.query import connect
from warehouse.store import Warehouse

TOP_CATEGORIES = 8  # the rest of the categories are drawn together as `other`
LATEST_DIGESTS = 5
ENTRIES_PER_DIGEST = 30

# `_CATEGORIES` names each entry's primary category (from `papers`, else the digest's own),
# the top ones kept and the rest `other`.
_CATEGORIES = f"""
WITH mentions AS (
  SELECT d.digest_date AS day,
         coalesce(p.primary_category, d.category, e.listed_category, 'unknown') AS category,
         e.arxiv_id
  FROM digest_entries e JOIN digests d USING (digest_id) LEFT JOIN papers p USING (arxiv_id)
  WHERE d.digest_date IS NOT NULL
), top AS (
  SELECT category FROM mentions GROUP BY category ORDER BY count(*) DESC, category
  LIMIT {TOP_CATEGORIES}
)
SELECT day, CASE WHEN category IN (SELECT category FROM top) THEN category ELSE 'other' END
       AS category, arxiv_id
FROM mentions
"""

REPORT_QUERIES = {
    "papers_per_day": (
        f"WITH c AS ({_CATEGORIES}) SELECT day, category, count(DISTINCT arxiv_id) AS papers "
        "FROM c GROUP BY ALL ORDER BY day"
    ),
    "categories_by_month": (
        f"WITH c AS ({_CATEGORIES}) SELECT date_trunc('month', day) AS month, category, "
        "count(DISTINCT arxiv_id) AS papers FROM c WHERE category <> 'other' GROUP BY ALL "
        "ORDER BY month"
    ),
    "coverage": (
        "SELECT started_at AS run, sum(papers_enriched) OVER (ORDER BY started_at) AS enriched, "
        "papers_pending AS pending FROM runs WHERE status = 'ok' ORDER BY started_at"
    ),
    "enrichment": "SELECT state, count(*) AS papers FROM enrichment GROUP BY ALL ORDER BY state",
    "rejects_by_rule": (
        "SELECT run_id AS run, rule, count(*) AS rejects FROM rejects GROUP BY ALL ORDER BY run"
    ),
    "stage_seconds": (
        "SELECT run_id AS run, CASE stage WHEN 'discover_seconds' THEN 'find files' "
        "WHEN 'parse_seconds' THEN 'read and parse' WHEN 'validate_seconds' THEN 'validate' "
        "WHEN 'load_seconds' THEN 'load' ELSE 'ask arXiv' END AS stage, seconds "
        "FROM (SELECT * FROM runs ORDER BY started_at DESC LIMIT 30) UNPIVOT (seconds FOR "
        "stage IN (discover_seconds, parse_seconds, validate_seconds, load_seconds, "
        "enrich_seconds)) ORDER BY run"
    ),
    "undated": (
        "SELECT count(DISTINCT d.digest_id) AS digests, count(e.ref) AS entries FROM digests d "
        "LEFT JOIN digest_entries e USING (digest_id) WHERE d.digest_date IS NULL"
    ),
    "top_authors": (
        "SELECT name AS author, count(*) AS papers FROM paper_authors GROUP BY ALL "
        "ORDER BY papers DESC, author LIMIT 15"
    ),
}

LATEST = f"""
SELECT d.digest_id, d.file_name, d.digest_date, d.category, e.ref, e.arxiv_id, e.title, e.title_zh,
       e.summary_zh, e.url, d.entry_count
FROM (SELECT * FROM digests ORDER BY ingested_at DESC, digest_date DESC NULLS LAST, file_name
      LIMIT {LATEST_DIGESTS}) d
LEFT JOIN digest_entries e USING (digest_id)
QUALIFY row_number() OVER (PARTITION BY d.digest_id ORDER BY e.ref) <= {ENTRIES_PER_DIGEST}
ORDER BY d.digest_date DESC NULLS LAST, d.file_name, e.ref
"""


def report_rows(
    root: Path | Warehouse,
) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[Any, ...]]]:
    """Every report query's rows (as dicts, by query name) and the latest digests' entries
    (in `LATEST`'s columns), read from one snapshot."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with connect(root) as con:
        for name, query in REPORT_QUERIES.items():
            result = con.execute(query)
            names = [d[0] for d in result.description or []]
            rows[name] = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
        latest: list[tuple[Any, ...]] = con.execute(LATEST).fetchall()
    return rows, latest
