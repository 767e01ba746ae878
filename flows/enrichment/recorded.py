"""The arXiv API replayed from recorded real answers, as arxiv.py's own tests replay theirs:
enrichment runs offline, against exactly what the API once said."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from flows.enrichment.api import Answer, ApiError, BadIdError, parse_answer
from schemas.ids import versionless

if TYPE_CHECKING:
    import arxiv

# The server's own ID check (arxiv-base's loose pattern): an ID failing it gets an HTTP 400.
_WELL_FORMED = re.compile(r"^(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$")


class RecordedArxiv:
    """Every entry of every recorded answer in `folder` (`*.xml`), by versionless ID. A
    request gets the entries of its IDs that some recording holds; the others are left out,
    as the real API leaves out IDs it does not know. An ID the server would refuse gets the
    HTTP 400 it would."""

    final = True  # a recording answers the same every time: a missing ID is not found at once

    def __init__(self, folder: Path):
        self.folder = folder
        self.requests = 0
        self.asked: list[list[str]] = []  # each request's IDs, for tests to count
        self.entries: dict[str, arxiv.Result] = {}
        for path in sorted(folder.glob("*.xml")):
            try:
                answer = parse_answer(path.as_uri(), path.read_bytes())
            except ApiError:  # a recorded error page holds no paper
                continue
            self.entries.update(
                (ident, result)
                for ident, result in answer.results.items()
                if "/abs/" in result.entry_id
            )
        if not self.entries:
            raise ApiError(folder.as_uri(), "no recorded answers here (*.xml)")

    def fetch(self, ids: list[str]) -> Answer:
        """The recorded papers of `ids`."""
        self.requests += 1
        self.asked.append(list(ids))
        url = f"{self.folder.as_uri()}?id_list={','.join(ids)}"
        for ident in ids:
            if not _WELL_FORMED.match(ident):
                raise BadIdError(url, ident, f"HTTP 400: incorrect id format for {ident}")
        found = {}
        for ident in ids:
            base, _ = versionless(ident)
            if base in self.entries:
                found[base] = self.entries[base]
        return Answer(found)
