"""What a run reads: files and folders (and object-store prefixes), found by `discover`; and
git histories (`ingest git+URL[@REV]`), each walked from the commit the warehouse recorded
for it (`git_sources`) to its head. The heads are recorded with the run's rows, in its load
transaction (`warehouse.writes.record_positions`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.digests.discover import UNDECODABLE_NAME, Source, discover, unchanged
from flows.digests.families import is_crawl_only
from flows.digests.git import GitSourceError
from flows.digests.history import (
    GitSource,
    GitVersion,
    is_git,
    repository_folder,
    walk,
)
from flows.digests.text import FileProblem, Problem
from flows.settings import Settings
from schemas.tables import GIT_SOURCES

DEFAULT_REV = "HEAD"
UNDECODABLE_IN_HISTORY = (
    "the path is not valid UTF-8, so it cannot be recorded; this version is not loaded (a "
    "commit that renames the file loads its next versions)"
)


@task(name="discover", cache_policy=NO_CACHE)
def discover_task(
    paths: list[Path | str], seen: pa.Table
) -> tuple[list[Source], int, list[FileProblem], int]:
    """The files to read, how many others are unchanged since they were loaded (`seen`, the
    `seen_files` rows), problems, and how many crawl-only files were left unread."""
    found, problems = discover(paths)
    files = [f for f in found if not is_crawl_only(f.name)]
    return *unchanged(files, seen), problems, len(found) - len(files)


def find_inputs(
    inputs: list[Path | str], seen: pa.Table, recorded: pa.Table, settings: Settings, run_id: str
) -> tuple[list[Source], int, list[FileProblem], Walked]:
    """The files and versions to read, how many files are unchanged since they were loaded,
    the problems, and what the git sources' walks found (their heads, to record)."""
    histories = [str(p) for p in inputs if is_git(p)]
    plain = [p for p in inputs if not is_git(p)]
    files, skipped, problems, crawl = discover_task(plain, seen) if plain else ([], 0, [], 0)
    walked = Walked()
    if histories:
        cache = settings.git_cache.expanduser()
        walked = walk_task(histories, recorded, cache, run_id, datetime.now(UTC))
    walked.crawl_only += crawl
    return [*files, *walked.versions], skipped, [*problems, *walked.problems], walked


def file_batches(items: list[Source], files: int, max_bytes: int) -> list[tuple[int, list[Source]]]:
    """`items` in batches of at most `files` items and `max_bytes` bytes (a larger item is a
    batch alone), each with the number of items up to its end. A batch's bytes are in memory
    a few times over while it loads (read, in the raw layer's table, in DuckDB's writer), so
    a count alone would let 100 large files take gigabytes."""
    chunks: list[tuple[int, list[Source]]] = []
    batch: list[Source] = []
    held = 0
    for done, item in enumerate(items):
        size = _size(item)
        if batch and (len(batch) == files or held + size > max_bytes):
            chunks.append((done, batch))
            batch, held = [], 0
        batch.append(item)
        held += size
    if batch:
        chunks.append((len(items), batch))
    return chunks


def _size(item: Source) -> int:
    """A file's size as listed (0 when it cannot be stat'ed: reading it says why)."""
    try:
        return item.stat().st_size
    except OSError:
        return 0


def places(inputs: list[Path | str]) -> list[str]:
    """The inputs as `digests.source_path` records what was read from them (git excluded)."""
    return [p if isinstance(p, str) else str(p.resolve()) for p in inputs if not is_git(p)]


@dataclass
class Walked:
    """What the walks of a run's git sources found."""

    versions: list[GitVersion] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)  # `git_sources` rows
    problems: list[FileProblem] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # one each: a history walked whole again
    found: list[list[GitVersion]] = field(default_factory=list)  # each position's versions
    crawl_only: int = 0  # crawl files left unread (the plain inputs' too: one line for all)

    def hold_back(self, unread: set[str]) -> list[str]:
        """Record no source's head past a version that could not be read (`unread`: their
        paths as shown), so the next run walks from before it and reads it again; a line for
        each source held back."""
        lines = []
        for position, versions in zip(self.positions, self.found, strict=True):
            failed = [i for i, v in enumerate(versions) if str(v) in unread]
            if not failed:
                continue
            first = versions[failed[0]]
            before = [v.commit for v in versions[: failed[0]] if v.commit != first.commit]
            position["head_commit"] = before[-1] if before else None
            position["versions"] = len(before)
            lines.append(
                f"{position['source']}: {len(failed)} version(s) could not be read (the first: "
                f"{first.path} at {first.commit[:12]}): the next run reads them again"
            )
        self.positions = [p for p in self.positions if p["head_commit"] is not None]
        return lines


def walk_sources(
    texts: list[str], recorded: pa.Table, cache: Path, run_id: str, now: datetime
) -> Walked:
    """Every git source's versions since the commit recorded for it (`recorded`: the
    `git_sources` rows). A source that cannot be read is a problem line; the others load."""
    heads = {(r["source"], r["rev"]): r["head_commit"] for r in recorded.to_pylist()}
    walked = Walked()
    for text in dict.fromkeys(texts):
        try:
            source = GitSource.parse(text)
            folder = repository_folder(source, cache)
            rev = source.rev or DEFAULT_REV
            found = walk(source, folder, heads.get((source.name, rev)))
        except GitSourceError as exc:
            walked.problems.append(FileProblem(text, Problem("git_source", exc.why)))
            continue
        walked.versions += found.versions
        walked.found.append(found.versions)
        walked.crawl_only += found.crawl_only
        unnamed = Problem(UNDECODABLE_NAME, UNDECODABLE_IN_HISTORY)
        walked.problems += [FileProblem(path, unnamed) for path in found.unnamed]
        walked.positions.append(
            {"source": source.name, "rev": rev, "head_commit": found.head,
             "versions": len(found.versions), "run_id": run_id, "walked_at": now}
        )  # fmt: skip
        if found.rewound:
            walked.lines.append(
                f"{source}: the commit the last run loaded, {heads[(source.name, rev)][:12]}, "
                "is no longer on this history (a force-push?): walked it whole again; "
                "versions already loaded are skipped"
            )
    return walked


@task(name="walk-git-history", cache_policy=NO_CACHE)
def walk_task(
    texts: list[str], recorded: pa.Table, cache: Path, run_id: str, now: datetime
) -> Walked:
    """The git sources' new versions (see `walk_sources`)."""
    return walk_sources(texts, recorded, cache, run_id, now)


def positions_table(walked: Walked) -> pa.Table:
    """The `git_sources` rows the run records, as a table."""
    return pa.Table.from_pylist(walked.positions, schema=GIT_SOURCES.schema)
