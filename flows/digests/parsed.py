"""Parsing files already read, as Arrow batches: a batch's digests, entries (validated as they
are parsed) and rejects, and the batch validated whole. Pure functions: `flows.digests.pool`
runs `parse_files` in worker processes, `flows.pipeline` wraps the rest in Prefect tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from flows.digests.details import raw_with_detail
from flows.digests.discover import Source
from flows.digests.families import ROW_RULES, Family, family_of
from flows.digests.guard import Limits
from flows.digests.names import digest_facts
from flows.digests.parse import ParsedDigest
from flows.digests.rejects import Where, failure_rejects, problem_rejects
from flows.digests.text import FileProblem
from schemas.columns import LAYOUTS
from schemas.tables import DIGEST_BYTES, DIGEST_ENTRIES, DIGESTS, REJECTS, SEEN_FILES
from schemas.validate import validate

DEFAULT_LIMITS = Limits()
NewFile = tuple[Source, str, bytes]  # path, digest id (sha256 of the bytes), the bytes

ENTRY_EXTRA = pa.schema([("_raw", pa.string()), ("_source", pa.string())])

ENTRY_SCHEMA = pa.schema(list(DIGEST_ENTRIES.schema) + list(ENTRY_EXTRA))
# Entries that failed validation: with the rule they broke and why.
FAILED_SCHEMA = pa.schema([*ENTRY_SCHEMA, ("_rule", pa.string()), ("_message", pa.string())])


@dataclass
class ParsedBatch:
    """A batch of files read and parsed: its digests, entries, rejects and counts."""

    digests: pa.Table
    entries: pa.Table  # valid digest_entries rows, plus _raw and _source
    rejects: list[dict[str, Any]] = field(default_factory=list)
    bad_entries: pa.Table = field(default_factory=lambda: FAILED_SCHEMA.empty_table())
    seen: pa.Table = field(default_factory=SEEN_FILES.empty)
    raw: pa.Table = field(default_factory=DIGEST_BYTES.empty)  # the loaded digests' bytes
    problems: list[FileProblem] = field(default_factory=list)
    files_new: int = 0
    files_skipped: int = 0
    files_rejected: int = 0
    files_waiting: int = 0  # still being written: left for the next run
    entries_seen: int = 0


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
        family = family_of(path.name, data)
        parsed = family.parse(path.name, data, limits)
        batch.problems += [FileProblem(source, problem) for problem in parsed.problems]
        where = Where("parse" if parsed.readable else "read", run_id, now)
        batch.rejects += problem_rejects(where, source, parsed.problems, digest_id)
        if not parsed.readable:
            batch.files_rejected += 1
            continue
        batch.files_new += 1
        batch.entries_seen += parsed.rows_seen
        digests.append(_digest_row(path, digest_id, len(data), parsed, family, run_id, now))
        for entry in parsed.entries:
            entry["digest_id"] = digest_id
            entry["_source"] = source
        entries += parsed.entries
        if len(entries) >= ARROW_ROWS:
            pieces.append(_entries_table(entries))
            entries = []
    pieces.append(_entries_table(entries))
    batch.digests = pa.Table.from_pylist(digests, schema=DIGESTS.schema)
    batch.entries, failed = validate(DIGEST_ENTRIES, pa.concat_tables(pieces))
    batch.bad_entries = _with_blocks(failed, files, limits).cast(FAILED_SCHEMA)
    return batch


# Entries are turned into Arrow a few thousand at a time: as dicts, each holds its text and
# its detail block, several times what the Arrow rows take.
ARROW_ROWS = 2000


def _entries_table(entries: list[dict[str, Any]]) -> pa.Table:
    """Entries as Arrow, a column at a time: a list per column is converted in one call,
    where `from_pylist` looks every key up in every dict (2.8x slower on the second family's
    entries, whose maps and lists it converts row by row; 1.4x on the first's)."""
    columns = {name: [e.get(name) for e in entries] for name in ENTRY_SCHEMA.names}
    return pa.Table.from_pydict(columns, schema=ENTRY_SCHEMA)


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
            for entry in family_of(path.name, data).parse(path.name, data, limits).entries:
                raws[(str(path), entry["line"])] = raw_with_detail(entry)
    rows = failed.select(["_source", "line", "_raw"]).to_pylist()
    # A file that fails to parse the second time (its time budget) keeps the row alone.
    with_blocks = [raws.get((r["_source"], r["line"]), r["_raw"]) for r in rows]
    at = failed.schema.get_field_index("_raw")
    return failed.set_column(at, "_raw", pa.array(with_blocks, pa.string()))


def _digest_row(
    path: Source,
    digest_id: str,
    size: int,
    parsed: ParsedDigest,
    family: Family,
    run_id: str,
    now: datetime,
) -> dict[str, Any]:
    digest_date, date_source, category = digest_facts(path, family.dated_by_name)
    layouts = parsed.layouts
    return {
        "digest_id": digest_id,
        "source_path": str(path),
        "file_name": path.name,
        "size_bytes": size,
        "encoding": parsed.encoding,
        "entry_count": parsed.rows_seen,
        **{f"layout_{name}": layouts[name] for name in LAYOUTS},
        "generator": family.generator,
        "digest_date": digest_date,
        "date_source": date_source,
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
        raw=pa.concat_tables([b.raw for b in batches]),
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
    raw: pa.Table = field(default_factory=DIGEST_BYTES.empty)


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
        raw=_of(batch.raw, digests),
    )


def _of(raw: pa.Table, digests: pa.Table) -> pa.Table:
    """The bytes of the digests that load (their rows passed their checks)."""
    if raw.num_rows == digests.num_rows:
        return raw
    loaded = set(digests.column("digest_id").to_pylist())
    keep = [i for i, d in enumerate(raw.column("digest_id").to_pylist()) if d in loaded]
    return raw.take(pa.array(keep, pa.int64()))
