"""The daily-arXiv-ai-enhanced family's JSONL digests (`YYYY-MM-DD_AI_enhanced_<Language>.jsonl`):
one JSON object per line, a paper each. Pure: text in, entry records and problems out.

A record is the crawl's (`id`, `title`, `authors`, `categories`, `summary`: the English
abstract, `comment`, `abs`, `pdf`, …) with the model's `AI` object (`tldr`, or `task` on the
oldest days; `motivation`, `method`, `result`, `conclusion`; forks add `title_translation`,
`translation`, `keywords`, …). Every key lands somewhere: the ones the tables name in their
columns, the other AI keys in `ai_fields`, the other record keys in `record_fields`; a key a
generator adds later is kept. The Markdown rendering of the same day is `ai_markdown`'s."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from flows.digests.guard import ParseTimeout
from flows.digests.text import Problem, cut, tidy
from schemas.ids import split_id

GENERATOR = "daily-arxiv-ai-enhanced"
# A record longer than this is rejected unread: no paper's record comes near it (the longest
# in the upstream's history is about 9 kB), and `json.loads` of a hostile line costs memory.
MAX_RECORD_CHARS = 1024 * 1024
_ENHANCED = re.compile(r"_ai_enhanced_[^/]*\.jsonl$", re.IGNORECASE)

# Where the model's keys go: the columns every family fills.
AI_COLUMNS = {
    "tldr": "summary_zh",
    "task": "summary_zh",  # the oldest days' name for the one-line summary
    "title_translation": "title_zh",
    "translation": "abstract_zh",
}
# The crawl's keys the tables hold in columns of their own.
RECORD_COLUMNS = frozenset({"id", "title", "authors", "categories", "summary", "AI", "abs"})
ROW_RULES = frozenset({"malformed_record", "record_too_large", "no_arxiv_id"})


def is_jsonl_digest(name: str) -> bool:
    """The generator's digest: its AI-enhanced JSONL."""
    return bool(_ENHANCED.search(name))


def is_crawl_only(name: str) -> bool:
    """Its crawl (`YYYY-MM-DD.jsonl`, papers before any summary): not a digest."""
    return name.lower().endswith(".jsonl") and not is_jsonl_digest(name)


def parse_jsonl(
    text: str, deadline: float | None = None
) -> tuple[list[dict[str, Any]], list[Problem], int]:
    """JSONL text -> (entries, problems, records seen). Every non-blank line is a record: an
    entry, or a reject naming its line."""
    entries: list[dict[str, Any]] = []
    problems: list[Problem] = []
    seen = 0
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        seen += 1
        if deadline is not None and seen % 256 == 0 and time.monotonic() > deadline:
            raise ParseTimeout(number)
        made = _record(line, number)
        if isinstance(made, Problem):
            problems.append(made)
        else:
            entries.append(made)
    if not seen:
        problems.append(Problem("not_a_digest", "no JSON record in the file", severity="reject"))
    return entries, problems, seen


def _record(line: str, number: int) -> dict[str, Any] | Problem:
    if len(line) > MAX_RECORD_CHARS:
        return Problem(
            "record_too_large",
            f"a record of {len(line):,} characters is over the {MAX_RECORD_CHARS:,} a paper "
            "takes: the line was cut or is not the generator's; fix it and re-ingest",
            number,
            cut(line),
        )
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # also: nested past the parser's depth
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)[:200]
        if "integer string conversion" in why:
            why = "a number too long to read (over 4,300 digits)"
        return _malformed(f"not a JSON object ({why})", number, line)
    if not isinstance(record, dict):
        return _malformed(f"a JSON {type(record).__name__}, not an object", number, line)
    return record_entry(record, number, cut(line))


def _malformed(why: str, number: int, line: str) -> Problem:
    return Problem("malformed_record", f"{why}: fix the line and re-ingest", number, cut(line))


