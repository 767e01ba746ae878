"""The enrichment queue's rules, in Arrow: which IDs a run adds or queues again, what the API's
answers change, and which IDs are due. Pure functions over pieces of the queue, so that the
enrich stage can stream the queue from its old file into its new one without holding it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from flows.settings import Settings
from schemas.tables import ENRICHMENT

# Rows of the queue read at a time when it is rewritten: about 3 MB of Arrow.
QUEUE_PIECE_ROWS = 64 * 1024
BUCKET_ABOVE = 100_000  # sightings in a run above which the queue update works in buckets
# What queue_buckets takes: a run's entries' IDs and versions, an ID possibly many times.
SIGHTINGS = pa.schema([("arxiv_id", pa.string()), ("arxiv_version", pa.int32())]).empty_table()


def _bucket(ids: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    # The ID's last character: a digit, spread evenly over the IDs (new and old style).
    return pc.utf8_slice_codeunits(ids, start=-1)


def newest_versions(sightings: pa.Table) -> pa.Table:
    """(arxiv_id, arxiv_version) rows, an ID possibly many times -> (arxiv_id, _wanted): one
    row per ID with the newest version announced, null when no row gave one. By sorting, not
    grouping: Arrow's hash aggregation holds about 130 MB for a million IDs, the sort 20 MB."""
    order = pc.sort_indices(
        sightings, sort_keys=[("arxiv_id", "ascending"), ("arxiv_version", "descending")]
    )  # nulls sort last: each ID's first row has its highest version
    ids = pc.take(sightings.column("arxiv_id"), order)
    versions = pc.take(sightings.column("arxiv_version"), order)
    if len(ids) == 0:
        return pa.table({"arxiv_id": ids, "_wanted": versions})
    changes = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    first = pa.concat_arrays([pa.array([True]), *pa.chunked_array(changes).chunks])
    return pa.table({"arxiv_id": ids.filter(first), "_wanted": versions.filter(first)})


def queue_buckets(
    queue: Iterable[pa.Table], sightings: pa.Table, bucket_above: int = BUCKET_ABOVE
) -> Iterator[tuple[pa.Table, bool]]:
    """The queue, given in pieces, updated for a run's `sightings` (its (arxiv_id,
    arxiv_version) rows): every new arxiv_id is added as pending, and enriched papers for
    which a digest announced a newer version than the one fetched are queued again. Yields
    the new queue in pieces, each (rows, changed).

    The queue holds every paper ever seen, `sightings` one run's. Every hash table is built
    over the run's IDs, never over the whole queue. A daily run goes through the queue a
    piece at a time. A big run (a backfill) is split into ten buckets by the ID's last digit,
    after the rows it leaves untouched, so that it never sorts or hashes a million keys at
    once. Either way the caller writes each piece as it comes: memory stays flat."""
    if sightings.num_rows == 0:
        yield from ((piece, False) for piece in queue)
    elif sightings.num_rows <= bucket_above:  # a daily run: its hash tables are small anyway
        yield from _update_pieces(queue, newest_versions(sightings))
    else:
        whole = pa.concat_tables([ENRICHMENT.empty(), *queue])
        seen_keys = _bucket(sightings.column("arxiv_id"))
        queue_keys = _bucket(whole.column("arxiv_id"))
        keys = pc.unique(seen_keys)
        yield whole.filter(pc.invert(pc.is_in(queue_keys, value_set=keys))), False
        for key in keys.to_pylist():
            yield from _update_pieces(
                [whole.filter(pc.equal(queue_keys, key))],
                newest_versions(sightings.filter(pc.equal(seen_keys, key))),
            )


def _update_pieces(queue: Iterable[pa.Table], wanted: pa.Table) -> Iterator[tuple[pa.Table, bool]]:
    """Each piece of the queue with the rows of `wanted`'s IDs updated, then `wanted`'s new
    IDs as pending rows."""
    known: list[pa.Array] = []
    for piece in queue:
        rows, changed, touched = _update_known(piece, wanted)
        known.append(touched)
        yield rows, changed
    ids = wanted.column("arxiv_id")
    new = wanted.filter(pc.invert(pc.is_in(ids, value_set=pa.chunked_array(known, pa.string()))))
    n = new.num_rows
    rows = pa.table(
        {
            "arxiv_id": new.column("arxiv_id"),
            "state": pa.nulls(n, pa.string()).fill_null("pending"),
            "attempts": pa.nulls(n, pa.int32()).fill_null(0),
            "wanted_version": new.column("_wanted"),
            "enriched_version": pa.nulls(n, pa.int32()),
            "last_error": pa.nulls(n, pa.string()),
            "last_attempt_at": pa.nulls(n, ENRICHMENT.schema.field("last_attempt_at").type),
            "next_attempt_at": pa.nulls(n, ENRICHMENT.schema.field("next_attempt_at").type),
        }
    )
    yield rows.cast(ENRICHMENT.schema), n > 0


