"""arXiv identifiers: the one place that knows what a valid ID looks like.

The patterns follow https://info.arxiv.org/help/arxiv_identifier.html strictly (the API's own
check is looser, so an impossible ID would come back empty instead of failing loudly):
- new scheme `YYMM.NNNN` for 0704..1412, `YYMM.NNNNN` from 1501, month 01..12;
- old scheme `archive/YYMMNNN` (1991-08 .. 2007-03), the subject class (`math.CA/…`) dropped.
"""

from __future__ import annotations

import re

_MONTH = r"(?:0[1-9]|1[0-2])"
NEW_ID = rf"(?:0[7-9]{_MONTH}\.\d{{4}}|1[0-4]{_MONTH}\.\d{{4}}|(?:1[5-9]|[2-9]\d){_MONTH}\.\d{{5}})"
OLD_ID = rf"(?:[a-z]+(?:-[a-z]+)*/(?:9[1-9]|0[0-7]){_MONTH}\d{{3}})"
# Canonical form, as stored in every table: no version, no `arXiv:` prefix, no subject class.
ARXIV_ID_PATTERN = rf"^(?:{NEW_ID}|{OLD_ID})$"

_ARXIV_ID = re.compile(ARXIV_ID_PATTERN)
# What a link or a reference may carry around an ID: an optional subject class on old IDs
# and an optional version.
_LOOSE = re.compile(
    r"(?P<id>\d{4}\.\d{4,5}|[A-Za-z]+(?:-[A-Za-z]+)*(?:\.[A-Za-z]{2})?/\d{7})(?:v(?P<version>\d+))?$"
)


def split_id(raw: str) -> tuple[str, int | None] | None:
    """`'2403.15603v2'` -> `('2403.15603', 2)`; `'math.CA/0611800'` -> `('math/0611800', None)`.

    Returns None when `raw` is not shaped like an arXiv ID at all. The result is canonical in
    form but not checked against the calendar rules: `is_valid_id` does that, so a validator
    can reject it with a reason instead of the parser silently dropping it.
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
    version = match.group("version")
    return ident, int(version) if version else None


def is_valid_id(ident: str) -> bool:
    return _ARXIV_ID.match(ident) is not None
