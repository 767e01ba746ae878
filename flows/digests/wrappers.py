"""What the generator wrapped around a digest's text fields, recognised and removed, so that
each column holds what the data dictionary says and nothing else (`schemas/tables.py`):

- the English abstract's `arXiv:2402.12659v1 Announce Type: cross Abstract: ` (the ID and the
  type have columns of their own);
- the Chinese abstract's translation of it, in the wordings models chose:
  `arXiv:2403.06131v1 公告类型: 跨领域 摘要：`, `…公告类型：交叉领域 摘要：…`,
  `…类型：交叉 摘要：…`;
- ASCII quotes around a whole Chinese title or summary, and a leftover
  `( arXiv:2305.11694v1[cs.CL])` at a title's end;
- the old layout's `UPDATED` / `CROSS LISTED` marker, kept as the announce type it stands for.

Pure functions over cleaned text (single spaces); each regular expression is anchored and
linear, as the parser's hostile-input bound requires (tests/test_parse_linear.py).
"""

from __future__ import annotations

import re

# `arXiv:ID Announce Type: TYPE Abstract: text` (the `Abstract:` label may be missing).
_EN_PREFIX = re.compile(
    r"arXiv:(?P<id>\S++)\s++Announce Type:\s*+(?P<type>\S++)\s*+(?:Abstract:\s*+)?"
)
# The same as a model translated it, in the wordings of 5,700 real digests: an optional
# leading 摘要 label, `arXiv:ID` (or `arXiv：ID`), a type label (公告类型, 通告类型, 类型公告,
# 类型, Announce Type…), the type in a word or a few (新, 交叉, 跨领域, 替换-交叉, replace…), then
# an abstract label (摘要, 文摘, 提要, 简介, 抽象, Abstract), a full stop or a space. The type is
# not compared with the row's: its translations are too many to map back.
# A type written out is an English word or up to 6 other characters, ended by a label, a stop
# or a space (a type run into the text is told by its word: `_ZH_TYPE_ONLY`).
_ZH_TYPE = (
    r"(?:[^\s:：]{0,4}类型[^\s:：]{0,2}|Announce\s++Type)\s*+[:：]\s*+"
    r"(?:[A-Za-z-]{1,16}|[^\s:：。，,》)）]{0,6}?)[》)）]?"
    r"(?:[。.，,]?\s*+(?:摘要|文摘|提要|简介|抽象|Abstract)\s*+[:：]\s*+|[。.]\s*+|\s++)"
)
_ZH_PREFIX = re.compile(
    r"(?:[《(（]|[^\s:：]{1,4}[:：]\s*+)?(?i:arXiv)"  # `arXiv:ID` then maybe the type; no ID
    rf"(?:\s*+[:：]\s*+(?P<id>[0-9A-Za-z./-]++)\s*+(?:{_ZH_TYPE})?|\s*+{_ZH_TYPE})"
    # `arXiv` itself translated (引文, 谷歌学术…): an ID of arXiv's shape, then the type.
    rf"|[^\s:：]{{1,10}}\s*+[:：]\s*+(?P<other>\d{{4}}\.\d{{4,5}}(?:v\d++)?)\s*+{_ZH_TYPE}"
)
# The type words models wrote, longest first: what a type run into the text
# (`公告类型：交叉心理健康…`) is told from the text by.
_TYPE_WORDS = (
    "replace-cross|替换-交叉|替换交叉|交叉替换|交叉领域|交叉学科|跨领域|跨学科|跨主体|新论文|"
    "replace|cross|new|交叉|替换|跨界|跨越|新的|跨|新"
)
# The type alone, without the ID (`公告类型：替换。…`): ended by a delimiter, or a known type
# word run into the text.
_ZH_TYPE_ONLY = re.compile(
    rf"{_ZH_TYPE}|(?:[^\s:：]{{0,4}}类型)\s*+[:：]\s*+(?:{_TYPE_WORDS})"
    r"(?:[。.，,]?\s*+(?:(?:摘要|文摘|提要|简介|抽象|Abstract)\s*+[:：]\s*+)?)"
)
# A Chinese abstract that begins with its label alone (`摘要：…`).
_ZH_LABEL = re.compile(r"(?:摘要|Abstract)\s*+[:：]\s*+")
# A Chinese title's leftover of the old English title suffix, `( arXiv:2305.11694v1[cs.CL])`;
# the class stops at the next parenthesis, so each `(` tries at most up to the next one.
_ARXIV_LEFTOVER = re.compile(r"\s?[（(]\s*+arXiv\s*+[:：][^()（）]*+[)）]")
# The old layout's marker after the title's `(arXiv:ID [cat])`, and the type it means.
OLD_MARKERS = {None: "new", "UPDATED": "replace", "CROSS LISTED": "cross"}


def english_prefix(text: str | None) -> tuple[str | None, str | None, str | None]:
    """(the abstract without its announcement prefix, the prefix's ID as written, its type);
    the text unchanged and (None, None) when it has none."""
    if not text:
        return text, None, None
    found = _EN_PREFIX.match(text)
    if found is None:
        return text, None, None
    return text[found.end() :] or None, found.group("id"), found.group("type")


def chinese_prefix(text: str | None) -> tuple[str | None, str | None]:
    """(the Chinese abstract without the translated prefix, or its label alone, and the
    prefix's ID as written)."""
    if not text:
        return text, None
    found = _ZH_PREFIX.match(text)
    named = (found.group("id") or found.group("other")) if found else None
    rest = text[found.end() :] if found else text
    # What is left may begin with the type (run into the text) or the label alone.
    label = _ZH_TYPE_ONLY.match(rest) or _ZH_LABEL.match(rest)
    return (rest[label.end() :] if label else rest) or None, named


def unquoted(text: str | None) -> str | None:
    """`text` without ASCII quotes around the whole of it (quotes inside it stay)."""
    if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        inner = text[1:-1].strip()
        if text[0] not in inner:
            return inner or None
    return text


def without_arxiv_leftover(text: str | None) -> str | None:
    """`text` without a `(arXiv:…)` leftover of the old English title suffix."""
    if not text or "arXiv" not in text:
        return text
    return _ARXIV_LEFTOVER.sub("", text).strip() or None
