"""The digest parser: a pure function from a file's bytes to entry records and problems.

No I/O happens here; the flow reads files and writes tables. A digest has a summary table
(`| [^N] | [English title](url) | Chinese summary |`) and detail blocks (`[^N]: Chinese title`
followed by indented paragraphs). One entry is made per table row; its detail block, matched
by `N`, fills the translated fields. See ../shared/DESIGN.md for the layouts.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flows.digests.details import Block, block_text, detail_fields, raw_with_detail
from flows.digests.guard import Limits, ParseTimeout, too_large
from flows.digests.text import Problem, TextParser, clean, cut, decode
from flows.digests.wrappers import unquoted, without_arxiv_leftover
from schemas.ids import MAX_REF, MAX_VERSION, bounded, split_id

# Rules that reject a summary-table row (an entry); other rejects concern blocks or files.
ROW_RULES = frozenset(
    {
        "malformed_row",
        "not_arxiv_url",
        "ref_out_of_range",
        "version_out_of_range",
        "abstract_mismatch",
    }
)


@dataclass
class ParsedDigest:
    """A file's entries and problems, and whether it could be read as a digest at all."""

    encoding: str | None
    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows_seen: int = 0
    readable: bool = True  # False: the file as a whole was rejected (empty, binary, not a digest)

    @property
    def layouts(self) -> Counter[str]:
        """Entries per layout (`new`, `old`, `early`, `plain`)."""
        return Counter(e["layout"] for e in self.entries)


# --- the summary table ------------------------------------------------------------------------
# Every pattern is anchored and runs in time linear in the line: no quantifier can give back
# what a later one would take again (possessive forms, or character classes that stop at the
# next delimiter). A digest line is hostile input; a backtracking pattern on it can hold the
# warehouse lock for minutes.

_ROW_START = re.compile(r"\|\s*+\[\^(?P<ref>[0-9]++)\]\s*+\|\s*+\[")
# The end of the title cell: `](url) |`, searched for. A URL holds no bracket, parenthesis or
# space, so each try stops at the next one and the search stays linear.
_TITLE_END = re.compile(r"\]\((?P<url>[^()\[\]\s]++)\)\s*+\|")
_REF = re.compile(r"\|\s*+\[\^([0-9]++)\]")
_HEADER = re.compile(r"\|\s*+Ref\s*+\|", re.IGNORECASE)
_SEPARATOR = re.compile(r"\|[\s:|-]*+")
_ARXIV_URL = re.compile(
    r"https?://(?:[a-z]++\.)?arxiv\.org/(?:abs|pdf)/(?P<id>[^?#]+?)(?:\.pdf)?/?(?:[?#].*)?",
    re.IGNORECASE,
)


def _split_row(line: str) -> tuple[int | None, str, str, str] | None:
    """`| [^N] | [title](url) | summary |` -> (N, title, url, summary), or None. The title
    ends at the first `](url) |`; the summary runs to the line's last `|`. N is None past
    `MAX_REF`."""
    start = _ROW_START.match(line)
    if start is None or not line.endswith("|"):
        return None
    end = _TITLE_END.search(line, start.end())
    if end is None or end.end() == len(line):  # no title end, or no summary cell after it
        return None
    title = line[start.end() : end.start()]
    return bounded(start.group("ref"), MAX_REF), title, end.group("url"), line[end.end() : -1]


_VERSION_DIGITS = re.compile(r"v([0-9]++)/?$", re.IGNORECASE)


def _out_of_range(ref: int | None, raw_id: str, line: str, number: int) -> Problem | None:
    """A row whose ref or version is past what its column holds: one reject, with why."""
    if ref is None:
        what = f"footnote number is past {MAX_REF:,}"
    elif (v := _VERSION_DIGITS.search(raw_id)) and bounded(v.group(1), MAX_VERSION) is None:
        what = f"version v{v.group(1)[:20]} is past v{MAX_VERSION}"
    else:
        return None
    rule = "ref_out_of_range" if ref is None else "version_out_of_range"
    return Problem(rule, f"the row's {what}: fix the row and re-ingest", number, cut(line))


def _parse_row(line: str, number: int) -> dict[str, Any] | Problem:
    cells = _split_row(line)
    if cells is None:
        return Problem(
            "malformed_row",
            "table row is not `| [^N] | [title](arxiv url) | summary |` (cut or edited?); "
            "fix the row and re-ingest",
            number,
            cut(line),
        )
    ref, raw_title, url, summary = cells
    url_match = _ARXIV_URL.fullmatch(url)
    if url_match is None:
        return Problem(
            "not_arxiv_url",
            f"link {url[:200]!r} is not an arxiv.org/abs link; fix the link and re-ingest",
            number,
            cut(line),
        )
    raw_id = url_match.group("id")
    if (beyond := _out_of_range(ref, raw_id, line, number)) is not None:
        return beyond
    parts = split_id(raw_id)
    # An unrecognisable ID is kept as written so that validation rejects it with the reason.
    arxiv_id, version = parts if parts else (raw_id, None)
    title = clean(raw_title) or ""
    if url.lower().startswith("http://") and title.endswith("."):
        # The 2023 feed appended a period to every title; arXiv's own title has none.
        title = title[:-1].rstrip()
    return {
        "ref": ref,
        "arxiv_id": arxiv_id,
        "arxiv_version": version,
        "title": title,
        "summary_zh": clean(summary),
        "url": url,
        "line": number,
        "_raw": cut(line),
    }


