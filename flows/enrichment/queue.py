"""The enrichment queue's policy: which IDs a run adds or queues again (the newest version each
ID was announced at, in partitions of bounded memory), what the API's answers change, and how
many IDs a run may ask for. The statements are `warehouse.queue`'s; every function takes the
writer's lake inside the run's transaction."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc

from flows.common.spill import Spill, run_folder
from warehouse import queue as statements
from warehouse.lake import Lake

# What `add_sightings` takes: a run's entries' IDs and versions, an ID possibly many times.
SIGHTINGS = pa.schema([("arxiv_id", pa.string()), ("arxiv_version", pa.int32())]).empty_table()


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


# The sightings one partition of the queue step holds: its memory, whatever the run's size.
PART_ROWS = 100_000
_WANTED = pa.schema([("arxiv_id", pa.string()), ("_wanted", pa.int32())])
_ENDINGS = pa.array([f"{n:02d}" for n in range(100)])  # an ID's last two digits


def _partitions(sightings: Spill, parts: int) -> list[Spill]:
    """`sightings` split into `parts` spills of disjoint IDs, in one pass, by the IDs' last two
    digits (uniform over arXiv's numbers; an ID that does not end in two digits goes to the
    first)."""
    if parts == 1:
        return [sightings]
    folder = sightings.path.parent
    spills = [Spill(sightings.schema, folder) for _ in range(parts)]
    part_of = pa.array([n % parts for n in range(len(_ENDINGS))], pa.int32())
    for batch in sightings.batches():
        ending = pc.utf8_slice_codeunits(batch.column("arxiv_id"), -2)
        part = pc.take(part_of, pc.fill_null(pc.index_in(ending, value_set=_ENDINGS), 0))
        for number, spill in enumerate(spills):
            spill.append(pa.Table.from_batches([batch.filter(pc.equal(part, number))]))
    return spills


def queue_spilled(lake: Lake, sightings: Spill, part_rows: int = PART_ROWS) -> int:
    """Queue the IDs of a run's `sightings`, a partition of IDs at a time; returns the number
    of queue rows added or changed (0: the queue is unchanged, no row of it is rewritten).
    Each partition is split into IDs the queue does not hold (inserted) and IDs it holds
    whose row the rule changes (merged); held IDs it leaves as they are go nowhere.
    In a backfill almost all are new, and in a re-load almost none change: the MERGE stays
    small. Every split is made before the first write, against the queue as the run found
    it; partitions hold disjoint IDs, so no ID is split twice."""
    parts = min(len(_ENDINGS), max(1, math.ceil(sightings.rows / part_rows)))
    new, known = Spill(_WANTED, sightings.path.parent), Spill(_WANTED, sightings.path.parent)
    for part in _partitions(sightings, parts):
        wanted = newest_versions(pa.Table.from_batches(part.batches(), part.schema))
        unheld, changing = statements.split(lake, wanted)
        new.append(unheld)
        known.append(changing)
        del wanted, unheld, changing
        pa.default_memory_pool().release_unused()
    changed = 0
    for batch in new.batches():  # a statement each: DuckDB holds a statement's input to its end
        changed += statements.insert_new(lake, pa.Table.from_batches([batch]))
    return changed + (statements.merge_changed(lake, known.reader()) if known.rows else 0)


def add_sightings(lake: Lake, sightings: pa.Table, part_rows: int = PART_ROWS) -> int:
    """`queue_spilled` for sightings already in memory (a replay's few moved rows)."""
    with run_folder() as folder:
        spill = Spill(SIGHTINGS.schema, folder)
        spill.append(sightings)
        return queue_spilled(lake, spill, part_rows)


def answers_table(outcome: dict[str, tuple[str, str | None]], fetched: dict[str, int]) -> pa.Table:
    """What the API said of the IDs it was asked about, and the version now held of each
    paper fetched: for `record_answers`."""
    return pa.table(
        {
            "arxiv_id": pa.array(list(outcome), pa.string()),
            "_state": pa.array([s for s, _ in outcome.values()], pa.string()),
            "_error": pa.array([e for _, e in outcome.values()], pa.string()),
            "_version": pa.array([fetched.get(i) for i in outcome], pa.int32()),
        }
    )
