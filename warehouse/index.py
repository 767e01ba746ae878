"""The search index, kept in the writer's open transaction with the rows it indexes.

A paper's texts (its fields, as `schemas.search.FIELD_WEIGHTS` names them) become rows of
`search_texts`, and their terms rows of `search_terms`, in the transaction that writes them:
a search sees exactly the rows of the snapshot it reads, never more or fewer. A text already
indexed (the same paper, field and words: a digest rewritten, a file under two names) is
skipped by its md5, so a run's cost grows with its new texts, not with the warehouse.
Words are cut by the lake's own macros (`warehouse.search_sql`), the same ones a search
cuts its query with.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import pyarrow as pa

from schemas.search import SEARCH_TERMS, SEARCH_TEXTS


class Lake(Protocol):
    """What the index needs of a writer (`warehouse.lake.Lake`, which imports this module)."""

    def query(self, sql: str, params: list[Any] | None = None, **tables: pa.Table) -> pa.Table:
        """Run `sql` with `tables` registered; the result in Arrow."""

    def execute(self, sql: str, params: list[Any] | None = None, **tables: Any) -> None:
        """Run `sql` with `tables` registered."""


# Each field of an entry (`_e`, a digest_entries row) or a paper (`_p`, a papers row) as text.
ENTRY_FIELDS = {
    "title": "_e.title",
    "title_zh": "_e.title_zh",
    "summary_zh": "_e.summary_zh",
    "abstract": "_e.abstract_excerpt",
    "abstract_zh": "_e.abstract_zh",
    "ai": "array_to_string(map_values(_e.ai_fields), ' ')",
    "listed": "array_to_string(list_concat(_e.listed_authors, _e.listed_categories), ' ')",
}
PAPER_FIELDS = {
    "authors": "array_to_string([a.name FOR a IN _p.authors], ' ')",
    "categories": "array_to_string(_p.categories, ' ')",
}


_SOURCES = ((ENTRY_FIELDS, "digest_entries", "_e"), (PAPER_FIELDS, "papers", "_p"))


def _texts_sql(fields: dict[str, str], source: str, alias: str) -> str:
    """One row per non-empty field of each row of `source`: (text_id, arxiv_id, field, txt),
    distinct."""
    parts = [
        f"SELECT {alias}.arxiv_id, '{name}' AS field, {expr} AS txt FROM {source} {alias}"
        for name, expr in fields.items()
    ]
    return (
        "SELECT DISTINCT md5(arxiv_id || chr(31) || field || chr(31) || txt) AS text_id, "
        f"arxiv_id, field, txt FROM ({' UNION ALL '.join(parts)}) WHERE length(txt) > 0"
    )


# The texts of `_new` numbered after those their paper's field has already.
_NUMBERED = f"""
CREATE OR REPLACE TEMP TABLE _numbered AS
SELECT n.*, (coalesce(h.held, 0) + row_number() OVER (
    PARTITION BY n.arxiv_id, n.field ORDER BY n.text_id))::INTEGER AS text_no
FROM _new n LEFT JOIN (
    SELECT arxiv_id, field, max(text_no) AS held FROM "{SEARCH_TEXTS.name}"
    WHERE arxiv_id IN (SELECT arxiv_id FROM _new) GROUP BY ALL
) h USING (arxiv_id, field)
"""
# Each text's words, stemmed, counted within the text (a map from term to count): no join or
# grouping across the batch, which cost half as much again (docs/decisions/0004-search.md).
_COUNTED = """
CREATE OR REPLACE TEMP TABLE _counted AS
SELECT text_id, arxiv_id, field, text_no, len(words)::INTEGER AS length, txt,
       list_aggregate(list_transform(words, lambda w: search_term(w)), 'histogram') AS counts
FROM (SELECT *, search_words(txt) AS words FROM _numbered)
"""
_TERMS = f"""
INSERT INTO "{SEARCH_TERMS.name}" (term, arxiv_id, field, text_no, tf, length)
SELECT unnest(map_keys(counts)), arxiv_id, field, text_no,
       unnest(map_values(counts))::INTEGER, length