# A detail block's first line, `[^N]: Chinese title`.
_BLOCK = re.compile(r"\[\^(?P<ref>[0-9]++)\]:[ \t]?(?P<rest>.*)")


# --- the whole file ---------------------------------------------------------------------------


@dataclass
class _Scan:
    """What one pass over a file's lines found."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    blocks: dict[int, Block] = field(default_factory=dict)
    rejected: list[tuple[int, int]] = field(default_factory=list)  # (problem index, row ref)
    seen: int = 0  # summary-table rows
    table: bool = False  # a `| Ref |` header or a `| [^N] |` row: the file has a digest table


def _table_line(scan: _Scan, stripped: str, number: int) -> None:
    if _HEADER.match(stripped):
        scan.table = True
        return
    if _SEPARATOR.fullmatch(stripped):
        return
    scan.seen += 1
    row = _parse_row(stripped, number)
    if isinstance(row, Problem):
        ref = _REF.match(stripped)
        scan.table = scan.table or ref is not None
        number_of_ref = bounded(ref.group(1), MAX_REF) if ref else None
        if number_of_ref is not None:  # its detail block goes with the rejected row
            scan.rejected.append((len(scan.problems), number_of_ref))
        scan.problems.append(row)
    else:
        scan.table = True  # a row that parsed starts `| [^N] |`
        scan.rows.append(row)


# The lines that move the scan on, found by searching the text rather than visiting every
# line: a heading (`# …` with text after it, indented or not) anywhere, a detail block's
# `[^N]:` line (flush left), and, before the details, a table line (`|…`, indented or not).
# Each pattern starts with the newline before its line: a search then jumps from newline to
# newline instead of trying every character.
_HEADING = r"(?P<heading># (?=[^\n]*?\S)[^\n]*+)"
_START = r"(?P<block>\[\^[0-9]++\]:[^\n]*+)"
_IN_TABLE = re.compile(rf"\n(?:{_START}|[^\S\n]*+(?:{_HEADING}|(?P<row>\|[^\n]*+)))")
_IN_DETAILS = re.compile(rf"\n(?:{_START}|[^\S\n]*+{_HEADING})")
# A block's content is indented or blank: it ends at a flush-left line or a heading.
_BLOCK_END = re.compile(r"\n(?:\S|[^\S\n]*+# (?=[^\n]*?\S))")


class _Lines:
    """Line numbers of positions in a text, counted forward from the last one asked for; the
    clock is looked at on the way."""

    def __init__(self, text: str, deadline: float | None):
        self.text, self.deadline = text, deadline
        self.at, self.number = 0, 0

    def of(self, newline: int) -> int:
        """The number of the line after the newline at `newline`."""
        self.number += self.text.count("\n", self.at, newline + 1)
        self.at = newline + 1
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ParseTimeout(self.number)
        return self.number


def _scan(text: str, deadline: float | None) -> _Scan:
    """One pass over the text: table rows parsed, detail blocks gathered by ref."""
    # Lines end at any of the three; a newline before the first line makes it like the rest.
    if "\r" in text:  # two copies of the text saved for most files
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n" + text
    scan, lines = _Scan(), _Lines(text, deadline)
    pattern, at = _IN_TABLE, 0
    while (found := pattern.search(text, at)) is not None:
        number, at = lines.of(found.start()), found.end()
        if (heading := found.group("heading")) is not None:
            pattern = _IN_DETAILS if heading[2:].strip() == "详细" else _IN_TABLE
        elif (block := found.group("block")) is not None:
            at = _add_block(scan, block, number, text, found.end())
            pattern = _IN_DETAILS
        else:
            _table_line(scan, found.group("row").strip(), number)
    return scan


def _add_block(scan: _Scan, line: str, number: int, text: str, line_end: int) -> int:
    """The block whose `[^N]:` line is `line` kept (unless its ref came before); returns where
    the newline before the line that ends it is."""
    start = _BLOCK.match(line)
    assert start is not None  # the search matched its start
    end = _BLOCK_END.search(text, line_end)
    stop = end.start() if end is not None else len(text)
    ref = bounded(start.group("ref"), MAX_REF)
    if ref is None:
        what = f"detail block's footnote number is past {MAX_REF:,}: fix it and re-ingest"
        raw = cut(line + text[line_end:stop])
        scan.problems.append(Problem("detail_ref_out_of_range", f"the {what}", number, raw))
        return stop
    block = Block(ref, number, start.group("rest"), text[line_end:stop])
    if block.ref in scan.blocks:
        scan.problems.append(
            Problem(
                "duplicate_detail",
                f"detail block [^{block.ref}] appears again; the first one is used",
                number,
                cut(line),
                "warning",
            )
        )
    else:
        scan.blocks[block.ref] = block
    return stop


def _entry(
    row: dict[str, Any], detail: Block | None, problems: list[Problem]
) -> dict[str, Any] | None:
    """A table row joined with its detail block (if it has one): the row's dict, filled."""
    entry = row  # the scan's rows are each joined once
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
        return entry
    entry["_detail"] = detail  # for `raw_with_detail`, should the row fail validation
    fields = detail_fields(detail, row["summary_zh"])
    version = fields.pop("_version", None)
    if entry["arxiv_version"] is None:
        entry["arxiv_version"] = version
    if row["summary_zh"] is not None:
        fields.pop("summary_zh")  # the table's summary is the one the digest shows
    fields["layout"] = fields["layout"] or "plain"
    named = fields.pop("_prefix_ids")
    entry.update(fields)
    entry["summary_zh"] = unquoted(without_arxiv_leftover(entry["summary_zh"]))
    if (other := _other_paper(entry, named)) is not None:
        problems.append(
            Problem(
                "abstract_mismatch",
                f"the abstract is announced as arXiv:{other}, but the row links "
                f"{entry['arxiv_id']}: fix the row or its detail block and re-ingest",
                row["line"],
                cut(raw_with_detail(entry)),
            )
        )
        return None
    return entry


