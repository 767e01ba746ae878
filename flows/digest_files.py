"""From paths to Arrow batches: discover digest files, read and parse a batch of them, and
validate the rows. Plain functions; `flows.ingest` wraps them in Prefect tasks."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from flows.discover import FileProblem, Source, path_facts
from flows.guard import Limits, too_large
from flows.parse import ROW_RULES, ParsedDigest, parse_digest, raw_with_detail
from flows.rejects import Where, failure_rejects, problem_rejects
from flows.text import Problem

if TYPE_CHECKING:
    from flows.parse_pool import ParsePool
from schemas.tables import DIGEST_ENTRIES, DIGESTS, LAYOUTS, REJECTS, SEEN_FILES
from schemas.validate import validate

log = logging.getLogger(__name__)

DEFAULT_LIMITS = Limits()
NewFile = tuple[Source, str, bytes]  # path, digest id (sha256 of the bytes), the bytes

ENTRY_EXTRA = pa.schema([("_raw", pa.string()), ("_source", pa.string())])

ENTRY_SCHEMA = pa.schema(list(DIGEST_ENTRIES.schema) + list(ENTRY_EXTRA))
# Entries that failed validation: with the rule they broke and why.
FAILED_SCHEMA = pa.schema([*ENTRY_SCHEMA, ("_rule", pa.string()), ("_message", pa.string())])

# A file modified this recently may still be being written: it is not recorded, so the next
# run reads (and hashes) it again instead of trusting its size and time.
SETTLE = timedelta(seconds=2)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class ParsedBatch:
    """A batch of files read and parsed: its digests, entries, rejects and counts."""

    digests: pa.Table
    entries: pa.Table  # valid digest_entries rows, plus _raw and _source
    rejects: list[dict[str, Any]] = field(default_factory=list)
    bad_entries: pa.Table = field(default_factory=lambda: FAILED_SCHEMA.empty_table())
    seen: pa.Table = field(default_factory=SEEN_FILES.empty)
    problems: list[FileProblem] = field(default_factory=list)
    files_new: int = 0
    files_skipped: int = 0
    files_rejected: int = 0
    files_waiting: int = 0  # still being written: left for the next run
    entries_seen: int = 0


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
        if pool is not None and pool.worth_it(len(todo))
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
    # A file whose content did not load (binary, not a digest) is read again by every run.
    batch.seen = pa.Table.from_pylist(
        [f for f in settled if f["digest_id"] in loaded or f["digest_id"] in known],
        schema=SEEN_FILES.schema,
    )
    return batch


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
    if read and limits.quiet_seconds > 0:
        youngest = min(time.time() - info.st_mtime for _, _, info in read)
        time.sleep(min(max(0.0, limits.quiet_seconds - youngest), limits.quiet_seconds))
    settled = []
    for path, data, info in read:
        if (late := still_written(path, info, data)) is not None:
            batch.problems.append(FileProblem(str(path), late))
            batch.files_waiting += 1
        else:
            settled.append((path, data, info))
    return settled


def _read(path: Source, limits: Limits) -> tuple[bytes, os.stat_result] | Problem:
    """A file's bytes and the stat taken before reading them (a file changed in between is
    read again by the next run), or why it cannot be read."""
    try:
        info = path.stat()
        if info.st_size > limits.max_bytes:
            return too_large(info.st_size, limits)
        return path.read_bytes(), info
    except OSError as exc:
        return Problem("unreadable", f"cannot read: {exc.strerror or exc}; fix and re-run")


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
    """The file's `seen_files` row, if it was last modified long enough ago to trust."""
    modified = EPOCH + timedelta(microseconds=info.st_mtime_ns // 1000)
    if modified >= now - SETTLE:
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


def parse_files(
    files: list[NewFile], run_id: str, now: datetime, limits: Limits = DEFAULT_LIMITS
) -> ParsedBatch:
    """Parse files already read, hashed and known to be new. Pure: runs in a worker process."""
    digests: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    pieces: list[pa.Table] = []
    batch = ParsedBatch(DIGESTS.empty(), ENTRY_SCHEMA.empty_table())
    for path, digest_id, data in files:
        source = str(path)
        parsed = parse_digest(data, limits)
        batch.problems += [FileProblem(source, problem) for problem in parsed.problems]
        where = Where("parse" if parsed.readable else "read", run_id, now)
        batch.rejects += problem_rejects(where, source, parsed.problems, digest_id)
        if not parsed.readable:
            batch.files_rejected += 1
            continue
        batch.files_new += 1
        batch.entries_seen += parsed.rows_seen
        digests.append(_digest_row(path, digest_id, len(data), parsed, run_id, now))
        for entry in parsed.entries:
            entry["digest_id"] = digest_id
            entry["_source"] = source
        entries += parsed.entries
        if len(entries) >= ARROW_ROWS:
            pieces.append(pa.Table.from_pylist(entries, schema=ENTRY_SCHEMA))
            entries = []
    pieces.append(pa.Table.from_pylist(entries, schema=ENTRY_SCHEMA))
    batch.digests = pa.Table.from_pylist(digests, schema=DIGESTS.schema)
    batch.entries, failed = validate(DIGEST_ENTRIES, pa.concat_tables(pieces))
    batch.bad_entries = _with_blocks(failed, files, limits).cast(FAILED_SCHEMA)
    return batch


# Entries are turned into Arrow a few thousand at a time: as dicts, each holds its text and
# its detail block, several times what the Arrow rows take.
ARROW_ROWS = 2000


def _with_blocks(failed: pa.Table, files: list[NewFile], limits: Limits) -> pa.Table:
    """Failed entries whose raw text is their table row followed by their detail block, for
    `rejects replay`. Their files are parsed again for the blocks: failures are rare, and
    keeping every entry's block until its batch was validated cost memory and time."""
    if not failed.num_rows:
        return failed
    sources = set(failed.column("_source").to_pylist())
    raws: dict[tuple[str, int], str] = {}
    for path, _, data in files:
        if str(path) in sources:
            for entry in parse_digest(data, limits).entries:
                raws[(str(path), entry["line"])] = raw_with_detail(entry)
    rows = failed.select(["_source", "line", "_raw"]).to_pylist()
    # A file that fails to parse the second time (its time budget) keeps the row alone.
    with_blocks = [raws.get((r["_source"], r["line"]), r["_raw"]) for r in rows]
    at = failed.schema.get_field_index("_raw")
    return failed.set_column(at, "_raw", pa.array(with_blocks, pa.string()))


def _digest_row(
    path: Source, digest_id: str, size: int, parsed: ParsedDigest, run_id: str, now: datetime
) -> dict[str, Any]:
    digest_date, category = path_facts(path)
    layouts = parsed.layouts
    return {
        "digest_id": digest_id,
        "source_path": str(path),
        "file_name": path.name,
        "size_bytes": size,
        "encoding": parsed.encoding,
        "entry_count": parsed.rows_seen,
        **{f"layout_{name}": layouts[name] for name in LAYOUTS},
        "digest_date": digest_date,
        "category": category,
        "ingested_at": now,
        "run_id": run_id,
    }


def merge(batches: list[ParsedBatch]) -> ParsedBatch:
    """Several parsed batches as one (for the slices a pool parsed apart)."""
    return ParsedBatch(
        digests=pa.concat_tables([b.digests for b in batches]),
        entries=pa.concat_tables([b.entries for b in batches]),
        bad_entries=pa.concat_tables([b.bad_entries for b in batches]),
        rejects=[r for b in batches for r in b.rejects],
        problems=[p for b in batches for p in b.problems],
        files_new=sum(b.files_new for b in batches),
        files_skipped=sum(b.files_skipped for b in batches),
        files_rejected=sum(b.files_rejected for b in batches),
        files_waiting=sum(b.files_waiting for b in batches),
        entries_seen=sum(b.entries_seen for b in batches),
    )


@dataclass
class ValidBatch:
    """A batch after validation: the rows to load and every reject, parse and validation alike."""

    digests: pa.Table
    entries: pa.Table
    rejects: pa.Table
    entries_rejected: int
    seen: pa.Table = field(default_factory=SEEN_FILES.empty)


def validate_batch(batch: ParsedBatch, run_id: str, now: datetime) -> ValidBatch:
    """Check the digests against their declaration; every failure (the entries were checked
    where they were parsed) becomes a reject."""
    digests, bad_digests = validate(DIGESTS, batch.digests)
    entries, bad_entries = batch.entries, batch.bad_entries  # validated where parsed
    where = Where("validate", run_id, now)
    rejects = [
        *batch.rejects,
        *failure_rejects(where, bad_digests, source="source_path", digest="digest_id"),
        *failure_rejects(
            where, bad_entries, source="_source", digest="digest_id", line="line", raw="_raw"
        ),
    ]
    parse_rejected = sum(1 for r in batch.rejects if r["rule"] in ROW_RULES)
    return ValidBatch(
        digests=digests,
        entries=entries.drop_columns([c.name for c in ENTRY_EXTRA]),
        rejects=pa.Table.from_pylist(rejects, schema=REJECTS.schema),
        entries_rejected=parse_rejected + bad_entries.num_rows,
        # A row that fails loses nothing: its file is only read again by the next run.
        seen=validate(SEEN_FILES, batch.seen)[0],
    )
