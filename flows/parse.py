"""The digest parser: a pure function from a file's bytes to entry records and problems.

No I/O happens here; the flow reads files and writes tables. A digest has a summary table
(`| [^N] | [English title](url) | Chinese summary |`) and detail blocks (`[^N]: Chinese title`
followed by indented paragraphs). One entry is made per table row; its detail block, matched
by `N`, fills the translated fields. See ../shared/DESIGN.md for the layouts.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.ids import split_id
from schemas.tables import ANNOUNCE_TYPES

# Rules that reject a summary-table row (an entry); other rejects concern blocks or files.
ROW_RULES = frozenset({"malformed_row", "not_arxiv_url"})
RAW_LIMIT = 10_000  # characters of raw text kept with a reject: enough to fix a row by hand


@dataclass(frozen=True)
class Problem:
    """Something wrong in a file. A `reject` loses a row (or the file) to `rejects`; a
    `warning` is reported but the data still loads."""

    rule: str
    message: str
    line: int | None = None
    raw: str | None = None
    severity: Literal["reject", "warning"] = "reject"


@dataclass
class ParsedDigest:
    encoding: str | None
    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows_seen: int = 0
    readable: bool = True  # False: the file as a whole was rejected (empty, binary, not a digest)

    @property
    def layouts(self) -> Counter[str]:
        return Counter(e["layout"] for e in self.entries)


# --- decoding ---------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control characters other than tab, newline and carriage return: never meaningful in a digest.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not _CONTROL.match(chr(b)))
BINARY_THRESHOLD = 0.05  # share of control/undecodable characters above which a file is junk


def decode(data: bytes) -> tuple[str | None, str | None, Problem | None]:
    """Bytes -> (text, encoding, problem). Tries a BOM, then UTF-8, then GB18030 (a superset of
    GBK, the other encoding Chinese text arrives in), then UTF-8 with replacement characters."""
    if not data.strip():
        return None, None, Problem("empty_file", "file is empty: nothing to load (remove it)")
    text: str | None = None
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            with contextlib.suppress(UnicodeDecodeError):
                text, encoding = data.decode(name), name
            break
    if text is None:
        for name in ("utf-8", "gb18030"):
            try:
                text, encoding = data.decode(name), name
                break
            except UnicodeDecodeError:
                continue
    problem = None
    if text is None:
        text, encoding = data.decode("utf-8", errors="replace"), "utf-8-replace"
        problem = Problem(
            "encoding",
            "bytes that are neither UTF-8 nor GB18030 were replaced with U+FFFD; "
            "re-save the file as UTF-8 to keep them",
            severity="warning",
        )
    if encoding in ("utf-8", "gb18030"):
        # Both keep ASCII control bytes as themselves (multi-byte sequences never use bytes
        # below 0x30), so counting bytes in C equals counting characters with a regex.
        junk = len(data.translate(None, _NOT_CONTROL_BYTES)) + text.count("\ufffd")
    else:
        junk = len(_CONTROL.findall(text)) + text.count("\ufffd")
    if junk > BINARY_THRESHOLD * len(text):
        return (
            None,
            encoding,
            Problem(
                "binary_file",
                f"{junk} of {len(text)} characters are control or undecodable bytes: "
                "not a text digest (check the file)",
            ),
        )
    return text, encoding, problem


# --- text helpers -----------------------------------------------------------------------------


def clean(text: str | None) -> str | None:
    """Control characters dropped, whitespace collapsed; empty -> None."""
    if text is None:
        return None
    # This runs on every field of every entry: search before substituting (control characters
    # are rare), and split/join instead of a whitespace regex.
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return " ".join(text.split()) or None


def _cut(raw: str) -> str:
    return raw if len(raw) <= RAW_LIMIT else raw[:RAW_LIMIT]


# --- the summary table ------------------------------------------------------------------------

_ROW = re.compile(
    r"^\|\s*\[\^(?P<ref>\d+)\]\s*\|\s*\[(?P<title>.*?)\]\((?P<url>[^)\s]+)\)\s*\|(?P<summary>.*)\|\s*$"
)
_REF = re.compile(r"^\|\s*\[\^(\d+)\]")
_HEADER = re.compile(r"^\|\s*Ref\s*\|", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\|[\s:|-]*$")
_ARXIV_URL = re.compile(
    r"^https?://(?:[a-z]+\.)?arxiv\.org/(?:abs|pdf)/(?P<id>[^?#]+?)(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)


def _parse_row(line: str, number: int) -> dict[str, Any] | Problem:
    match = _ROW.match(line)
    if match is None:
        return Problem(
            "malformed_row",
            "table row is not `| [^N] | [title](arxiv url) | summary |` (cut or edited?); "
            "fix the row and re-ingest",
            number,
            _cut(line),
        )
    url = match.group("url")
    url_match = _ARXIV_URL.match(url)
    if url_match is None:
        return Problem(
            "not_arxiv_url",
            f"link {url[:200]!r} is not an arxiv.org/abs link; fix the link and re-ingest",
            number,
            _cut(line),
        )
    raw_id = url_match.group("id")
    parts = split_id(raw_id)
    # An unrecognisable ID is kept as written so that validation rejects it with the reason.
    arxiv_id, version = parts if parts else (raw_id, None)
    title = clean(match.group("title")) or ""
    if url.lower().startswith("http://") and title.endswith("."):
        # The 2023 feed appended a period to every title; arXiv's own title has none.
        title = title[:-1].rstrip()
    return {
        "ref": int(match.group("ref")),
        "arxiv_id": arxiv_id,
        "arxiv_version": version,
        "title": title,
        "summary_zh": clean(match.group("summary")),
        "url": url,
        "line": number,
        "_raw": _cut(line),
    }


# --- detail blocks ----------------------------------------------------------------------------

_BLOCK = re.compile(r"^\[\^(?P<ref>\d+)\]:[ \t]?(?P<rest>.*)$")
_LINK = re.compile(r"^\[[^\]]*\]\((?P<url>[^)\s]+)\)$")
_OLD_SUFFIX = re.compile(
    r"\.?\s*\(arXiv:(?P<id>\S+?)\s+\[(?P<cat>[^\]]+)\](?:\s*(?:UPDATED|CROSS LISTED))?\)\s*$"
)
_ANNOUNCE = re.compile(r"^arXiv:(?P<id>\S+?)\s+Announce Type:\s*(?P<type>\S+)")
_ZH_TITLE_PREFIX = re.compile(r"^(?:翻译过的)?(?:论文)?标题(?:翻译成中文)?\s*[:：]\s*")
_ZH_TITLE_SUFFIX = re.compile(r"\s*[（(]arXiv\s*[:：][^)）]*[)）]")


@dataclass
class _Block:
    ref: int
    line: int
    header: str
    lines: list[str] = field(default_factory=list)


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def _detail_fields(block: _Block, table_summary: str | None) -> dict[str, Any]:
    """Fields a detail block adds to its entry. Paragraphs after the link are, in the full
    layout, [summary_zh, (an English summary), abstract_zh, abstract_en]; older or damaged
    blocks drop the summary or more, so they are matched from the end."""
    title_zh = clean(block.header)
    if title_zh:
        title_zh = clean(_ZH_TITLE_SUFFIX.sub("", _ZH_TITLE_PREFIX.sub("", title_zh)))
    paragraphs = _paragraphs(block.lines)
    link_at = next((i for i, p in enumerate(paragraphs) if _LINK.match(p)), None)
    before = paragraphs[:link_at] if link_at is not None else paragraphs[:1]
    after = paragraphs[link_at + 1 :] if link_at is not None else paragraphs[1:]
    fields: dict[str, Any] = {"title_zh": title_zh, "layout": None}

    title_en = " ".join(before)
    old = _OLD_SUFFIX.search(title_en)
    if old:
        fields["listed_category"] = clean(old.group("cat"))
        parts = split_id(old.group("id"))
        fields["_version"] = parts[1] if parts else None
        fields["layout"] = "old"

    english = after[-1] if after else None
    rest = after[:-1]
    summary = None
    if rest and (len(rest) >= 2 or clean(rest[0]) == table_summary):
        summary, rest = rest[0], rest[1:]
    fields["summary_zh"] = clean(summary)
    fields["abstract_zh"] = clean(rest[-1]) if rest else None
    fields["abstract_excerpt"] = clean(english)
    announce = _ANNOUNCE.match(english or "")
    if announce:
        fields["layout"] = "new"
        kind = announce.group("type")
        # Only the declared types count; an LLM-translated token (`新的摘要:`) is not a type.
        fields["announce_type"] = kind if kind in ANNOUNCE_TYPES else None
        parts = split_id(announce.group("id"))
        fields["_version"] = parts[1] if parts else None
    elif fields["layout"] == "old" and summary is None and len(after) == 2:
        fields["layout"] = "early"  # Mar-2023 digests: no Chinese one-line summary
    return fields


# --- the whole file ---------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    # Not str.splitlines(): it also splits on \x0b, \x1c, \u2028…, which would shift line numbers.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_text(text: str) -> tuple[list[dict[str, Any]], list[Problem], int]:
    """Text -> (entries, problems, table rows seen). Every table row seen becomes an entry or
    a `reject` problem; detail blocks with no table row are rejected too."""
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    blocks: dict[int, _Block] = {}
    rejected_refs: set[int] = set()
    seen = 0
    in_details = False
    block: _Block | None = None
    headings = 0
    for number, line in enumerate(_lines(text), start=1):
        stripped = line.strip()
        if stripped.startswith("# "):
            headings += 1
            in_details = stripped[2:].strip() == "详细"
            block = None
            continue
        if not in_details and stripped.startswith("|"):
            if _HEADER.match(stripped) or _SEPARATOR.match(stripped):
                continue
            seen += 1
            row = _parse_row(stripped, number)
            if isinstance(row, Problem):
                problems.append(row)
                ref = _REF.match(stripped)
                if ref:  # its detail block goes with the rejected row, not as an orphan
                    rejected_refs.add(int(ref.group(1)))
            else:
                rows.append(row)
            continue
        start = _BLOCK.match(line) if line.startswith("[^") else None
        if start:
            in_details = True
            block = _Block(int(start.group("ref")), number, start.group("rest"))
            if block.ref in blocks:
                problems.append(
                    Problem(
                        "duplicate_detail",
                        f"detail block [^{block.ref}] appears again; the first one is used",
                        number,
                        _cut(line),
                        "warning",
                    )
                )
            else:
                blocks[block.ref] = block
        elif block is not None:
            if line[:1].isspace() or not stripped:
                block.lines.append(line)
            else:
                block = None  # block content is indented: a flush-left line ends the block

    if seen == 0 and not blocks and headings == 0:
        problems.append(
            Problem(
                "not_a_digest",
                "no `# 摘要` table and no `[^N]:` blocks: not a digest (move it out of the inbox)",
            )
        )
        return [], problems, 0

    entries: list[dict[str, Any]] = []
    for row in rows:
        detail = blocks.pop(row["ref"], None)
        entry = dict(row)
        entry.update(
            title_zh=None,
            abstract_zh=None,
            abstract_excerpt=None,
            announce_type=None,
            listed_category=None,
        )
        if detail is None:
            entry["layout"] = "old" if row["url"].lower().startswith("http://") else "plain"
            problems.append(
                Problem(
                    "missing_detail",
                    f"table row [^{row['ref']}] has no detail block; loaded without translations",
                    row["line"],
                    severity="warning",
                )
            )
        else:
            fields = _detail_fields(detail, row["summary_zh"])
            version = fields.pop("_version", None)
            if entry["arxiv_version"] is None:
                entry["arxiv_version"] = version
            if row["summary_zh"] is not None:
                fields.pop("summary_zh")  # the table's summary is the one the digest shows
            fields["layout"] = fields["layout"] or "plain"
            entry.update(fields)
        entries.append(entry)
    for orphan in blocks.values():
        if orphan.ref in rejected_refs:
            continue
        problems.append(
            Problem(
                "orphan_detail",
                f"detail block [^{orphan.ref}] has no table row; add its row to the table",
                orphan.line,
                _cut("\n".join([f"[^{orphan.ref}]: {orphan.header}", *orphan.lines])),
            )
        )
    return entries, problems, seen


def parse_digest(data: bytes) -> ParsedDigest:
    """A digest file's bytes -> its entries and the problems found. Never raises on content."""
    text, encoding, problem = decode(data)
    if text is None:
        assert problem is not None
        return ParsedDigest(encoding, problems=[problem], readable=False)
    entries, problems, seen = parse_text(text)
    if problem is not None:
        problems.insert(0, problem)
    readable = not any(p.rule == "not_a_digest" for p in problems)
    return ParsedDigest(encoding, entries, problems, seen, readable)
