"""A digest's detail blocks (`[^N]: Chinese title` and the indented paragraphs after it): the
fields a block adds to the table row it belongs to. Pure functions, used by
`flows.digests.parse`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flows.digests.text import clean, cut
from flows.digests.wrappers import (
    OLD_MARKERS,
    chinese_prefix,
    english_prefix,
    unquoted,
    without_arxiv_leftover,
)
from schemas.columns import ANNOUNCE_TYPES
from schemas.ids import split_id

_LINK = re.compile(r"\[[^\]]*+\]\((?P<url>[^)\s]++)\)")
# The 2023 title suffix `(arXiv:2301.00001v1 [cs.CL] UPDATED)`, matched from its last
# `(arXiv:` (see `_old_suffix`), never searched for from every position.
_OLD_SUFFIX = re.compile(
    r"\(arXiv:(?P<id>\S++)\s++\[(?P<cat>[^\]]++)\]"
    r"(?:\s*+(?P<marker>UPDATED|CROSS LISTED))?\)"
)
_ZH_TITLE_PREFIX = re.compile(r"^(?:翻译过的)?(?:论文)?标题(?:翻译成中文)?\s*+[:：]\s*+")


@dataclass
class Block:
    """One detail block: its ref `N`, the line it starts on, its `[^N]:` line's text."""

    ref: int
    line: int
    header: str
    # The text after the `[^N]:` line up to the line that ends the block, from the newline
    # that ends the `[^N]:` line: "\n" + its lines joined by "\n", or "" for none.
    body: str = ""


# A run of blank (whitespace-only) lines between two paragraphs, newlines included.
_BLANK_LINES = re.compile(r"\n(?:[^\S\n]*+\n)+")


def _paragraphs(body: str) -> list[str]:
    """A block's paragraphs (runs of non-blank lines), each one line of stripped lines."""
    paragraphs = []
    for chunk in _BLANK_LINES.split(body):
        if "\n" in chunk:  # several lines; a blank one can only be at the body's ends
            chunk = " ".join(s for line in chunk.split("\n") if (s := line.strip()))
        else:
            chunk = chunk.strip()
        if chunk:
            paragraphs.append(chunk)
    return paragraphs


def _old_suffix(title: str) -> re.Match[str] | None:
    at = title.rfind("(arXiv:") if title.endswith(")") else -1
    return _OLD_SUFFIX.fullmatch(title, at) if at != -1 else None


def detail_fields(block: Block, table_summary: str | None) -> dict[str, Any]:
    """Fields a detail block adds to its entry. Paragraphs after the link are, in the full
    layout, [summary_zh, (an English summary), abstract_zh, abstract_en]; older or damaged
    blocks drop the summary or more, so they are matched from the end."""
    title_zh = clean(block.header)
    if title_zh:
        unlabelled = _ZH_TITLE_PREFIX.sub("", title_zh)  # the same object when no label
        relabelled = unlabelled if unlabelled is title_zh else clean(unlabelled)
        title_zh = unquoted(without_arxiv_leftover(relabelled))
    paragraphs = _paragraphs(block.body)
    link_at = next((i for i, p in enumerate(paragraphs) if _LINK.fullmatch(p)), None)
    before = paragraphs[:link_at] if link_at is not None else paragraphs[:1]
    after = paragraphs[link_at + 1 :] if link_at is not None else paragraphs[1:]
    fields: dict[str, Any] = {"title_zh": title_zh, "layout": None}

    title_en = " ".join(before).rstrip()
    old = _old_suffix(title_en)
    if old:
        fields["listed_category"] = clean(old.group("cat"))
        parts = split_id(old.group("id"))
        fields["_version"] = parts[1] if parts else None
        fields["layout"] = "old"
        fields["announce_type"] = OLD_MARKERS[old.group("marker")]

    english = after[-1] if after else None
    rest = after[:-1]
    summary = None
    if rest and (len(rest) >= 2 or clean(rest[0]) == table_summary):
        summary, rest = rest[0], rest[1:]
    fields["summary_zh"] = clean(summary)
    fields["abstract_zh"], zh_id = chinese_prefix(clean(rest[-1]) if rest else None)
    fields["abstract_excerpt"], en_id, kind = english_prefix(clean(english))
    # The IDs the prefixes name, for the entry to check against its row's link.
    fields["_prefix_ids"] = [i for i in (en_id, zh_id) if i is not None]
    if en_id is not None:
        fields["layout"] = "new"
        # Only the declared types count; an LLM-translated token (`新的摘要:`) is not a type.
        fields["announce_type"] = kind if kind in ANNOUNCE_TYPES else None
        parts = split_id(en_id)
        fields["_version"] = parts[1] if parts else None
    elif fields["layout"] == "old" and summary is None and len(after) == 2:
        fields["layout"] = "early"  # Mar-2023 digests: no Chinese one-line summary
    return fields


def block_text(block: Block) -> str:
    """The block as the digest had it: its `[^N]:` line and the lines after it."""
    return f"[^{block.ref}]: {block.header}{block.body}"


def raw_with_detail(entry: dict[str, Any]) -> str:
    """An entry's raw text as a reject keeps it: its table row, then its detail block (a
    digest of one entry, for `rejects replay`). Built only for rows that fail: joining every
    entry's block cost a quarter of the parse time and doubled a batch's text."""
    detail = entry.get("_detail")
    row = str(entry["_raw"])
    return cut(f"{row}\n\n{block_text(detail)}") if isinstance(detail, Block) else row
