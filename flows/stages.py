"""A run's stages as lake transactions: each commits whole, or records the run as failed; and
when another writer (a run on another machine, on a shared catalog) commits first, the stage is
done again over what that writer committed, with one line saying so.

DuckLake decides who wins: every write transaction rewrites the lake's writer row (see
`warehouse.lake.Lake.begin`), so of two that overlap in time the second to commit conflicts.
Nothing of the losing attempt is visible; it is done again until it commits, or until
ARXIV_DIGESTS_LOCK_TIMEOUT_SECONDS have passed."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.run_stats import RunStats
from flows.settings import Settings
from schemas.tables import RUNS
from warehouse.lake import Lake, WriteConflict


def warn(line: str) -> None:
    """One line in the run's log (and on the console, at the CLI's level)."""
    get_run_logger().warning(line)


@task(name="commit", cache_policy=NO_CACHE)
def commit_task(lake: Lake, stats: RunStats, stage: str) -> bool:
    """Make the run's `stage` visible to every reader at once: its rows, and its `runs` row
    (written, or replaced by the enrich stage's figures). False: another writer committed
    first, and nothing of the stage was kept."""
    lake.execute("DELETE FROM runs WHERE run_id = ?", [stats.run_id])
    if not lake.store.catalog.shared:  # one writer at a time: a `running` row is a dead run's
        lake.execute(
            "UPDATE runs SET status = 'interrupted', message = coalesce(message, "
            "'stopped before its last stage committed') WHERE status = 'running'"
        )
    lake.insert(RUNS, pa.Table.from_pylist([stats.row()], schema=RUNS.schema))
    try:
        lake.commit(f"run {stats.run_id}: {stage}")
    except WriteConflict:
        return False
    return True


def record_failure(lake: Lake, stats: RunStats, exc: BaseException) -> None:
    """Record a failed stage: the stage's rows are gone (nothing of it was kept); an enrich
    stage's loss leaves the run's load committed."""
    lake.rollback()
    stats.status = "failed"
    stats.message = f"{type(exc).__name__}: {exc}"[:1000]
    stats.ended_at = datetime.now(UTC)
    stats.api_requests = stats.papers_enriched = 0
    for _ in range(10):  # another writer may commit first here too
        lake.begin()
        if commit_task(lake, stats, "failed"):
            return
        time.sleep(random.uniform(0.05, 0.5))


def committed(
    lake: Lake,
    stats: RunStats,
    stage: str,
    work: Callable[[], None],
    settings: Settings,
    undone: Callable[[], None] = lambda: None,
) -> None:
    """Do `work` (which adds to `stats`) in one lake transaction and commit it as the run's
    `stage`. A failure: `undone` forgets the stage's counts, the run is recorded as failed
    and the error raised. A conflict: the stage is done again over what the other writer
    committed, with a warning line."""
    before = stats.saved()
    deadline = time.monotonic() + settings.lock_timeout_seconds
    for attempt in itertools.count(1):
        lake.begin()
        try:
            work()
            stats.ended_at = datetime.now(UTC)
            if commit_task(lake, stats, stage):
                return
            if time.monotonic() >= deadline:
                raise WriteConflict(
                    f"other writers kept committing to {lake.store.location} first: gave up "
                    f"the {stage} stage after {attempt} attempts (ARXIV_DIGESTS_LOCK_TIMEOUT_"
                    "SECONDS sets how long to keep trying)"
                )
        except Exception as exc:
            undone()
            record_failure(lake, stats, exc)
            raise
        warn(
            f"run {stats.run_id}: another run committed to {lake.store.location} during this "
            f"run's {stage} stage; doing it again over what that run wrote (attempt "
            f"{attempt + 1})"
        )
        stats.restore(before)
        time.sleep(random.uniform(0.05, 0.5) * min(attempt, 10))
