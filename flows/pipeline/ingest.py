"""The ingest flow: discover -> parse -> validate -> load, in batches of files, then queue and
commit; then enrich and commit. Tasks are thin wrappers over `flows.digests.read`,
`flows.enrichment.queue` and `flows.enrichment.enrich`; each works on a batch of files, so the
number of task runs grows with files / batch size, never with rows.

A run is two lake transactions: its load (every table it adds rows to, its `runs` row
included) and its enrich stage (papers, queue outcomes, the `runs` row's figures). A reader
sees each whole or not at all; a run killed at any moment leaves nothing of an uncommitted
stage visible, and the next run loads or asks for it again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common.spill import Spill, run_folder
from flows.digests.discover import Source
from flows.digests.families import crawl_note
from flows.digests.guard import Limits
from flows.digests.history import is_git
from flows.digests.parsed import ParsedBatch, ValidBatch, validate_batch
from flows.digests.pool import ParsePool
from flows.digests.read import UNREADABLE, read_batch
from flows.digests.rejects import name_rejects, unknown, validation_problems
from flows.digests.text import FileProblem
from flows.enrichment.queue import SIGHTINGS, newest_versions, queue_spilled
from flows.pipeline.distributed import IN_FLIGHT, LOCAL_AHEAD, drop_known, in_order
from flows.pipeline.enriching import enrich_stage
from flows.pipeline.run_stats import RunStats
from flows.pipeline.shell import SHELL, report_progress, result_of, run_lake, say
from flows.pipeline.sources import file_batches, find_inputs, places, positions_table
from flows.pipeline.stages import committed
from flows.settings import Settings
from schemas.tables import DIGEST_BYTES, DIGEST_ENTRIES, DIGESTS, GIT_SOURCES, REJECTS, SEEN_FILES
from warehouse.index import index_entries
from warehouse.lake import Lake
from warehouse.location import is_remote
from warehouse.queue import pending_count
from warehouse.writes import date_undated, record_positions, resolve_read_rejects

K = TypeVar("K")


class IdSet(Generic[K]):
    """A set handed to tasks opaquely: Prefect walks list/set/dict/dataclass task inputs looking
    for futures, which would cost a pass over every known id per task."""

    __slots__ = ("ids",)

    def __init__(self, ids: set[K]):
        self.ids = ids


@task(name="read-parse-check-entries", cache_policy=NO_CACHE)
def read_task(
    paths: list[Source],
    known: IdSet[str],
    run_id: str,
    now: datetime,
    pool: ParsePool | None,
    limits: Limits,
) -> ParsedBatch:
    """Read one batch of files, parse the new ones and check their entries against
    `digest_entries` as they are parsed (see `read_batch`)."""
    return read_batch(paths, known.ids, run_id, now, pool, limits)


@task(name="check-digests", cache_policy=NO_CACHE)
def check_digests_task(batch: ParsedBatch, run_id: str, now: datetime) -> ValidBatch:
    """Check a parsed batch's digests against their declaration, and gather every reject of
    the batch (read, parse, and entries that failed their checks)."""
    return validate_batch(batch, run_id, now)


@task(name="load", cache_policy=NO_CACHE)
def load_task(lake: Lake, valid: ValidBatch, known_rejects: IdSet[str]) -> int:
    """Write a batch's entries, its digests' bytes and its rejects into the run's transaction;
    returns the number of new rejects written. Rejects already in the warehouse (the same bad
    input seen by an earlier run) are not written again. The batch's `digests` rows are written
    once per run (see `_ingest`)."""
    rejects = unknown(valid.rejects, known_rejects.ids)
    lake.insert(DIGEST_ENTRIES, valid.entries)
    index_entries(lake, valid.entries)
    lake.insert(DIGEST_BYTES, valid.raw)
    lake.insert(REJECTS, rejects)
    return int(rejects.num_rows)


@task(name="queue-ids", cache_policy=NO_CACHE)
def queue_task(lake: Lake, sightings: Spill) -> int:
    """Every arxiv_id the run loaded gets its `enrichment` row; returns the pending count."""
    queue_spilled(lake, sightings)
    return pending_count(lake)


@flow(name="ingest-digests", log_prints=False)
def ingest_flow(
    paths: list[str] | None = None,
    warehouse: str | None = None,
    enrich: bool = True,
    digest_date: str | None = None,
) -> dict[str, Any]:
    """Load digest files (default: the inbox) into the warehouse. Safe to re-run.
    `digest_date` (YYYY-MM-DD) dates the digests read from `paths` whose path names none."""
    settings = Settings()
    inputs = [p if is_remote(p) or is_git(p) else Path(p) for p in (paths or [settings.inbox])]
    with run_lake(settings, warehouse, "ingest") as (lake, stats):

        def forget() -> None:
            stats.entries_loaded = stats.rejects = 0
            stats.rejects_by_rule.clear()

        def load() -> None:
            _ingest(lake, inputs, stats, settings)
            if digest_date is not None:
                day = date.fromisoformat(digest_date)
                dated = date_undated(lake, places(inputs), day)
                say(stats, f"{dated} digest(s) with no date in their path dated {digest_date}")

        if enrich:  # the run is not over at the load's commit: says so until enrich commits
            stats.status = "running"
        committed(lake, stats, "load", load, settings, SHELL, forget)
        if enrich:
            stats.status = "ok"
            enrich_stage(lake, stats, settings)
    get_run_logger().info(
        "run %s: %d file(s) new, %d skipped, %d rejected; %d entries loaded, %d rejects",
        stats.run_id,
        stats.files_new,
        stats.files_skipped,
        stats.files_rejected,
        stats.entries_loaded,
        stats.rejects,
    )
    return result_of(stats)


def _ingest(lake: Lake, inputs: list[Path | str], stats: RunStats, settings: Settings) -> None:
    started = time.perf_counter()
    known = set(lake.read(DIGESTS, ["digest_id"]).column("digest_id").to_pylist())
    seen = lake.read(SEEN_FILES, list(SEEN_FILES.key))
    known_rejects = set(lake.read(REJECTS, ["reject_id"]).column("reject_id").to_pylist())
    files, stats.files_skipped, missing, walked = find_inputs(
        inputs, seen, lake.read(GIT_SOURCES), settings, stats.run_id
    )
    for line in walked.lines + ([crawl_note(walked.crawl_only)] if walked.crawl_only else []):
        say(stats, line)
    stats.note([str(p) for p in missing])
    _reject_names(lake, missing, stats, known_rejects)
    stats.files_seen = len(files) + stats.files_skipped + stats.files_rejected
    stats.discover_seconds = time.perf_counter() - started

    # Each batch's IDs with their newest version (what the enrichment queue needs of the run)
    # and its `digests` and `seen_files` rows (a few hundred bytes a file), spilled to a local
    # file as the run goes: the run's entries are never read back, and nothing the run gathers
    # stays in memory. The rows are written once at the end, not once per batch: a backfill's
    # 200 tiny files would cost every later run.
    with run_folder() as folder:
        sightings = Spill(SIGHTINGS.schema, folder)
        gathered = {table: Spill(table.schema, folder) for table in (DIGESTS, SEEN_FILES)}
        unread: set[str] = set()  # versions of a history that could not be read
        with ParsePool(settings.parse_workers, settings.limits()) as pool:
            for done, parsed in _parsed(files, known, stats, settings, pool):
                unread.update(p.path for p in parsed.problems if p.problem.rule == UNREADABLE)
                batch_sightings, batch_digests, batch_seen = _load_batch(
                    lake, parsed, known, known_rejects, stats
                )
                sightings.append(batch_sightings)
                gathered[DIGESTS].append(batch_digests)
                gathered[SEEN_FILES].append(batch_seen)
                report_progress(done, len(files))
        started = time.perf_counter()
        for table, spill in gathered.items():
            if spill.rows:
                lake.insert(table, spill.reader())
        for line in walked.hold_back(unread):
            say(stats, line)
        record_positions(lake, positions_table(walked))
        read_now = [str(v) for v in walked.versions if str(v) not in unread]
        resolve_read_rejects(lake, read_now, stats.run_id)
        stats.papers_pending = queue_task(lake, sightings)
        stats.load_seconds += time.perf_counter() - started


def _reject_names(
    lake: Lake, problems: list[FileProblem], stats: RunStats, known_rejects: set[str]
) -> None:
    """Files whose names cannot be recorded become rejects; the others load as usual."""
    rows = name_rejects(problems, stats.run_id, datetime.now(UTC))
    named = pa.Table.from_pylist(rows, schema=REJECTS.schema)
    new = unknown(named, known_rejects)
    lake.insert(REJECTS, new)
    stats.files_rejected += named.num_rows
    stats.rejects += new.num_rows
    stats.rejects_by_rule.update(named.column("rule").to_pylist())
    known_rejects.update(named.column("reject_id").to_pylist())


def _parsed(
    files: list[Source], known: set[str], stats: RunStats, settings: Settings, pool: ParsePool
) -> Iterator[tuple[int, ParsedBatch]]:
    """Each batch of `files` parsed, in order, with the number of files up to its end: here
    (the pool's processes), or on the flow's Dask cluster when the settings name one."""
    chunks = file_batches(files, settings.batch_files, settings.batch_bytes)
    started = time.perf_counter()
    # On a Dask cluster the workers read the files; here the pool's processes do.
    local = None if settings.dask_address else pool
    ahead = IN_FLIGHT if settings.dask_address else LOCAL_AHEAD

    def submit(chunk: list[Source]) -> Any:
        snapshot = IdSet(set(known))  # batches in flight do not see each other's ids
        now = datetime.now(UTC)
        return read_task.submit(chunk, snapshot, stats.run_id, now, local, pool.limits)

    batches = ((n, drop_known(b, known)) for n, b in in_order(submit, chunks, ahead))
    for done, parsed in batches:
        stats.parse_seconds += time.perf_counter() - started
        known.update(parsed.digests.column("digest_id").to_pylist())  # later batches skip them
        yield done, parsed
        started = time.perf_counter()


def _load_batch(
    lake: Lake,
    parsed: ParsedBatch,
    known: set[str],
    known_rejects: set[str],
    stats: RunStats,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """One parsed batch through validate and load, each a task. Returns the batch's
    sightings (arxiv_id, newest arxiv_version) for the enrichment queue, and its `digests`
    and `seen_files` rows."""
    now = datetime.now(UTC)
    t1 = time.perf_counter()
    valid = check_digests_task(parsed, stats.run_id, now)
    t2 = time.perf_counter()
    written = load_task(lake, valid, IdSet(known_rejects))
    t3 = time.perf_counter()
    stats.validate_seconds += t2 - t1
    stats.load_seconds += t3 - t2
    known_rejects.update(valid.rejects.column("reject_id").to_pylist())
    stats.files_new += parsed.files_new
    stats.files_skipped += parsed.files_skipped
    stats.files_rejected += parsed.files_rejected
    stats.files_waiting += parsed.files_waiting
    stats.entries_seen += parsed.entries_seen
    stats.entries_loaded += valid.entries.num_rows
    stats.entries_rejected += valid.entries_rejected
    stats.rejects += written
    stats.rejects_by_rule.update(valid.rejects.column("rule").to_pylist())
    stats.note([str(p) for p in parsed.problems])
    stats.note(validation_problems(valid.rejects))
    sightings = newest_versions(valid.entries.select(SIGHTINGS.column_names))
    digests = valid.digests.select(DIGESTS.column_names).cast(DIGESTS.schema)
    seen = valid.seen
    del parsed, valid
    # Hand the batch's freed Arrow memory back to the OS: the allocator would otherwise keep
    # it cached, and the run's peak would grow with the number of batches.
    pa.default_memory_pool().release_unused()
    sightings = sightings.rename_columns(SIGHTINGS.column_names).cast(SIGHTINGS.schema)
    return sightings, digests, seen