def _update_known(queue: pa.Table, wanted: pa.Table) -> tuple[pa.Table, bool, pa.Array]:
    """A piece of the queue with its rows of `wanted`'s IDs updated -> (rows, changed, the IDs
    of `wanted` it holds)."""
    if queue.num_rows == 0:  # a first backfill: no hash table over its IDs at all
        return queue, False, pa.array([], pa.string())
    is_touched = pc.is_in(queue.column("arxiv_id"), value_set=wanted.column("arxiv_id"))
    touched = queue.filter(is_touched)
    ids = touched.column("arxiv_id").combine_chunks()
    if not touched.num_rows:  # kept as it is: no copy of a piece where nothing changes
        return queue, False, ids
    joined = touched.join(wanted, "arxiv_id", join_type="left outer")
    want, had = joined.column("_wanted"), joined.column("wanted_version")
    bigger = pc.fill_null(pc.greater(want, pc.fill_null(had, 0)), False)
    refresh = pc.fill_null(
        pc.and_(
            pc.equal(joined.column("state"), "enriched"),
            pc.greater(want, joined.column("enriched_version")),
        ),
        False,
    )
    changed = bool(pc.any(bigger).as_py() or pc.any(refresh).as_py())
    no_time = pa.nulls(joined.num_rows, ENRICHMENT.schema.field("next_attempt_at").type)
    updated = {
        "wanted_version": pc.if_else(bigger, want, had),
        "state": pc.if_else(refresh, "pending", joined.column("state")),
        "next_attempt_at": pc.if_else(refresh, no_time, joined.column("next_attempt_at")),
    }
    for name, values in updated.items():
        joined = joined.set_column(joined.schema.get_field_index(name), name, values)
    rows = [queue.filter(pc.invert(is_touched)), joined.select(ENRICHMENT.column_names)]
    return pa.concat_tables([r.cast(ENRICHMENT.schema) for r in rows]), changed, ids


def answers_table(outcome: dict[str, tuple[str, str | None]], fetched: dict[str, int]) -> pa.Table:
    """What the API said of the IDs it was asked about, and the version now held of each
    paper fetched: for `apply_outcomes`."""
    return pa.table(
        {
            "arxiv_id": pa.array(list(outcome), pa.string()),
            "_state": pa.array([s for s, _ in outcome.values()], pa.string()),
            "_error": pa.array([e for _, e in outcome.values()], pa.string()),
            "_version": pa.array([fetched.get(i) for i in outcome], pa.int32()),
        }
    )


def apply_outcomes(
    queue: pa.Table, answers: pa.Table, now: datetime, retry_at: datetime
) -> pa.Table:
    """Record the API's `answers` (a few IDs, in a big queue) in a piece of the queue."""
    ts = ENRICHMENT.schema.field("last_attempt_at").type
    joined = queue.join(answers, "arxiv_id", join_type="left outer")
    asked = pc.is_valid(joined.column("_state"))
    pending = pc.equal(joined.column("_state"), "pending")
    columns = {
        "state": pc.if_else(asked, joined.column("_state"), joined.column("state")),
        "attempts": pc.if_else(
            asked,
            pc.add(joined.column("attempts"), pa.scalar(1, pa.int32())),
            joined.column("attempts"),
        ),
        # A failed refresh keeps the version still held.
        "enriched_version": pc.coalesce(
            joined.column("_version"), joined.column("enriched_version")
        ),
        "last_error": pc.if_else(asked, joined.column("_error"), joined.column("last_error")),
        "last_attempt_at": pc.if_else(asked, pa.scalar(now, ts), joined.column("last_attempt_at")),
        "next_attempt_at": pc.if_else(
            asked,
            pc.if_else(pending, pa.scalar(retry_at, ts), pa.scalar(None, ts)),
            joined.column("next_attempt_at"),
        ),
    }
    for name, values in columns.items():
        joined = joined.set_column(joined.schema.get_field_index(name), name, values)
    return joined.select(ENRICHMENT.column_names).cast(ENRICHMENT.schema)


def _earliest_due(ids: pa.ChunkedArray | pa.Array, settings: Settings) -> pa.Array:
    """The due IDs this run can ask for, in order: no more than the time budget lets the
    limiter send, so a backlog of a million papers is never sorted into Python strings."""
    requests = settings.arxiv_max_seconds / max(settings.arxiv_delay_seconds, 1e-3) + 1
    most = min(len(ids), int(requests) * settings.arxiv_batch_size)
    taken = pc.take(ids, pc.sort_indices(ids)[:most])
    return taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken


def due_ids(ids: pa.ChunkedArray | pa.Array, settings: Settings) -> list[str]:
    return _earliest_due(ids, settings).to_pylist()


class QueueTally:
    """Counts the pending rows of a queue, and (for a run that calls the API) gathers its due
    IDs, piece by piece as the queue goes by."""

    def __init__(self, now: datetime, settings: Settings, call_api: bool):
        self.not_before = pa.scalar(now, ENRICHMENT.schema.field("next_attempt_at").type)
        self.settings, self.call_api = settings, call_api
        self.pending = 0
        self._due = pa.array([], pa.string())

    @property
    def due(self) -> list[str]:
        return self._due.to_pylist()

    def add(self, queue: pa.Table) -> pa.Table:
        pending = pc.equal(queue.column("state"), "pending")
        self.pending += pc.sum(pending).as_py() or 0
        if self.call_api:
            waited = pc.fill_null(
                pc.less_equal(queue.column("next_attempt_at"), self.not_before), True
            )
            ids = queue.filter(pc.and_(pending, waited)).column("arxiv_id")
            # The earliest due so far and this piece's, kept in Arrow: the cap bounds both.
            more = pa.chunked_array([self._due, *ids.chunks], pa.string())
            self._due = _earliest_due(more, self.settings)
        return queue
