"""The per-file guard: anything larger or slower to parse than its limits becomes a reject,
never a hang."""

from __future__ import annotations

from dataclasses import dataclass

from flows.digests.text import Problem
from schemas.errors import ArxivDigestsError


@dataclass(frozen=True)
class Limits:
    """A per-file guard: anything larger or slower becomes a reject, never a hang."""

    max_bytes: int = 16 * 1024 * 1024
    # A JSONL digest is read record by record, each bounded on its own (a hostile line is one
    # reject, the others load): the file as a whole may be larger.
    max_jsonl_bytes: int = 256 * 1024 * 1024
    seconds: float = 60.0
    # A file modified less than this long before it is read may still be being written: it is
    # looked at again once this has passed, and left for the next run if it changed. 0 here
    # (a plain call reads what it is given); the product's settings give 2 s
    # (ARXIV_DIGESTS_QUIET_SECONDS).
    quiet_seconds: float = 0.0

    def max_for(self, name: str) -> int:
        """The size limit of the file named `name`."""
        jsonl = name.lower().endswith(".jsonl")
        return max(self.max_bytes, self.max_jsonl_bytes) if jsonl else self.max_bytes


class ParseTimeout(ArxivDigestsError):
    """A file took longer than its time budget to parse."""

    line: int

    def __init__(self, line: int):
        super().__init__(f"parsing stopped at line {line}", line=line)


def too_large(size: int, limit: int) -> Problem:
    """The reject of a file over the size limit."""
    return Problem(
        "file_too_large",
        f"{size:,} bytes is over the {limit:,}-byte limit for one digest: check "
        "the file, or raise ARXIV_DIGESTS_MAX_FILE_BYTES",
    )
