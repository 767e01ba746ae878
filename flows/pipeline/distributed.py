"""The parse stage on a Dask cluster, through the flow's Dask task runner (prefect-dask).

With `ARXIV_DIGESTS_DASK_ADDRESS` set, the ingest flow runs with a `DaskTaskRunner` on that
scheduler: each batch of files is one parse task on a worker (which reads the files by path),
a bounded number of them in flight, their Arrow batches taken back in order. Everything else,
validation, the lake's transaction and its writes, stays in the flow's process. Unset, the
flow parses on this machine's processes as before."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from flows.digests.discover import Source
from flows.digests.parsed import ParsedBatch
from flows.settings import Settings

F = TypeVar("F")
IN_FLIGHT = 4  # batches submitted ahead: what the flow may hold, and what keeps workers busy
# On this machine one batch parses while the one before it loads: the load is the writer's
# one thread, the parse the pool's processes, and a third batch held would only cost memory.
LOCAL_AHEAD = 1


def unreachable_scheduler(address: str, timeout: float = 5.0) -> str | None:
    """Why the Dask scheduler at `address` cannot be reached, or None. Asked before a run
    starts: a scheduler that is not there is not waited for, nor blamed on the warehouse."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=timeout):
            return None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return (
            f"the Dask scheduler at {address} (ARXIV_DIGESTS_DASK_ADDRESS) cannot be reached "
            f"({reason}): start it, or unset the setting to parse on this machine"
        )


def with_task_runner(flow: F, settings: Settings) -> F:
    """`flow` on the Dask scheduler the settings name, or unchanged when they name none."""
    if not settings.dask_address:
        return flow
    from prefect_dask.task_runners import DaskTaskRunner

    runner = DaskTaskRunner(address=settings.dask_address)
    return flow.with_options(task_runner=runner)  # type: ignore[attr-defined, no-any-return]


def in_order(
    submit: Callable[[list[Source]], Any],
    chunks: list[tuple[int, list[Source]]],
    ahead: int = IN_FLIGHT,
) -> Iterator[tuple[int, ParsedBatch]]:
    """Each chunk's parsed batch, in chunk order; `ahead` chunks are parsing while the caller
    works on the batch before them (the next one is submitted once the one yielded is back)."""
    pending: deque[tuple[int, Any]] = deque()
    for done, chunk in chunks:
        ready = None
        if len(pending) >= ahead:
            done_first, future = pending.popleft()
            ready = (done_first, future.result())
        pending.append((done, submit(chunk)))
        if ready is not None:
            yield ready
    while pending:
        done_first, future = pending.popleft()
        yield done_first, future.result()


def _keep(table: pa.Table, known: set[str]) -> pa.Table:
    if not known or not table.num_rows:
        return table
    seen = pc.is_in(table.column("digest_id"), value_set=pa.array(list(known), pa.string()))
    return table.filter(pc.invert(pc.fill_null(seen, False)))


def drop_known(parsed: ParsedBatch, known: set[str]) -> ParsedBatch:
    """A batch parsed beside others: content that an earlier batch of the run loaded is
    skipped here, as the flow's own parse would have skipped it."""
    ids = set(parsed.digests.column("digest_id").to_pylist()) & known
    if not ids:
        return parsed
    digests = _keep(parsed.digests, ids)
    again = parsed.digests.num_rows - digests.num_rows
    dropped = parsed.digests.filter(
        pc.is_in(parsed.digests.column("digest_id"), value_set=pa.array(list(ids)))
    )
    paths = set(dropped.column("source_path").to_pylist())
    return dataclasses.replace(
        parsed,
        digests=digests,
        entries=_keep(parsed.entries, ids),
        bad_entries=_keep(parsed.bad_entries, ids),
        raw=_keep(parsed.raw, ids),
        rejects=[r for r in parsed.rejects if r["digest_id"] not in ids],
        problems=[p for p in parsed.problems if p.path not in paths],
        files_new=parsed.files_new - again,
        files_skipped=parsed.files_skipped + again,
        entries_seen=parsed.entries_seen - sum(dropped.column("entry_count").to_pylist()),
    )