def record_entry(record: dict[str, Any], number: int, raw: str) -> dict[str, Any] | Problem:
    """One record as an entry (validation checks its fields), or why it has no paper. Its
    `ref` is its line: unique in the file, and what a reject keeps to replay it."""
    raw_id = text_of(record.get("id")) or _id_of_url(text_of(record.get("abs")))
    if raw_id is None:
        return Problem(
            "no_arxiv_id",
            "the record has no `id` (nor an `abs` link): no paper to load; fix and re-ingest",
            number,
            raw,
        )
    parts = split_id(raw_id.removeprefix("arXiv:"))
    arxiv_id, version = parts if parts else (raw_id, None)  # validation names a bad one
    ai = record.get("AI")
    ai = ai if isinstance(ai, dict) else ({} if ai is None else {"AI": ai})
    abs_url = text_of(record.get("abs"))
    categories = names_of(record.get("categories"))
    entry: dict[str, Any] = {
        "ref": number,
        "arxiv_id": arxiv_id,
        "arxiv_version": version,
        "title": tidy(text_of(record.get("title"))) or "",
        "abstract_excerpt": tidy(text_of(record.get("summary"))),
        "listed_authors": names_of(record.get("authors")),
        "listed_categories": categories,
        "listed_category": categories[0] if categories else None,
        "layout": "ai_jsonl",
        "url": abs_url if abs_url and abs_url.startswith("http") else arxiv_url(raw_id),
        "line": number,
        "_raw": raw,
    }
    return with_ai_fields(entry, ai, {k: v for k, v in record.items() if k not in RECORD_COLUMNS})


def with_ai_fields(
    entry: dict[str, Any], ai: dict[str, Any], others: dict[str, Any]
) -> dict[str, Any]:
    """`entry` with the model's fields: the named ones in their columns (`tldr` before
    `task`), the rest in `ai_fields`, and the record's other keys in `record_fields`."""
    entry.update(summary_zh=None, title_zh=None, abstract_zh=None)
    rest: list[tuple[str, str]] = []
    for key, value in ai.items():
        text = tidy(text_of(value))
        column = AI_COLUMNS.get(key)
        if column is not None and text is not None:
            if entry[column] is None or key != "task":
                entry[column] = text
        elif text is not None:
            rest.append((key, text))
    entry["ai_fields"] = rest or None
    kept = [(k, t) for k, v in others.items() if (t := tidy(text_of(v))) is not None]
    entry["record_fields"] = kept or None
    return entry


def text_of(value: Any) -> str | None:
    """A value as text: a string as it is, a number or a list as its JSON, null as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    return json.dumps(value, ensure_ascii=False)


def names_of(value: Any) -> list[str] | None:
    """A list of names (authors, categories) as the generator gives it: a list, or one
    string with commas."""
    items = value if isinstance(value, list) else str(value).split(",") if value else []
    if items and all(isinstance(item, str) for item in items):
        whole = "\t".join(items)  # clean names, tab-separated, are one tidy text but the tabs
        printable = whole.replace("\t", "|").isprintable() and all(items)
        spaced = "  " in whole or " \t" in whole or "\t " in whole
        if printable and not spaced and whole[0] != " " != whole[-1]:
            return list(items)
    names = [tidy(text_of(item)) for item in items]
    kept: list[str] = []
    for name in names:
        if name and kept and name.rstrip(".").upper() in _SUFFIXES:
            kept[-1] = f"{kept[-1]}, {name}"  # `Henry M. Cathey, Jr.` split at its comma
        elif name:
            kept.append(name)
    return kept or None


_SUFFIXES = frozenset({"JR", "SR", "II", "III", "IV"})


_ABS = re.compile(r"arxiv\.org/(?:abs|pdf)/([^?#\s]+?)(?:\.pdf)?/?(?:[?#]|$)", re.IGNORECASE)


def _id_of_url(url: str | None) -> str | None:
    found = _ABS.search(url) if url else None
    return found.group(1) if found else None


def arxiv_url(raw_id: str) -> str:
    """The abstract page of an ID given without its link."""
    return f"https://arxiv.org/abs/{raw_id}"
