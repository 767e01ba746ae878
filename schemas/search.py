"""The search index's tables: what `arxiv-digests search` ranks, kept in the lake beside the
rows it indexes and written in the same transaction (docs/decisions/0004-search.md)."""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import _arxiv_id
from schemas.model import Column, Table

# Each indexed field of a paper, with how much a match in it weighs: a title match weighs
# more than an abstract match. Entries give the first six, `papers` the last two (and
# title and abstract again, as the arXiv API has them).
FIELD_WEIGHTS = {
    "title": 3.0,
    "title_zh": 3.0,
    "authors": 2.0,
    "summary_zh": 1.5,
    "categories": 1.0,
    "abstract": 1.0,
    "abstract_zh": 1.0,
    "ai": 1.0,
}
FIELDS = tuple(FIELD_WEIGHTS)
_MD5 = r"^[0-9a-f]{32}$"

SEARCH_TEXTS = Table(
    name="search_texts",
    doc=(
        "The search index's documents: one row per distinct text of a paper's field (a "
        "digest rewritten with the same words is one text). Written with the rows it indexes; "
        "sorted by paper."
    ),
    key=("text_id",),
    columns=(
        Column(
            "text_id",
            pa.string(),
            "md5 of the paper, field and text",
            True,
            _MD5,
            pattern_doc="an md5 hex digest",
        ),
        _arxiv_id("the paper the text is about"),
        Column("field", pa.string(), "the field it is", True, enum=FIELDS),
        Column("text_no", pa.int32(), "its number among the paper's texts of that field", True),
        Column("length", pa.int32(), "how many terms it has", True),
        Column("txt", pa.string(), "the text, for the snippets of answers", True),
    ),
    sorted_by=("arxiv_id",),
    compression="zstd",
    row_group_rows=2048,  # an answer's texts: a few small row groups, not a tenth of the index
)

SEARCH_TERMS = Table(
    name="search_terms",
    doc=(
        "The search index's postings: each term of each text in `search_texts`, with how many "
        "times it occurs there. English words are lower-cased, stop words dropped and stemmed "
        "(Snowball); Chinese is cut into overlapping pairs of characters. Sorted by term."
    ),
    key=("term", "arxiv_id", "field", "text_no"),
    columns=(
        Column("term", pa.string(), "the term", True),
        _arxiv_id("the paper"),
        Column("field", pa.string(), "the field it occurs in", True, enum=FIELDS),
        Column("text_no", pa.int32(), "the text (`search_texts.text_no`)", True),
        Column("tf", pa.int32(), "times the term occurs in the text", True),
        Column("length", pa.int32(), "how many terms the text has", True),
    ),
    sorted_by=("term",),
    compression="zstd",
    row_group_rows=16384,
)
