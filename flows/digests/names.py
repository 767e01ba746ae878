"""What a digest's path says about it: a date and an arXiv category, never guessed."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flows.digests.text import DIGEST_SUFFIXES

# What a path may tell: a date `YYYY-MM-DD` and an arXiv category as the file's stem
# (`cs.AI.md`, `econ.md`). Anything else is left null: never guessed.
_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")

_ARCHIVES = [
    "astro-ph",
    "cond-mat",
    "cs",
    "econ",
    "eess",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math",
    "math-ph",
    "nlin",
    "nucl-ex",
    "nucl-th",
    "physics",
    "q-bio",
    "q-fin",
    "quant-ph",
    "stat",
]

_CATEGORY = re.compile(rf"^(?:{'|'.join(map(re.escape, _ARCHIVES))})(?:\.[A-Za-z-]{{2,}})?$")


def path_facts(path: Any) -> tuple[date | None, str | None]:
    """The date (`YYYY-MM-DD`) and the arXiv category (`cs.AI.md`) a path names, if any."""
    found: date | None = None
    for match in _DATE.finditer(str(path)):
        try:
            found = date(*map(int, match.groups()))
        except ValueError:
            continue
    stem = path.name
    for suffix in DIGEST_SUFFIXES:
        stem = stem.removesuffix(suffix)
    for candidate in (stem, _DATE.sub("", stem).strip("-_. ")):
        if _CATEGORY.match(candidate):
            return found, candidate
    return found, None


def digest_facts(
    path: Any, dated_by_name: bool = False
) -> tuple[date | None, str | None, str | None]:
    """A digest's date, where the date came from (`path` or `commit`), and its category: a
    version on a git history is dated by its first commit, a file by a date in its path; a
    family that names each day's file (`dated_by_name`) by that date wherever it is."""
    day, category = path_facts(path)
    committed_on: date | None = getattr(path, "committed_on", None)
    if committed_on is not None and not (dated_by_name and day is not None):
        return committed_on, "commit", category
    return day, None if day is None else "path", category


def undated_note(digests: int, entries: int) -> str:
    """The note beside counts that leave out the digests with no date: how to date them."""
    return (
        f"{digests:,} digest(s) ({entries:,} entries) have no date (their paths name none): "
        "date a day's drop with `arxiv-digests ingest --date YYYY-MM-DD PATH`, or load the "
        "digests from their generator's git history (`arxiv-digests ingest git+URL`), which "
        "dates each version by its commit"
    )


def is_utf8(path: object) -> bool:
    """Whether a path (a file system's, or a git tree's) is text a table can record: its
    bytes that are not UTF-8 come back from the OS as surrogates, which cannot be encoded."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
