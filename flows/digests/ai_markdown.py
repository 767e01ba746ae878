"""The daily-arXiv-ai-enhanced family's Markdown digests (`YYYY-MM-DD.md`): a table of contents
by category, then per paper a `### [N] [Title](https://arxiv.org/abs/ID)` heading, the authors in
italics, `Main category:`, `TL;DR:` and a `<details>` block with the model's other fields and
the abstract. Forks change the template (`> **TL;DR:** …`, `**Keywords:** …`, a translated
title in a quote, labels in Chinese), so a block is read as labelled fields, not as fixed
lines: known labels fill their columns, other bold labels are kept in `ai_fields`, and lines
without a label continue the field before them. Pure: text in, entries and problems out."""

from __future__ import annotations

import functools
import re
import time
from typing import Any

from flows.digests.ai_enhanced import arxiv_url, names_of, with_ai_fields
from flows.digests.guard import ParseTimeout
from flows.digests.text import Problem, cut, tidy
from schemas.ids import split_id

# A paper's heading, `### [N] [`: its title and link are split off by hand (`_title_link`).
# The oldest days have no `[N]`: `### [Title](https://arxiv.org/abs/ID)`.
_HEADING = re.compile(r"#{2,4}[ \t]*+(?:\[(?P<n>[0-9]{1,9})\][ \t]*+)?\[")
_HASH_LINE = re.compile(r"(?m)^#[^\n]*+")  # the lines a paper or a category starts on
_HEADING_BYTES = re.compile(
    rb"(?m)^#{2,4}[ \t]*+(?:\[[0-9]{1,9}\][ \t]*+\[|\[[^\n]*\]\(\[?https?://[a-z.]*arxiv\.org/)"
)
# A link rendered inside the link by a fork's bug: `]([https://arxiv.org/abs/](…)ID)`.
_NESTED_LINK = re.compile(r"\[([^\[\]()\s]++)\]\(\1\)")
# A template's placeholder left unfilled (`> *{title_translation}*`): no value.
_PLACEHOLDER = re.compile(r"\{[A-Za-z_]{1,40}\}")
# `Label: value`, `**Label:** value`, `**Label**: value`, a full-width colon alike.
_LABEL = re.compile(
    r"(?P<bold>\*\*)?(?P<label>[^:：*\n]{1,40}?)(?:\*\*)?[ \t]*+[:：][ \t]*+(?:\*\*)?[ \t]*+"
)
_ARXIV = re.compile(
    r"https?://(?:[a-z]++\.)?arxiv\.org/(?:abs|pdf)/(?P<id>[^?#\s]+?)(?:\.pdf)?/?(?:[?#].*)?",
    re.IGNORECASE,
)
# Labels as the generator and its forks write them (lowercased, spaces and `_` removed) ->
# the key the JSONL gives the same field.
LABELS = {
    "tl;dr": "tldr", "tldr": "tldr", "task": "task", "motivation": "motivation",
    "method": "method", "methods": "method", "result": "result", "results": "result",
    "conclusion": "conclusion", "abstract": "summary",
    "maincategory": "category", "category": "category", "主要类别": "category",
    "translation": "translation", "abstracttranslation": "translation",
    "摘要翻译": "translation", "中文摘要": "translation", "titletranslation": "title_translation",
    "标题翻译": "title_translation", "中文标题": "title_translation", "authors": "authors",
    "作者": "authors", "keywords": "keywords", "关键词": "keywords", "comments": "comments",
    "originalabstract": "summary", "englishabstract": "summary", "原文摘要": "summary",
    "英文摘要": "summary", "主类别": "category", "类别": "category", "分类": "category",
}  # fmt: skip
_HEADING_TAGS = re.compile(r"^(?:\[[^\[\]\n]*+\][ \t]*+)+")  # `[1] [8.5] [tag] `
_ARXIV_LINK = re.compile(r"\]\((https?://(?:[a-z]++\.)?arxiv\.org/abs/[^()\s]++)\)")
# The authors' italics in a line that holds more (`**8.5** | *A, B*`, `*A, B* | cs.AI`).
_ITALIC = re.compile(r"(?<!\*)\*(?!\*)([^*\n]++)\*(?!\*)")
# A table row of two cells, `| label | value |`: a field.
_ROW = re.compile(r"\|([^|\n]++)\|([^|\n]*+)\|[ \t]*+")
_SUB_HEADING = re.compile(r"#{2,6}[ \t]++(.+)")
_BULLET = re.compile(r"^(?:[-+]|\*(?= ))[ \t]++")
_PARENS = re.compile(r"[(（]([^)）]*+)[)）]")
_LEAD = re.compile(r"^[^\w(（]++")  # an emoji or a mark before a label
_NOT_WORD = re.compile(r"\W++")
_RULE = re.compile(r"(?:-[ \t]*+){3,}|(?:\*[ \t]*+){3,}|(?:_[ \t]*+){3,}")  # a `---` line
_SKIPPED = ("<details", "</details", "<summary", "</summary", "<div", "</div", "[[back]]")


