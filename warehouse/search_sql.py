"""The lake's search macros: how text is cut into terms, and `search(query)` itself.

They live in the lake (DuckLake keeps macros in its catalog, versioned with its snapshots), so
a writer indexing rows, `arxiv-digests search`, `warehouse.search()` and an analyst's
`SELECT * FROM search('diffusion 视频')` in the `duckdb` shell all cut words the same way and
rank alike. The decision and its measurements: docs/decisions/0004-search.md.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from schemas.search import FIELD_WEIGHTS

# Lucene's English stop words (its EnglishAnalyzer's default set).
STOP_WORDS = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
]  # fmt: skip

# English: lower-cased runs of letters and digits, two characters or more, not a stop word.
# Chinese: each run of Han characters as its overlapping pairs (a lone character as itself),
# which finds a word however a segmenter would have cut it, query and text alike.
_WORDS = f"""
CREATE OR REPLACE MACRO search_words(txt) AS
    list_filter(
        regexp_extract_all(lower(coalesce(txt, '')), '[a-z0-9]+'),
        lambda w: length(w) > 1 AND NOT list_contains({STOP_WORDS!r}, w)
    ) || flatten(list_transform(
        regexp_extract_all(coalesce(txt, ''), '\\p{{Han}}+'),
        lambda r: CASE WHEN length(r) = 1 THEN [r]
             ELSE list_transform(range(1, length(r)), lambda i: substring(r, i, 2)) END
    ))
"""
# A word as the index keeps it: English stemmed (Snowball), a Chinese pair as it is.
_TERM = """
CREATE OR REPLACE MACRO search_term(w) AS
    CASE WHEN ascii(w) < 128 THEN stem(w, 'english') ELSE w END
