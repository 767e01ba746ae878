"""A run's stages as lake transactions: each commits whole, or records the run as failed; and
when another writer (a run on another machine, on a shared catalog) commits first, the stage is
done again over what that writer committed, with one line saying so.

DuckLake decides who wins: every write transaction rewrites the lake's writer row (see
`warehouse.lake.Lake.begin`), so of two that overlap in time the second to commit conflicts.
Nothing of the losing attempt is visible; it is done again until it commits, or until
ARXIV_DIGESTS_LOCK_TIMEOUT_SECONDS have passed. Plain functions: the flows (`flows.pipeline.ingest`)
call them and give them their log line writer."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flows.pipeline.run_stats import RunStats
from flows.settings import Settings
from warehouse.lake import Lake
from warehouse.store import WriteConflict
from warehouse.writes import commit_run


@dataclass(frozen=True)
class Shell:
    """What the Prefect layer lends the stages: its log line, and the commit (a task there,
    so each commit shows in Prefect; plain `commit_run` in tests)."""

    warn: Callable[[str], None]
    commit: Callable[[Lake, dict[str, Any], str], bool] = commit_run


def record_failure(lake: Lake, stats: RunStats, exc: BaseException, shell: Shell) -> None:
    """Record a failed stage: the stage's rows are gone (nothing of it was kept); an enrich
    stage's loss leaves the run's load committed."""
    lake.rollback()
    stats.status = "failed"
    stats.message = f"{type(exc).__name__}: {exc}"[:1000]
    stats.ended_at = datetime.now(UTC)
    stats.api_requests = stats.papers_enriched = 0
    for _ in range(10):  # another writer may commit first here too
        lake.begin()
        if shell.commit(lake, stats.row(), f"run {stats.run_id}: failed"):
            return
        time.sleep(random.uniform(0.05, 0.5))


# The stages committed by the runs of this process, by run id: what a command whose Prefect
# API died mid-run reports (`flows.cli.runner`).
COMMITTED: dict[str, list[str]] = {}


def committed(
    lake: Lake,
    stats: RunStats,
    stage: str,
    work: Callable[[], None],
    settings: Settings,
    shell: Shell,
    undone: Callable[[], None] = lambda: None,
) -> None:
    """Do `work` (which adds to `stats`) in one lake transaction and commit it as the run's
    `stage`. A failure: `undone` forgets the stage's counts, the run is recorded as failed
    and the error raised. A conflict: the stage is done again over what the other writer
    committed, with a line through `shell.warn`."""
    before = stats.saved()
    deadline = time.monotonic() + settings.lock_timeout_seconds
    for attempt in itertools.count(1):
        lake.begin()
        try:
            work()
            stats.ended_at = datetime.now(UTC)
            if shell.commit(lake, stats.row(), f"run {stats.run_id}: {stage}"):
                COMMITTED.setdefault(stats.run_id, []).append(stage)
                return
            if time.monotonic() >= deadline:
                raise WriteConflict(
                    f"other writers kept committing to {lake.store.location} first: gave up "
                    f"the {stage} stage after {attempt} attempts (ARXIV_DIGESTS_LOCK_TIMEOUT_"
                    "SECONDS sets how long to keep trying)"
                )
        except Exception as exc:
            # Nothing of the stage was kept: its counts go too (its problem lines stay).
            kept = (stats.problems, stats.problems_total, stats.lines)
            stats.restore(before)
            stats.problems, stats.problems_total, stats.lines = kept
            undone()
            record_failure(lake, stats, exc, shell)
            raise
        shell.warn(
            f"run {stats.run_id}: another run committed to {lake.store.location} during this "
            f"run's {stage} stage; doing it again over what that run wrote (attempt "
            f"{attempt + 1})"
        )
        stats.restore(before)
        time.sleep(random.uniform(0.05, 0.5) * min(attempt, 10))
