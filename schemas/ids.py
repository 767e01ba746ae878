"""arXiv identifiers: the one place that knows what a valid ID looks like.

The rules are those of https://info.arxiv.org/help/arxiv_identifier.html, stricter than the
API's own check (which answers an impossible ID with nothing instead of failing loudly):
- new scheme since 2007-04: `YYMM.NNNN` until 1412, `YYMM.NNNNN` from 1501, month 01..12,
  never a month still to come;
- old scheme `archive/YYMMNNN` from 1991-08 to 2007-03 (the subject class of `math.CA/…` is
  dropped in the canonical form);
- numbers start at 1 (`0000`, `000` were never issued), and so do versions (`v1`).

The pattern is built for a date because the newest valid month moves: a service that runs for
months must accept next month's IDs without a restart.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta

_OLD_FIRST, _OLD_LAST = (1991, 8), (2007, 3)
_NEW_FIRST = (2007, 4)
_FIVE_DIGITS_FROM = 2015


def _nonzero(digits: int) -> str:
    """`digits` digits, not all zero (no look-ahead: the pattern also runs in Arrow's RE2)."""
    options = [f"{'0' * i}[1-9][0-9]{{{digits - i - 1}}}" for i in range(digits)]
    return f"(?:{'|'.join(options)})"


def _months(first: int, last: int) -> str:
    return "(?:" + "|".join(f"{m:02d}" for m in range(first, last + 1)) + ")"


def _year_months(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, str]]:
    """(year, pattern of its months) for every year from `start` to `end`, inclusive."""
    spans = []
    for year in range(start[0], end[0] + 1):
        first = start[1] if year == start[0] else 1
        last = end[1] if year == end[0] else 12
        spans.append((year, _months(first, last)))
    return spans


def new_id_pattern(today: date) -> str:
    """The new-style IDs issued by `today`, as a pattern."""
    spans = _year_months(_NEW_FIRST, (today.year, today.month))
    four = [f"{y % 100:02d}{m}" for y, m in spans if y < _FIVE_DIGITS_FROM]
    five = [f"{y % 100:02d}{m}" for y, m in spans if y >= _FIVE_DIGITS_FROM]
    parts = [f"(?:{'|'.join(four)})\\.{_nonzero(4)}"]
    if five:
        parts.append(f"(?:{'|'.join(five)})\\.{_nonzero(5)}")
    return "|".join(parts)


OLD_ID = "[a-z]+(?:-[a-z]+)*/(?:{})".format(
    "|".join(f"{y % 100:02d}{m}{_nonzero(3)}" for y, m in _year_months(_OLD_FIRST, _OLD_LAST))
)


def _issued(today: date | None) -> str:
    day = today or (datetime.now(UTC) + timedelta(days=1)).date()
    return f"{new_id_pattern(day)}|{OLD_ID}"


def arxiv_id_pattern(today: date | None = None) -> str:
    """The canonical form (no version, no `arXiv:` prefix, no subject class) of every ID
    issued by `today` (default: tomorrow in UTC, a day of slack for clocks and time zones).
    Anchored for Arrow's RE2, where `$` is the end of the text."""
    return f"^(?:{_issued(today)})$"


def is_valid_id(ident: str, today: date | None = None) -> bool:
    # fullmatch, not `$`: Python's `$` also matches before a final newline.
    """Whether `ident` is a canonical ID arXiv has issued by `today`."""
    return re.fullmatch(_issued(today), ident) is not None


# What a link or a reference may carry around an ID: an optional subject class on old IDs
# and an optional version.
_LOOSE = re.compile(
    r"(?P<id>[0-9]{4}\.[0-9]{4,5}|[A-Za-z]+(?:-[A-Za-z]+)*(?:\.[A-Za-z]{2})?/[0-9]{7})"
    r"(?:v(?P<version>[1-9][0-9]*))?"
)


# Numbers a digest gives, bounded where they are read: one row with a number past what its
# column holds must be one reject, never a failed run. arXiv versions run to a few dozen.
MAX_VERSION = 999
MAX_REF = 2**31 - 1  # a footnote number, stored as int32


def bounded(digits: str, high: int) -> int | None:
    """`digits` as a number if it is at most `high`; None past it (however many digits:
    Python refuses to convert a string of over 4,300)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(high)):
        return None
    value = int(significant)
    return value if value <= high else None


# An entry's link, its abstract's prefix and its check name the same ID: read it once.
@functools.lru_cache(maxsize=4096)
def split_id(raw: str) -> tuple[str, int | None] | None:
    """`'2403.15603v2'` -> `('2403.15603', 2)`; `'math.CA/0611800'` -> `('math/0611800', None)`.

    Returns None when `raw` is not shaped like an arXiv ID at all (a `v0` version included,
    and a version past `MAX_VERSION`).
    The result is canonical in form but not checked against the calendar: validation does
    that with `arxiv_id_pattern`, so the row is rejected with a reason instead of dropped.
    """
    text = raw.strip()
    if text.lower().startswith("arxiv:"):
        text = text[6:]
    match = _LOOSE.fullmatch(text)
    if match is None:
        return None
    ident = match.group("id")
    if "/" in ident:
        archive, number = ident.split("/", 1)
        ident = f"{archive.split('.', 1)[0].lower()}/{number}"
    digits = match.group("version")
    if not digits:
        return ident, None
    version = bounded(digits, MAX_VERSION)
    return None if version is None else (ident, version)


def versionless(entry_id: str) -> tuple[str, int | None]:
    """An API entry id (`http://arxiv.org/abs/hep-th/9901001v2`) -> (`hep-th/9901001`, 2); an
    id of no known shape is returned whole, without a version."""
    short = entry_id.split("/abs/", 1)[-1]
    return split_id(short) or (short, None)