def _other_paper(entry: dict[str, Any], named: list[str]) -> str | None:
    """The first ID an abstract's prefix names that is another paper, or another version,
    than the row's link. (A prefix whose ID cannot be read names no paper: not compared.)"""
    for text in named:
        parts = split_id(text)
        if parts is None:
            continue
        version = entry["arxiv_version"]
        if parts[0] != entry["arxiv_id"] or (parts[1] and parts[1] != version):
            return text
    return None


def _orphan(block: Block) -> Problem:
    return Problem(
        "orphan_detail",
        f"detail block [^{block.ref}] has no table row; add its row to the table",
        block.line,
        cut(block_text(block)),
    )


def _with_details(scan: _Scan) -> list[Problem]:
    """The scan's problems, a rejected row's raw text followed by its detail block: the raw
    text of a reject is a digest of one entry, for `rejects replay` to parse again."""
    problems = list(scan.problems)
    for index, ref in scan.rejected:
        block = scan.blocks.pop(ref, None)
        if block is not None:
            problem = problems[index]
            raw = f"{problem.raw}\n\n{block_text(block)}"
            problems[index] = dataclasses.replace(problem, raw=cut(raw))
    return problems


NOT_A_DIGEST = Problem(
    "not_a_digest",
    "no digest table (`| Ref | Title | Summary |` or `| [^N] | [title](url) | summary |` rows) "
    "and no `[^N]:` detail blocks: not a digest (move it out of the inbox)",
)


def parse_text(
    text: str, deadline: float | None = None
) -> tuple[list[dict[str, Any]], list[Problem], int]:
    """Text -> (entries, problems, table rows seen). Every table row seen becomes an entry or
    a `reject` problem; detail blocks with no table row are rejected too. Raises
    `ParseTimeout` past `deadline` (a `time.monotonic()` value)."""
    scan = _scan(text, deadline)
    if not scan.table and not scan.blocks:
        return [], [NOT_A_DIGEST], 0
    joined = [_entry(row, scan.blocks.pop(row["ref"], None), scan.problems) for row in scan.rows]
    entries = [entry for entry in joined if entry is not None]
    problems = _with_details(scan)  # takes the rejected rows' blocks: they are not orphans
    problems += [_orphan(b) for b in scan.blocks.values()]
    return entries, problems, scan.seen


def parse_digest(
    data: bytes,
    limits: Limits | None = None,
    text_parser: TextParser | None = None,
    max_bytes: int | None = None,
) -> ParsedDigest:
    """A digest file's bytes -> its entries and the problems found, by `text_parser` (a
    family's; cn-chat-arxiv's by default) within `max_bytes` (the limits' by default). Never
    raises on content."""
    limits = limits or Limits()
    limit = limits.max_bytes if max_bytes is None else max_bytes
    if len(data) > limit:
        return ParsedDigest(None, problems=[too_large(len(data), limit)], readable=False)
    deadline = time.monotonic() + limits.seconds
    text, encoding, problem = decode(data)
    if text is None:
        assert problem is not None
        return ParsedDigest(encoding, problems=[problem], readable=False)
    try:
        entries, problems, seen = (text_parser or parse_text)(text, deadline)
    except ParseTimeout as stop:
        late = Problem(
            "parse_timeout",
            f"parsing took over {limits.seconds:g} s (stopped at line {stop.line}): "
            "check the file, or raise ARXIV_DIGESTS_PARSE_TIMEOUT_SECONDS",
        )
        return ParsedDigest(encoding, problems=[late], readable=False)
    if problem is not None:
        problems.insert(0, problem)
    readable = not any(p.rule == "not_a_digest" for p in problems)
    return ParsedDigest(encoding, entries, problems, seen, readable)
