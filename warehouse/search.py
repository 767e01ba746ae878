"""Search the warehouse: `warehouse.search(con, "diffusion 视频")`, beside `connect()`.

The ranking is the lake's own `search` macro (warehouse/search_sql.py), so Python, the CLI and
SQL (`SELECT * FROM search('…') JOIN papers USING (arxiv_id)`) answer alike, from the snapshot
the connection reads: the index is written in the same commits as the rows it indexes.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pyarrow as pa

from warehouse.query import connect
from warehouse.readonly import ReadOnlyConnection
from warehouse.store import Warehouse, WarehouseError

_CALL = "SELECT * FROM search(?, lim := ?, since := ?, until := ?, category := ?, generator := ?)"
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
            "more) or Chinese characters"
        )
    if limit < 1:
        raise SearchError(f"the limit must be 1 or more, not {limit}")
    params = [
        query, limit, since or date(1, 1, 1), until or date(9999, 12, 31),
        category or "", generator or "",
    ]  # fmt: skip
    if isinstance(con, ReadOnlyConnection):
        return con.execute(_CALL, params).to_arrow_table()
    with connect(con) as opened:
        return opened.execute(_CALL, params).to_arrow_table()
