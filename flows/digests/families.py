"""The generator families a digest may come from, each a plug-in: what it recognises (a file's
name and first bytes), the parser of its text, and how its digests are dated. Detection is per
file, so one folder or repository may hold several families. docs/families.md says how to add
one and the contract its parser meets."""

from __future__ import annotations

from dataclasses import dataclass

from flows.digests import ai_enhanced, ai_markdown, parse
from flows.digests.guard import Limits
from flows.digests.parse import ParsedDigest
from flows.digests.text import TextParser

# How much of a file's start detection looks at: a day's table of contents comes first.
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Family:
    """One generator's format: `generator` is what `digests.generator` records."""

    generator: str
    parse_text: TextParser
    # Dated by the date in the file's name even on a git history (the generator names each
    # day's file), rather than by the commit that first had the version.
    dated_by_name: bool = False
    # An entry's `ref` is the line it starts on (not a number the text gives): a row parsed
    # again alone (`rejects replay`) takes the line its reject recorded.
    ref_is_line: bool = False

    def parse(self, name: str, data: bytes, limits: Limits) -> ParsedDigest:
        """A file's bytes -> its entries and problems, within the limits for its name."""
        return parse.parse_digest(data, limits, self.parse_text, limits.max_for(name))


CN_CHAT_ARXIV = Family("cn-chat-arxiv", parse.parse_text)
AI_ENHANCED_JSONL = Family(ai_enhanced.GENERATOR, ai_enhanced.parse_jsonl, True, True)
AI_ENHANCED_MARKDOWN = Family(ai_enhanced.GENERATOR, ai_markdown.parse_markdown, True, True)
GENERATORS = (CN_CHAT_ARXIV.generator, ai_enhanced.GENERATOR)
ROW_RULES = parse.ROW_RULES | ai_enhanced.ROW_RULES


def family_of(name: str, data: bytes) -> Family:
    """The family a file belongs to, by its name and its first bytes; cn-chat-arxiv, the
    first family, when nothing else claims it (its parser says when a file is no digest)."""
    if ai_enhanced.is_jsonl_digest(name) or name.lower().endswith(".jsonl"):
        return AI_ENHANCED_JSONL
    if ai_markdown.looks_like_markdown(data[:HEAD_BYTES]):
        return AI_ENHANCED_MARKDOWN
    return CN_CHAT_ARXIV


def family_of_path(path: str, data: bytes) -> Family:
    """`family_of` for a path as the tables record it (a git version's `…@commit:path`)."""
    return family_of(path.replace(":", "/").rsplit("/", 1)[-1], data)


def is_crawl_only(name: str) -> bool:
    """A file no family loads: daily-arXiv-ai-enhanced's crawl, papers before summaries."""
    return ai_enhanced.is_crawl_only(name)


def crawl_note(count: int) -> str:
    """The one line a run says about the crawl files it skipped."""
    return (
        f"{count:,} crawl-only file(s) skipped (daily-arXiv-ai-enhanced's `YYYY-MM-DD.jsonl`, "
        "its papers before any summary; its digests are the `_AI_enhanced_` JSONL and the "
        "Markdown)"
    )
