"""Reading a batch of digest files: each read whole once it has settled (not still being
written), hashed, content already loaded skipped, and the new files parsed here or in the
pool's worker processes (`flows.digests.parsed`). Plain functions; `flows.pipeline` wraps them
in Prefect tasks."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from flows.digests.discover import Source
from flows.digests.guard import Limits, too_large
from flows.digests.parsed import (
    DEFAULT_LIMITS,
    ENTRY_SCHEMA,
    NewFile,
    ParsedBatch,
    merge,
    parse_files,
)
from flows.digests.pool import ParsePool
from flows.digests.rejects import Where, problem_rejects
from flows.digests.text import FileProblem, Problem
from schemas.tables import DIGEST_BYTES, DIGESTS, SEEN_FILES

log = logging.getLogger(__name__)

# A file modified this recently may still be being written: it is not recorded, so the next
# run reads (and hashes) it again instead of trusting its size and time.
SETTLE = timedelta(seconds=2)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNREADABLE = "unreadable"  # the rule of a file (or a history's version) that could not be read


def read_batch(
    paths: list[Source],
    known: set[str],
    run_id: str,
    now: datetime,
    pool: ParsePool | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ParsedBatch:
    """Read and parse `paths`. Content in `known` (digest ids loaded, this run included) is
    skipped; `known` itself is not changed. A `pool` parses the new files in its worker
    processes (reading and hashing stay here, in order); a file over the size limit is unread."""
    batch = ParsedBatch(DIGESTS.empty(), ENTRY_SCHEMA.empty_table())
    todo: list[NewFile] = []
    repeats: list[NewFile] = []
    here: set[str] = set()  # new content met in this batch
    settled: list[dict[str, Any]] = []  # the files read that may go into `seen_files`
    for path, data, info in _read_settled(paths, limits, batch, Where("read", run_id, now)):
        digest_id = hashlib.sha256(data).hexdigest()
        settled += _settled(path, info, digest_id, run_id, now)
        if digest_id in known:
            batch.files_skipped += 1
        else:
            (repeats if digest_id in here else todo).append((path, digest_id, data))
            here.add(digest_id)
    parsed = (
        pool.parse(todo, run_id, now, limits)
        if pool is not None and pool.worth_it(len(todo), sum(len(f[2]) for f in todo))
        else [parse_files(todo, run_id, now, limits)]
    )
    batch = merge([batch, *parsed])
    # A second copy of a file in one batch is skipped once the first copy loaded; a copy of a
    # file that did not load is rejected under its own path, as it would be on its own.
    loaded = set(batch.digests.column("digest_id").to_pylist())
    again = [r for r in repeats if r[1] not in loaded]
    batch.files_skipped += len(repeats) - len(again)
    if again:
        batch = merge([batch, parse_files(again, run_id, now, limits)])  # same bytes: unloaded
    batch.raw = _bytes_of([*todo, *again], loaded)
    # A file whose content did not load (binary, not a digest) is read again by every run.
    batch.seen = pa.Table.from_pylist(
        [f for f in settled if f["digest_id"] in loaded or f["digest_id"] in known],
        schema=SEEN_FILES.schema,
    )
    return batch


def _bytes_of(files: list[NewFile], loaded: set[str]) -> pa.Table:
    """The raw layer's rows: each loaded digest's bytes, once."""
    kept: dict[str, bytes] = {}
    for _, digest_id, data in files:
        if digest_id in loaded:
            kept.setdefault(digest_id, data)
    return pa.table(
        {"digest_id": list(kept), "data": pa.array(list(kept.values()), pa.binary())},
        schema=DIGEST_BYTES.schema,
    )


def _read_settled(
    paths: list[Source], limits: Limits, batch: ParsedBatch, where: Where
) -> list[tuple[Source, bytes, os.stat_result]]:
    """The files' bytes, in order, once each is settled. A file that cannot be read is a
    reject; one modified within the quiet window is looked at again once the window has
    passed (one wait for the batch), and is left for the next run if it changed meanwhile."""
    read: list[tuple[Source, bytes, os.stat_result]] = []
    for path in paths:
        got = _read(path, limits)
        if isinstance(got, Problem):
            batch.problems.append(FileProblem(str(path), got))
            batch.rejects += problem_rejects(where, str(path), [got])
            batch.files_rejected += 1
        else:
            read.append((path, *got))
    mutable = [(path, info) for path, _, info in read if not _immutable(path)]
    if mutable and limits.quiet_seconds > 0:
        youngest = min(time.time() - info.st_mtime for _, info in mutable)
        time.sleep(min(max(0.0, limits.quiet_seconds - youngest), limits.quiet_seconds))
    settled = []
    for path, data, info in read:
        if _immutable(path):
            settled.append((path, data, info))
        elif (late := still_written(path, info, data)) is not None:
            batch.problems.append(FileProblem(str(path), late))
            batch.files_waiting += 1
        else:
            settled.append((path, data, info))
    return settled


def _immutable(path: Source) -> bool:
    """A version on a git history: it cannot be being written, and is never stat-skipped."""
    return getattr(path, "immutable", False)


def _read(path: Source, limits: Limits) -> tuple[bytes, os.stat_result] | Problem:
    """A file's bytes and the stat taken before reading them (a file changed in between is
    read again by the next run), or why it cannot be read."""
    try:
        info = path.stat()
        if info.st_size > (limit := limits.max_for(path.name)):
            return too_large(info.st_size, limit)
        return path.read_bytes(), info
    except OSError as exc:
        return Problem(UNREADABLE, f"cannot read: {exc.strerror or exc}; fix and re-run")


def still_written(path: Source, before: os.stat_result, data: bytes) -> Problem | None:
    """Why a file read (and, if it was young, waited for) may still be being written: its
    size or time changed since the stat taken before reading it. None when it did not. Such a
    file is left for the next run, which loads it once, whole: a half-written digest loaded
    now would stay for ever."""
    try:
        after = path.stat()
    except OSError:
        after = None
    if (
        after is not None
        and (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        and len(data) == before.st_size
    ):
        return None
    return Problem(
        "still_being_written",
        "it changed while it was read or within the quiet window after "
        "(ARXIV_DIGESTS_QUIET_SECONDS): left for the next run",
        severity="warning",
    )


def _settled(
    path: Source, info: os.stat_result, digest_id: str, run_id: str, now: datetime
) -> list[dict[str, Any]]:
    """The file's `seen_files` row, if it was last modified long enough ago to trust (a
    version on a git history has none: the history's walk skips it)."""
    modified = EPOCH + timedelta(microseconds=info.st_mtime_ns // 1000)
    if modified >= now - SETTLE or _immutable(path):
        return []
    return [
        {
            "source_path": str(path),
            "size_bytes": info.st_size,
            "modified_at": modified,
            "digest_id": digest_id,
            "run_id": run_id,
        }
    ]
