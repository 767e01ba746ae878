"""The lake's search macros: how text is cut into terms, and `search(query)` itself.

They live in the lake (DuckLake keeps macros in its catalog, versioned with its snapshots), so
a writer indexing rows, `arxiv-digests search`, `warehouse.search()` and an analyst's
`SELECT * FROM search('diffusion 视频')` in the `duckdb` shell all cut words the same way and
rank alike. The decision and its measurements: docs/decisions/0004-search.md.
"""

from __future__ import annotations

import hashlib

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
        w -> length(w) > 1 AND NOT list_contains({STOP_WORDS!r}, w)
    ) || flatten(list_transform(
        regexp_extract_all(coalesce(txt, ''), '\\p{{Han}}+'),
        r -> CASE WHEN length(r) = 1 THEN [r]
             ELSE list_transform(range(1, length(r)), i -> substring(r, i, 2)) END
    ))
"""
# A word as the index keeps it: English stemmed (Snowball), a Chinese pair as it is.
_TERM = """
CREATE OR REPLACE MACRO search_term(w) AS
    CASE WHEN ascii(w) < 128 THEN stem(w, 'english') ELSE w END
"""
_WEIGHTS = ", ".join(f"('{field}', {weight})" for field, weight in FIELD_WEIGHTS.items())
# Okapi BM25 per field (k1 1.2, b 0.75; of a field's texts, the better counts), summed
# over the fields with their weights and scaled by the share of the query's terms matched.
_SEARCH = f"""
CREATE OR REPLACE MACRO search(q, lim := 20, since := DATE '0001-01-01',
                               until := DATE '9999-12-31', category := '', generator := '')
AS TABLE
WITH query AS (
    SELECT DISTINCT search_term(w) AS term FROM (SELECT unnest(search_words(q)) AS w)
), weights(field, weight) AS (VALUES {_WEIGHTS}),
stats AS (SELECT field, count(*) AS n, avg(length) AS avgdl FROM search_texts GROUP BY ALL),
hits AS (
    SELECT term, arxiv_id, field, max(tf) AS tf, arg_max(length, tf) AS length FROM search_terms
    WHERE term IN (SELECT term FROM query) GROUP BY ALL
), df AS (SELECT term, field, count(*) AS df FROM hits GROUP BY ALL),
scored AS (
    SELECT h.arxiv_id, sum(w.weight * ln(1 + (s.n - d.df + 0.5) / (d.df + 0.5))
               * h.tf * 2.2 / (h.tf + 1.2 * (0.25 + 0.75 * h.length / s.avgdl)))
           * count(DISTINCT h.term) / (SELECT count(*) FROM query) AS score
    FROM hits h JOIN df d USING (term, field) JOIN stats s USING (field)
    JOIN weights w USING (field) GROUP BY ALL
), wanted AS (
    SELECT DISTINCT e.arxiv_id FROM digest_entries e JOIN digests d USING (digest_id)
    WHERE e.arxiv_id IN (SELECT arxiv_id FROM scored)
      AND d.digest_date BETWEEN CAST(since AS DATE) AND CAST(until AS DATE)
      AND (category = '' OR d.category = category OR e.listed_category = category)
      AND (generator = '' OR d.generator = generator)
), best AS (
    SELECT * FROM scored
    WHERE (CAST(since AS DATE) = DATE '0001-01-01' AND CAST(until AS DATE) = DATE '9999-12-31'
           AND category = '' AND generator = '') OR arxiv_id IN (SELECT arxiv_id FROM wanted)
    ORDER BY score DESC, arxiv_id LIMIT lim
), marks AS (  -- an English stem marks the words it begins, Chinese as typed or its pairs
    SELECT '(?i)(' || string_agg(p, '|' ORDER BY length(p) DESC) || ')' AS pattern FROM (
        SELECT CASE WHEN ascii(term) < 128 THEN '\\b' || term || '[a-z0-9]*' ELSE term END AS p
        FROM query UNION SELECT unnest(regexp_extract_all(q, '\\p{{Han}}+'))
    )
), mentions AS (
    SELECT e.arxiv_id, arg_max(e.title, d.digest_date) AS title,
           arg_max(e.title_zh, d.digest_date) AS title_zh,
           min(d.digest_date) AS first_date, max(d.digest_date) AS last_date,
           count(DISTINCT d.digest_date) AS days,
           arg_max(coalesce(e.abstract_excerpt, '') || ' ' || coalesce(e.abstract_zh, '')
                   || ' ' || coalesce(e.summary_zh, ''), d.digest_date) AS body
    FROM digest_entries e JOIN digests d USING (digest_id)
    WHERE e.arxiv_id IN (SELECT arxiv_id FROM best) GROUP BY ALL
)
SELECT b.arxiv_id, m.title, m.title_zh, round(b.score, 4) AS score,
       CASE WHEN regexp_matches(m.body, k.pattern) THEN regexp_replace(
           substring(m.body, greatest(1, instr(m.body, regexp_extract(m.body, k.pattern)) - 60),
                     180), k.pattern, '«\\1»', 'g') END AS snippet,
       m.first_date, m.last_date, m.days
FROM best b JOIN mentions m USING (arxiv_id) CROSS JOIN marks k
ORDER BY b.score DESC, b.arxiv_id
"""
MACROS = (_WORDS, _TERM, _SEARCH)
# A macro whose value says which version of the macros above the lake holds.
TAG = "sql:" + hashlib.sha256("".join(MACROS).encode()).hexdigest()[:16]
_TAG = f"CREATE OR REPLACE MACRO search_macros_version() AS '{TAG}'"


def macro_statements(present: str | None) -> list[str]:
    """What (re)creates the search macros in the lake, when the version it holds (`present`,
    None for none) is not this release's."""
    return [] if present == TAG else [*MACROS, _TAG]