def looks_like_markdown(head: bytes) -> bool:
    """The family's Markdown: a paper heading `### [N] [` near the top (after the contents)."""
    return _HEADING_BYTES.search(head) is not None


def parse_markdown(
    text: str, deadline: float | None = None
) -> tuple[list[dict[str, Any]], list[Problem], int]:
    """Markdown text -> (entries, problems, papers seen): each `### [N]` heading is a paper,
    an entry or a reject naming its line. Only the lines starting `#` are looked at one by
    one (found by one search of the text); a paper's block is sliced whole."""
    entries: list[dict[str, Any]] = []
    problems: list[Problem] = []
    start, number, line_of, at = -1, 0, 1, 0  # the open paper's offset and line
    for found in _HASH_LINE.finditer(text):
        line_of += text.count("\n", at, found.start())
        at = found.start()
        heading = _paper_heading(found.group())
        if heading is None and not found.group().startswith("# "):
            continue  # a sub-heading inside a paper
        if start >= 0:
            _add(_entry(text[start : at - 1].split("\n"), number), entries, problems)
            if deadline is not None and len(entries) % 256 == 0 and time.monotonic() > deadline:
                raise ParseTimeout(line_of)
        start, number = (at, line_of) if heading else (-1, 0)
    if start >= 0:
        _add(_entry(text[start:].split("\n"), number), entries, problems)
    seen = len(entries) + len(problems)
    if not seen:
        problems.append(Problem("not_a_digest", "no `### [N] [title](link)` paper heading"))
    return entries, problems, seen


def _add(made: dict[str, Any] | Problem, entries: list[Any], problems: list[Problem]) -> None:
    if isinstance(made, Problem):
        problems.append(made)
    else:
        entries.append(made)


def _entry(block: list[str], number: int) -> dict[str, Any] | Problem:
    """A paper's lines (its heading first) as an entry whose `ref` is the heading's line:
    unique in the file whatever a fork numbers, and what a reject keeps to replay it."""
    raw = cut("\n".join(block).rstrip())
    title, url = _title_link(block[0])
    if url is None:  # `### [N] [score] [tag] Title`, the link further down (`[arXiv](url)`)
        title, url = _title_alone(block[0]), _link_below(block[1:])
    if url and split_id(url) is not None:  # a bare ID for a link (a fork's bug)
        url = arxiv_url(url)
    found = _ARXIV.fullmatch(url) if url else None
    if title is None or found is None:
        return Problem(
            "not_arxiv_url",
            "the paper heading is not `### [N] [title](https://arxiv.org/abs/ID)`; fix the "
            "heading and re-ingest",
            number,
            raw,
        )
    raw_id = found.group("id")
    parts = split_id(raw_id)
    arxiv_id, version = parts if parts else (raw_id, None)
    fields = _fields(block[1:])
    entry = {
        "ref": number,
        "arxiv_id": arxiv_id,
        "arxiv_version": version,
        "title": tidy(title) or "",
        "abstract_excerpt": fields.pop("summary", None),
        "listed_authors": names_of(fields.pop("authors", None)),
        "listed_categories": None,
        "listed_category": _category(fields.pop("category", None)),
        "layout": "ai_markdown",
        "url": url,
        "line": number,
        "_raw": raw,
    }
    return with_ai_fields(entry, fields, {})