FROM _counted
"""


def _index_new(lake: Lake) -> int:
    """Index the texts of the temporary table `_new`; how many."""
    count = lake.query("SELECT count(*) AS n FROM _new").column("n")[0].as_py()
    if not count:
        return 0
    # Cutting, counting and sorting a batch's terms is the writer's one heavy step: it takes
    # every core (the writer's other statements are small and keep one).
    lake.execute(f"SET threads = {os.cpu_count() or 1}")
    try:
        for statement in (_NUMBERED, _COUNTED):
            lake.execute(statement)
        lake.execute(
            f'INSERT INTO "{SEARCH_TEXTS.name}" (text_id, arxiv_id, field, text_no, length, txt) '
            "SELECT text_id, arxiv_id, field, text_no, length, txt FROM _counted"
        )
        lake.execute(_TERMS)
    finally:
        lake.execute("SET threads = 1")
    for temporary in ("_counted", "_numbered", "_new"):
        lake.execute(f"DROP TABLE {temporary}")
    return int(count)


def index_entries(lake: Lake, entries: pa.Table) -> int:
    """Index the texts of `entries` (digest_entries rows being written) that the index does
    not hold yet; how many texts that was."""
    if not entries.num_rows:
        return 0
    texts = _texts_sql(ENTRY_FIELDS, "_rows", "_e")
    lake.execute(
        f"CREATE OR REPLACE TEMP TABLE _new AS SELECT * FROM ({texts}) "
        f'ANTI JOIN "{SEARCH_TEXTS.name}" USING (text_id)',
        _rows=entries,
    )
    return _index_new(lake)


def resync_papers(lake: Lake, ids: pa.Table, papers: bool) -> int:
    """Make the index hold exactly the current texts of the papers `ids` (an `arxiv_id`
    column): of their entries, or (`papers`) of their `papers` rows. Texts that are no longer
    there go, with every term of their paper's field; the field's texts are indexed again."""
    fields, table, alias = (
        (PAPER_FIELDS, "papers", "_p") if papers else (ENTRY_FIELDS, "digest_entries", "_e")
    )
    names = ", ".join(f"'{f}'" for f in fields)
    scope = f"(SELECT * FROM {table} WHERE arxiv_id IN (SELECT arxiv_id FROM _ids))"
    lake.execute(
        f"CREATE OR REPLACE TEMP TABLE _current AS {_texts_sql(fields, scope, alias)}", _ids=ids
    )
    stale = (
        f'SELECT DISTINCT arxiv_id, field FROM "{SEARCH_TEXTS.name}" WHERE field IN ({names}) '
        "AND arxiv_id IN (SELECT arxiv_id FROM _ids) AND text_id NOT IN "
        "(SELECT text_id FROM _current)"
    )
    lake.execute(f"CREATE OR REPLACE TEMP TABLE _stale AS {stale}", _ids=ids)
    for table_name in (SEARCH_TERMS.name, SEARCH_TEXTS.name):
        lake.execute(
            f'DELETE FROM "{table_name}" WHERE EXISTS (SELECT 1 FROM _stale s WHERE '
            f's.arxiv_id = "{table_name}".arxiv_id AND s.field = "{table_name}".field)'
        )
    lake.execute(
        "CREATE OR REPLACE TEMP TABLE _new AS SELECT * FROM _current "
        f'ANTI JOIN "{SEARCH_TEXTS.name}" USING (text_id)'
    )
    lake.execute("DROP TABLE _current; DROP TABLE _stale")
    return _index_new(lake)


def index_missing(lake: Lake, slices: int = 32) -> int:
    """Index every text of the lake the index lacks (a lake made before the index was): the
    entries' and the papers' texts, as `resync_papers` would make them. A slice of the papers
    at a time (by a hash of their ID), so that memory stays that of a run's batch."""
    done = 0
    for fields, table, alias in _SOURCES:
        for part in range(slices):
            source = f"(SELECT * FROM {table} WHERE hash(arxiv_id) % {slices} = {part})"
            lake.execute(
                f"CREATE OR REPLACE TEMP TABLE _new AS SELECT * FROM "
                f"({_texts_sql(fields, source, alias)}) "
                f'ANTI JOIN "{SEARCH_TEXTS.name}" USING (text_id)'
            )
            done += _index_new(lake)
    return done


# The papers whose texts the index does not hold as the tables have them.
_ASTRAY = """
WITH implied AS ({implied})
SELECT arxiv_id, count(*) FILTER (WHERE side = 'lacks') AS lacks,
       count(*) FILTER (WHERE side = 'extra') AS extra
FROM (
    (SELECT text_id, arxiv_id, 'lacks' AS side FROM implied
     ANTI JOIN search_texts USING (text_id))
    UNION ALL
    (SELECT text_id, arxiv_id, 'extra' FROM search_texts ANTI JOIN implied USING (text_id))
) GROUP BY ALL
"""


def astray_sql() -> str:
    """SQL for the papers whose indexed texts differ from their tables' (arxiv_id, lacks,
    extra): none in a lake whose every write kept the index."""
    implied = " UNION ALL ".join(
        f"SELECT text_id, arxiv_id FROM ({_texts_sql(f, t, a)})" for f, t, a in _SOURCES
    )
    return _ASTRAY.format(implied=implied)


# Each text's terms add up to its length: postings lost or doubled break the sum.
TERM_TOTALS = (
    "SELECT (SELECT coalesce(sum(length), 0) FROM search_texts) AS lengths, "
    "(SELECT coalesce(sum(tf), 0) FROM search_terms) AS terms"
)


def astray(lake: Lake) -> pa.Table | None:
    """The papers the index does not hold as the tables do (an `arxiv_id` column), all of
    them when postings are lost or doubled; None when it matches."""
    found = lake.query(f"SELECT arxiv_id FROM ({astray_sql()})")
    lengths, terms = lake.query(TERM_TOTALS).to_pylist()[0].values()
    if lengths != terms:
        return lake.query(  # which paper is unknown: every one
            f"SELECT arxiv_id FROM {SEARCH_TEXTS.name} UNION SELECT arxiv_id FROM digest_entries "
            "UNION SELECT arxiv_id FROM papers"
        )
    return found if found.num_rows else None


def repair(lake: Lake, papers: pa.Table) -> int:
    """Index the `papers` (from `astray`) again, from their rows; how many."""
    lake.execute(
        f"DELETE FROM {SEARCH_TERMS.name} WHERE arxiv_id IN (SELECT arxiv_id FROM _p); "
        f"DELETE FROM {SEARCH_TEXTS.name} WHERE arxiv_id IN (SELECT arxiv_id FROM _p)",
        _p=papers,
    )
    resync_papers(lake, papers, papers=False)
    resync_papers(lake, papers, papers=True)
    return int(papers.num_rows)
