"""The parse stage's floor (issue 17, target 3): what the stage costs when the parser itself
costs nothing.

In one process, over every file of a corpus, in batches of 100 files: the plain regex
reference (bench/plain_parser.py), then the parse stage's own work (`read_batch`: stat,
read, hash, decode, parse, Arrow rows, validation, the `digests` rows) with the time spent
in `flows.digests.parse.parse_text` counted apart. What is left is work any parser feeding these
tables must do around the scan, so it bounds the stage from below. Prints a JSON object of
seconds; the two passes alternate, twice, and the faster of each is kept."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import flows.digests.families
import flows.digests.parse
from flows.digests.parsed import validate_batch
from flows.digests.read import read_batch

sys.path.insert(0, str(Path(__file__).parent))
import plain_parser  # a sibling script, not a package

_parse_text = flows.digests.parse.parse_text
_in_parser = [0.0]


def _timed_parse_text(text: str, deadline: float | None = None) -> tuple:
    started = time.perf_counter()
    try:
        return _parse_text(text, deadline)
    finally:
        _in_parser[0] += time.perf_counter() - started


def stage(paths: list[Path]) -> tuple[float, float, int]:
    """(seconds of the parse stage's work in one process, of it in `parse_text`, entries)."""
    _in_parser[0], entries = 0.0, 0
    started = time.perf_counter()
    for at in range(0, len(paths), 100):
        now = datetime.now(UTC)
        valid = validate_batch(read_batch(paths[at : at + 100], set(), "bench", now), "", now)
        entries += valid.entries.num_rows
    return time.perf_counter() - started, _in_parser[0], entries


def main(corpus: Path) -> dict[str, float]:
    # The family's parser is what `parse_digest` is handed (flows/digests/families.py).
    object.__setattr__(flows.digests.families.CN_CHAT_ARXIV, "parse_text", _timed_parse_text)
    paths = plain_parser.files(corpus)
    plain, ours = [], []
    for _ in range(2):
        plain.append(plain_parser.time_over(corpus)["seconds"])
        ours.append(stage(paths))
    seconds, in_parser, entries = min(ours)
    return {
        "plain_seconds": min(plain),
        "stage_seconds": round(seconds, 3),
        "parse_text_seconds": round(in_parser, 3),
        "floor_seconds": round(seconds - in_parser, 3),
        "entries": entries,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