def _category(text: str | None) -> str | None:
    """The category a paper is listed under; `N/A` (a template's none) is none."""
    return None if text is None or text.upper() in ("N/A", "NONE", "UNKNOWN") else text


def _paper_heading(line: str) -> re.Match[str] | None:
    """A paper's heading: `### [N] [`, or `### [` with an arXiv link (the oldest days)."""
    heading = _HEADING.match(line)
    if heading is not None and heading.group("n") is None and "arxiv.org" not in line:
        return None
    return heading


def _title_link(heading: str) -> tuple[str | None, str | None]:
    """`### [N] [Title](url)` -> (title, url): the link is the last `](…)` of the line, so a
    title may hold brackets of its own."""
    line = heading.rstrip()
    if "](" in line and "[http" in line:
        line = _NESTED_LINK.sub(r"\1", line)
    opened = _HEADING.match(line)
    at = line.rfind("](")
    if opened is None or at < opened.end() - 1 or not line.endswith(")"):
        return None, None
    return line[opened.end() : at], line[at + 2 : -1].strip()


def _title_alone(heading: str) -> str | None:
    """The title of a heading that holds no link: after its number and bracketed tags."""
    text = _HEADING_TAGS.sub("", heading.strip().lstrip("#").strip()).strip()
    return text or None


def _link_below(lines: list[str]) -> str | None:
    """The first arXiv abstract link in a paper's lines."""
    for line in lines:
        if "arxiv.org" in line and (found := _ARXIV_LINK.search(line)) is not None:
            return found.group(1)
    return None


def _fields(lines: list[str]) -> dict[str, str]:
    """A paper's labelled fields, keyed as the JSONL keys them; a fork's own label by its
    name. The italic line before any label is the authors, a quote the translated title; a
    line of fields apart (`a | b`) is each; other lines continue the field before them."""
    fields: dict[str, list[str]] = {}
    key: str | None = None
    blank = True  # a paragraph starts: a plain `Label:` there names a field
    for at, line in enumerate(lines):
        stripped = line.strip()
        quoted = stripped.startswith(">")
        text = stripped.lstrip(">").strip()
        if key == "summary" and quoted and not _bold_label(text):
            text, quoted = stripped, False  # the abstract's own `>200 bps`, wrapped
        elif key != "summary":  # a list item's label; in the abstract, its own text
            text = _table_row(_BULLET.sub("", text), lines[at + 1 : at + 2])
        if not text or text.lower().startswith(_SKIPPED) or _RULE.fullmatch(text):
            blank = True
            continue
        if key is None and "authors" not in fields and " | " in text and _ITALIC.search(text):
            text = _authors_apart(fields, text)  # `**8.5** | *A, B*`: the rest, if labels
        for part in _parts(text, key):
            key = _take(fields, part.strip(), key, quoted, blank)
        blank = False
    joined = {k: tidy(_unmarked(" ".join(parts))) for k, parts in fields.items()}
    return {k: v for k, v in joined.items() if v is not None and not _PLACEHOLDER.fullmatch(v)}


def _table_row(text: str, after: list[str]) -> str:
    """A table row `| label | value |` as `**label**: value`; a separator row or the
    header above one as nothing; any other line as it is."""
    row = _ROW.fullmatch(text) if text.startswith("|") else None
    if row is None:
        return text
    label, value = row.group(1).strip(), row.group(2).strip()
    ahead = after[0].strip() if after else ""
    if not label.strip("-: ") or (ahead.startswith("|") and not ahead.strip("|-: ")):
        return ""
    return f"**{label}**: {value}"


