"""The column kinds and value sets the table declarations (`schemas/tables.py`) share."""

from __future__ import annotations

import pyarrow as pa

from schemas.ids import arxiv_id_pattern
from schemas.model import Column

TS = pa.timestamp("us", tz="UTC")
SHA256 = r"^[0-9a-f]{64}$"
SHA_DOC = "a sha256 hex digest"


def _sha256(name: str, doc: str, required: bool = True) -> Column:
    return Column(name, pa.string(), doc, required, SHA256, pattern_doc=SHA_DOC)


ARXIV_DOC = "an arXiv ID as arXiv issues them (YYMM.NNNNN or archive/YYMMNNN, no version)"


def _arxiv_id(doc: str) -> Column:
    return Column("arxiv_id", pa.string(), doc, True, arxiv_id_pattern, pattern_doc=ARXIV_DOC)


def _http_url(name: str, doc: str, required: bool = False) -> Column:
    return Column(name, pa.string(), doc, required, r"^https?://", pattern_doc="an http(s) URL")


ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")
LAYOUTS = ("new", "old", "early", "plain", "ai_jsonl", "ai_markdown")
# The generator families (flows/digests/families.py): cn-chat-arxiv's Markdown tables, and
# daily-arXiv-ai-enhanced's JSONL and Markdown.
GENERATORS = ("cn-chat-arxiv", "daily-arxiv-ai-enhanced")
ENRICHMENT_STATES = ("pending", "enriched", "not_found", "failed")
REJECT_STAGES = ("read", "parse", "validate", "enrich")
DATE_SOURCES = ("path", "commit", "given")