"""
_WEIGHTS = ", ".join(f"('{field}', {weight})" for field, weight in FIELD_WEIGHTS.items())
# A snippet comes from the first of these fields that holds a match.
_SNIPPET_FIELDS = ("abstract", "abstract_zh", "summary_zh", "ai", "title", "title_zh")
_PREFERENCE = " ".join(f"WHEN '{f}' THEN {n}" for n, f in enumerate(_SNIPPET_FIELDS))


def ranking(terms: str, count: str, p: str = "") -> str:
    """The CTEs that rank papers (`best`: arxiv_id, score) for the query's `terms` (SQL: a
    parenthesized list or subquery) of which there are `count`, with the parameters `lim`,
    `since`, `until`, `category` and `generator` named with the prefix `p` (a macro's have
    none; a prepared statement's `$`). Okapi BM25 per field (k1 1.2,
    b 0.75; of a field's texts, the better counts), summed over the fields with their weights
    and scaled by the share of the query's terms matched."""
    return f"""
weights(field, weight) AS (VALUES {_WEIGHTS}),
stats AS (SELECT field, count(*) AS n, avg(length) AS avgdl FROM search_texts GROUP BY ALL),
hits AS (
    SELECT term, arxiv_id, field, max(tf) AS tf, arg_max(length, tf) AS length
    FROM search_terms WHERE term IN {terms} GROUP BY ALL
), df AS (SELECT term, field, count(*) AS df FROM hits GROUP BY ALL),
scored AS (
    SELECT h.arxiv_id, sum(w.weight * ln(1 + (s.n - d.df + 0.5) / (d.df + 0.5))
               * h.tf * 2.2 / (h.tf + 1.2 * (0.25 + 0.75 * h.length / s.avgdl)))
           * count(DISTINCT h.term) / {count} AS score
    FROM hits h JOIN df d USING (term, field) JOIN stats s USING (field)
    JOIN weights w USING (field) GROUP BY ALL
), wanted AS (
    SELECT DISTINCT e.arxiv_id FROM digest_entries e JOIN digests d USING (digest_id)
    WHERE e.arxiv_id IN (SELECT arxiv_id FROM scored)
      AND d.digest_date BETWEEN CAST({p}since AS DATE) AND CAST({p}until AS DATE)
      AND ({p}category = '' OR d.category = {p}category OR e.listed_category = {p}category)
      AND ({p}generator = '' OR d.generator = {p}generator)
), best AS (
    SELECT arxiv_id, round(score, 4) AS score FROM scored
    WHERE (CAST({p}since AS DATE) = DATE '0001-01-01' AND CAST({p}until AS DATE) = DATE '9999-12-31'
           AND {p}category = '' AND {p}generator = '') OR arxiv_id IN (SELECT arxiv_id FROM wanted)
    ORDER BY score DESC, arxiv_id LIMIT {p}lim
)"""


def shown(ids: str, pattern: str) -> str:
    """The CTE `shown`: for the papers `ids` (SQL: a parenthesized list or subquery), their
    titles, a snippet with the matches of `pattern` (SQL: a regular expression) marked, and the
    first and last digest dates that mention them and on how many days."""
    return f"""
mentions AS (
    SELECT e.arxiv_id, min(d.digest_date) AS first_date, max(d.digest_date) AS last_date,
           count(DISTINCT d.digest_date) AS days
    FROM digest_entries e JOIN digests d USING (digest_id) WHERE e.arxiv_id IN {ids} GROUP BY ALL
), texts AS (
    SELECT arxiv_id, arg_max(txt, text_no) FILTER (WHERE field = 'title') AS title,
           arg_max(txt, text_no) FILTER (WHERE field = 'title_zh') AS title_zh,
           arg_min(txt, CASE field {_PREFERENCE} ELSE 9 END)
               FILTER (WHERE regexp_matches(txt, {pattern})) AS body
    FROM search_texts WHERE arxiv_id IN {ids} GROUP BY ALL
), shown AS (
    SELECT t.arxiv_id, t.title, t.title_zh,
           regexp_replace(substring(t.body, greatest(1, instr(t.body,
               regexp_extract(t.body, {pattern})) - 60), 180), {pattern}, '«\\1»', 'g')
               AS snippet, m.first_date, m.last_date, m.days
    FROM texts t JOIN mentions m USING (arxiv_id)
)"""


# The query's terms, and the pattern that marks them in a snippet: an English stem marks the
# words it begins, Chinese as typed or by its pairs.
_QUERY_TERMS = "SELECT DISTINCT search_term(w) AS term FROM (SELECT unnest(search_words(q)) AS w)"
_MARKS = f"""
CREATE OR REPLACE MACRO search_marks(q) AS (
    SELECT '(?i)(' || string_agg(p, '|' ORDER BY length(p) DESC, p) || ')' FROM (
        SELECT CASE WHEN ascii(term) < 128 THEN '\\b' || term || '[a-z0-9]*' ELSE term END AS p
        FROM ({_QUERY_TERMS}) UNION SELECT unnest(regexp_extract_all(q, '\\p{{Han}}+'))
    )
)
"""
# An answer's columns, as the `search` macro and `warehouse.search` give them.
SCHEMA = pa.schema(
    [
        ("arxiv_id", pa.string()), ("title", pa.string()), ("title_zh", pa.string()),
        ("score", pa.float64()), ("snippet", pa.string()), ("first_date", pa.date32()),
        ("last_date", pa.date32()), ("days", pa.int64()),
    ]
)  # fmt: skip
COLUMNS = ", ".join(SCHEMA.names)
_SEARCH = f"""
CREATE OR REPLACE MACRO search(q, lim := 20, since := DATE '0001-01-01',
                               until := DATE '9999-12-31', category := '', generator := '')
AS TABLE
WITH query AS ({_QUERY_TERMS}),
{ranking("(SELECT term FROM query)", "(SELECT count(*) FROM query)")},
{shown("(SELECT arxiv_id FROM best)", "search_marks(q)")}
SELECT {COLUMNS} FROM best JOIN shown USING (arxiv_id) ORDER BY score DESC, arxiv_id
"""
MACROS = (_WORDS, _TERM, _MARKS, _SEARCH)
# A macro whose value says which version of the macros above the lake holds.
TAG = "sql:" + hashlib.sha256("".join(MACROS).encode()).hexdigest()[:16]
_TAG = f"CREATE OR REPLACE MACRO search_macros_version() AS '{TAG}'"


def macro_statements(present: str | None) -> list[str]:
    """What (re)creates the search macros in the lake, when the version it holds (`present`,
    None for none) is not this release's."""
    return [] if present == TAG else [*MACROS, _TAG]
