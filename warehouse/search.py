"""Search the warehouse: `warehouse.search(con, "diffusion 视频")`, beside `connect()`.

The ranking is the lake's own SQL (warehouse/search_sql.py: the `search` macro an analyst calls
is made of the same pieces), so Python, the CLI and SQL (`SELECT * FROM search('…') JOIN
papers USING (arxiv_id)`) answer alike, from the snapshot the connection reads: the index is
written in the same commits as the rows it indexes.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from warehouse.location import sql_literal
from warehouse.query import connect
from warehouse.readonly import ReadOnlyConnection
from warehouse.search_sql import SCHEMA, ranking, shown
from warehouse.store import Warehouse, WarehouseError

# The query's terms and its marks, by the lake's own macros (the index cut its texts with them).
_TERMS = (
    "SELECT (SELECT list(term ORDER BY term) FROM (SELECT DISTINCT search_term(w) AS term FROM "
    "(SELECT unnest(search_words($q)) AS w))) AS terms, search_marks($q) AS pattern"
)
# What the index cuts into terms (warehouse/search_sql.py): letters and digits, Han characters.
_SEARCHABLE = re.compile(r"[A-Za-z0-9]{2}|[\u3400-\u4dbf\u4e00-\u9fff]{2}")


class SearchError(WarehouseError):
    """A search that cannot be asked (no word in the query, limits out of range)."""


def search(
    con: ReadOnlyConnection | Warehouse | Path | str,
    query: str,
    limit: int = 20,
    since: date | None = None,
    until: date | None = None,
    category: str | None = None,
    generator: str | None = None,
) -> pa.Table:
    """The papers that best match `query` (English, Chinese or both), best first, one row per
    paper: arxiv_id, title, title_zh, score, snippet (the matched words marked «so»),
    first_date, last_date, days. `since`/`until` (digest dates), `category` and `generator`
    keep only the papers a matching digest mentions. `con`: an open `warehouse.connect()`
    connection (fastest for many searches), or a warehouse's path."""
    if not _SEARCHABLE.search(query):
        raise SearchError(
            f"nothing to search for in {query!r}: give an English word (two letters or "
            "more) or two Chinese characters"
        )
    if limit < 1:
        raise SearchError(f"the limit must be 1 or more, not {limit}")
    scope = {
        "lim": limit, "since": since or date(1, 1, 1), "until": until or date(9999, 12, 31),
        "category": category or "", "generator": generator or "",
    }  # fmt: skip
    if isinstance(con, ReadOnlyConnection):
        return _ranked(con, query, scope)
    with connect(con) as opened:
        return _ranked(opened, query, scope)


def _literals(values: list[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


def _ranked(con: ReadOnlyConnection, query: str, scope: dict[str, Any]) -> pa.Table:
    """The `search` macro's SQL in two steps, with the query's terms and then the answers'
    IDs written in as constants: DuckDB then reads only the row groups that can hold them
    (the index's files are sorted by term and by paper), where the macro's subqueries make it
    read more. Same pieces, same answers."""
    terms, pattern = con.execute(_TERMS, {"q": query}).fetchone() or (None, None)
    if not terms:
        return SCHEMA.empty_table()
    best = con.execute(
        f"WITH {ranking(_literals(terms), str(len(terms)), '$')} SELECT * FROM best", scope
    ).fetchall()
    if not best:
        return SCHEMA.empty_table()
    rows = con.execute(
        f"WITH {shown(_literals([i for i, _ in best]), '$pattern')} SELECT * FROM shown",
        {"pattern": pattern},
    ).fetchall()
    found = {row[0]: row for row in rows}
    answers = [(*found[i][:3], score, *found[i][3:]) for i, score in best if i in found]
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, a, strict=True)) for a in answers], SCHEMA)