def _authors_apart(fields: dict[str, list[str]], text: str) -> str:
    """The authors in their italics, out of a line holding more; what is left, as fields
    apart when it is labelled (`**Category: cs.CV**`), else nothing."""
    found = _ITALIC.search(text)
    assert found is not None
    fields["authors"] = [found.group(1)]
    rest = [p.strip() for p in (text[: found.start()] + text[found.end() :]).split(" | ")]
    return " | ".join(p for p in rest if p and _LABEL.match(p))


def _bold_label(text: str) -> bool:
    label = _LABEL.match(text)
    return label is not None and bool(label.group("bold"))


def _parts(text: str, key: str | None) -> list[str]:
    """A line of fields apart (`*authors* | **Category: cs.CV**`, `Main category: cs.CV |
    Domain: …`) as its fields; any other line (the abstract's `I(C;O | S)`) whole."""
    if key == "summary" or " | " not in text:
        return [text]
    parts = text.split(" | ")
    first = _LABEL.match(parts[0])
    if first is not None and _known(first.group("label")) == "summary":
        return [text]
    return parts if all(_LABEL.match(part.strip()) for part in parts[1:]) else [text]


def _take(
    fields: dict[str, list[str]], text: str, key: str | None, quoted: bool, blank: bool
) -> str | None:
    """Add a line (or a part of one) to `fields`; the field the next line continues."""
    heading = _SUB_HEADING.match(text)
    label = None if heading else _LABEL.match(text)
    if heading is not None:  # `#### TL;DR` above its text
        return _known(heading.group(1)) or _own_key(heading.group(1))
    name = _key(label, quoted, blank, key) if label is not None else None
    if name is not None and label is not None:
        key, text = name, text[label.end() :]
    elif key is None and quoted and "title_translation" not in fields:
        key = "title_translation"
    elif key is None and text.startswith("*") and "authors" not in fields:
        key = "authors"
    elif key is None:
        return None  # text before any field that is neither: the template's own words
    fields.setdefault(key, []).append(text)
    if key in ("authors", "title_translation"):  # one line, or until its italics close
        started = fields[key][0].lstrip()
        return key if started.startswith("*") and not text.rstrip().endswith("*") else None
    return key


def _key(label: re.Match[str], quoted: bool, blank: bool, current: str | None) -> str | None:
    """The field a label names: a known one or a fork's own, when it is set apart as a
    label (bold, quoted, or starting a paragraph) and not a word of the abstract's text."""
    name = label.group("label").strip()
    marked = bool(label.group("bold")) or quoted
    if current == "summary" and not marked:
        return None  # the abstract's own `Results:` lines
    known = _known(name)
    if known is not None:
        return known
    return _own_key(name) if (marked or blank) and len(name.split()) <= 4 else None


@functools.lru_cache(maxsize=4096)
def _known(label: str) -> str | None:
    """A label the family's templates use, in any of its forms: `Abstract (英文)`,
    `핵심 요약 (TL;DR)`, `🧩 TL;DR`."""
    inside = _PARENS.findall(label)
    for form in (label, *inside, _PARENS.sub("", label)):
        text = _LEAD.sub("", form).lower().replace(" ", "").replace("_", "")
        if text in LABELS:
            return LABELS[text]
    return None


@functools.lru_cache(maxsize=4096)
def _own_key(label: str) -> str:
    return _NOT_WORD.sub("_", label.lower()).strip("_") or "field"


def _unmarked(text: str) -> str:
    """A value without the template's emphasis around it (`*authors*`, `**…**`)."""
    text = text.strip()
    if not text or (text[0] not in "*_" and text[-1] not in "*_"):
        return text
    while text.startswith("**") or text.endswith("**"):
        text = text.removeprefix("**").removesuffix("**").strip()
    for mark in ("*", "_"):
        if len(text) > 2 and text.startswith(mark) and text.endswith(mark):
            return text[1:-1].strip()
    return text
